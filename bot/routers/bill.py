"""My bill and pay: the amounts, and the pay link as a URL button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.render import Answer


async def bill(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("BILL")


async def pay(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("PAY")


async def pressed(query: CallbackQuery, callback_data: Press, asking: Asking) -> Answer | None:
    return await asking.command(callback_data.command)


def router() -> Router:
    """The bill handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="bill")
    routes.message.register(bill, Command("bill"))
    routes.message.register(pay, Command("pay"))
    routes.callback_query.register(pressed, Press.filter(F.word.in_({"BILL", "PAY"})))
    return routes
