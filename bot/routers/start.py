"""/start, linking by a shared contact, /unlink."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.callbacks import Press
from bot.desk import Asking
from bot.filters import has_contact
from bot.render import Answer


async def start(message: Message, asking: Asking) -> Answer | None:
    """Linked: the menu. Not linked: the welcome, with the button that shares the phone."""
    return await asking.command("WELCOME")


async def contact(message: Message, asking: Asking) -> Answer | None:
    """A contact links the chat only when it is the sender's own: Telegram sets its user id
    to the sender's when it comes from the share-my-phone button; a contact picked from the
    address book is someone else's (or has no user id)."""
    shared = message.contact
    assert shared is not None  # the filter
    own = message.from_user is not None and shared.user_id == message.from_user.id
    return await asking.contact(shared.phone_number, own=own)


async def unlink(message: Message, asking: Asking) -> Answer | None:
    return await asking.command("UNLINK")


async def unlink_pressed(query: CallbackQuery, asking: Asking) -> Answer | None:
    return await asking.command("UNLINK")


def router() -> Router:
    """The start handlers, on a router of their own (a router belongs to one
    dispatcher: each app makes its own)."""
    routes = Router(name="start")
    routes.message.register(start, CommandStart())
    routes.message.register(contact, has_contact)
    routes.message.register(unlink, Command("unlink"))
    routes.callback_query.register(unlink_pressed, Press.filter(F.word == "UNLINK"))
    return routes
