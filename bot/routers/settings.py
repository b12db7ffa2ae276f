"""Notification settings (each channel's notices on or off, their hours) and the language."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.render import Answer


async def settings(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("SETTINGS")


async def language(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("LANG")


async def pressed(query: CallbackQuery, callback_data: Press, asking: Asking) -> Answer | None:
    return await asking.command(callback_data.command)


def router() -> Router:
    """The settings handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="settings")
    routes.message.register(settings, Command("settings"))
    routes.message.register(language, Command("lang", "language"))
    words = {"SETTINGS", "NOTIFY", "HOURS", "LANG"}
    routes.callback_query.register(pressed, Press.filter(F.word.in_(words)))
    return routes
