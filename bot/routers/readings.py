"""Submitting a meter reading: the button says how; the reading itself is a text message
("读数 12345", "READING 12345"), recognised and stored as on SMS (free_text.py)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.render import Answer


async def reading(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("READ")


async def pressed(query: CallbackQuery, asking: Asking) -> Answer | None:
    return await asking.command("READ")


def router() -> Router:
    """The readings handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="readings")
    routes.message.register(reading, Command("reading"))
    routes.callback_query.register(pressed, Press.filter(F.word == "READ"))
    return routes
