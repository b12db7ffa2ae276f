"""Usage (a chart, sent as a photo through the outbox, and a short text now) and the bill
history."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.render import Answer


async def usage(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("USAGE")


async def history(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("HISTORY")


async def pressed(query: CallbackQuery, callback_data: Press, asking: Asking) -> Answer | None:
    return await asking.command(callback_data.command)


def router() -> Router:
    """The usage handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="usage")
    routes.message.register(usage, Command("usage"))
    routes.message.register(history, Command("history"))
    routes.callback_query.register(pressed, Press.filter(F.word.in_({"USAGE", "HISTORY"})))
    return routes
