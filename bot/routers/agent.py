"""Asking for a person: the same queue as SMS."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.render import Answer


async def agent(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("AGENT")


async def pressed(query: CallbackQuery, asking: Asking) -> Answer | None:
    return await asking.command("AGENT")


def router() -> Router:
    """The agent handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="agent")
    routes.message.register(agent, Command("agent"))
    routes.callback_query.register(pressed, Press.filter(F.word == "AGENT"))
    return routes
