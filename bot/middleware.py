"""The middleware that gives every handler what it needs: an `Asking` for the update (its
sender, chat and the app's parts). Only private chats are served: a chat is linked through its
user, and a group must never see a member's bill, so any other update reaches no handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, Update, User

from bot.desk import Asking, Desk

log = logging.getLogger("wattdesk.bot")


class DeskMiddleware(BaseMiddleware):
    """An outer middleware of the update: after aiogram's own, which finds the sender and
    the chat (`event_from_user`, `event_chat`)."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        if not isinstance(event, Update) or user is None or chat is None:
            return None
        if chat.type != ChatType.PRIVATE or user.is_bot:
            log.info("telegram update %s from a %s chat: not served", event.update_id, chat.type)
            return None
        data["asking"] = Asking(self.desk, event.update_id, user.id, chat.id)
        return await handler(event, data)
