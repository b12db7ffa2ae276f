"""Everything else: text goes to the same recogniser as an SMS (a LINK, a code, a reading,
"电费多少"); a button the routers above do not know (an old message's, or forged data) gets
the menu; other messages (stickers, photos) are not answered."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.desk import Asking
from bot.filters import has_text
from bot.render import Answer


async def text(message: Message, asking: Asking) -> Answer | None:
    return await asking.text(message.text or "")


async def unknown_button(query: CallbackQuery, asking: Asking) -> Answer | None:
    return await asking.command("MENU")


def router() -> Router:
    """The free text handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="free_text")
    routes.message.register(text, has_text)
    routes.callback_query.register(unknown_button)
    return routes
