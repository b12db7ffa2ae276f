"""The menu: /menu, /help, its button, and choosing the account the chat works on."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.render import Answer


async def menu(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("MENU")


async def menu_pressed(query: CallbackQuery, asking: Asking) -> Answer | None:
    return await asking.command("MENU")


async def account_pressed(
    query: CallbackQuery, callback_data: Press, asking: Asking
) -> Answer | None:
    return await asking.command(callback_data.command)


def router() -> Router:
    """The menu handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="menu")
    routes.message.register(menu, Command("menu", "help"))
    routes.callback_query.register(menu_pressed, Press.filter(F.word.in_({"MENU", "HELP"})))
    routes.callback_query.register(account_pressed, Press.filter(F.word == "ACCOUNT"))
    return routes
