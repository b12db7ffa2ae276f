"""Filters as coroutines. aiogram runs a filter that is not a coroutine (a magic filter such as
F.text) in a worker thread, a thread hop per update; these cost a function call."""

from __future__ import annotations

from aiogram.types import Message


async def has_contact(message: Message) -> bool:
    return message.contact is not None


async def has_text(message: Message) -> bool:
    return message.text is not None
