"""The bot: aiogram's Bot (pointed at WATTDESK_TELEGRAM_API_BASE) and a Dispatcher with the
routers and the middleware, built once from the app's container. `handle` answers an update
with the message to send (`render.Answer`: the webhook's response, or the Bot's call when
polling)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.dispatcher.middlewares.error import ErrorsMiddleware
from aiogram.types import Update

from billing_core.app_services import Services
from billing_core.clock import Clock
from billing_core.conversations.service import ConversationContext
from billing_core.db.unit_of_work import UnitOfWorkRunner
from billing_core.settings import Settings
from bot.desk import Desk
from bot.middleware import DeskMiddleware
from bot.render import Answer
from bot.routers import routers

log = logging.getLogger("wattdesk.bot")

# The update types the handlers serve: what set-webhook and polling ask Telegram for.
ALLOWED_UPDATES = ["message", "callback_query"]


def make_bot(settings: Settings) -> Bot:
    """aiogram's Bot for the configured token, its requests sent to the configured Bot API
    (Telegram's, a local Bot API server, or a loopback fake in tests)."""
    api = TelegramAPIServer.from_base(settings.telegram_api_base.rstrip("/"))
    return Bot(settings.telegram_bot_token.get_secret_value(), session=AiohttpSession(api=api))


def make_dispatcher(desk: Desk) -> Dispatcher:
    # No FSM: a conversation's state is the conversation layer's, kept in the database.
    dispatcher = Dispatcher(disable_fsm=True)
    dispatcher.update.outer_middleware(DeskMiddleware(desk))
    dispatcher.include_routers(*routers())
    _without_idle_error_middleware(dispatcher)
    return dispatcher


def _without_idle_error_middleware(dispatcher: Dispatcher) -> None:
    """aiogram's ErrorsMiddleware hands a handler's exception to the routers' error handlers
    and raises it again when none takes it. No router has one (the webhook logs what
    escapes, and Telegram is answered 200 anyway), so it only wrapped every update in one
    more layer: taken out while no router registers an error handler."""
    if any(router.errors.handlers for router in dispatcher.chain_tail):
        return
    manager = dispatcher.update.outer_middleware
    for middleware in [m for m in manager if isinstance(m, ErrorsMiddleware)]:
        manager.unregister(middleware)


class TelegramBot:
    """The bot's long-lived parts. A callback button shows a spinner until its query is
    answered; the inline response carries the reply, so the query is answered by a second,
    best-effort call in the background (its failure changes nothing the customer is told)."""

    def __init__(self, bot: Bot, dispatcher: Dispatcher, secret: str) -> None:
        self.bot = bot
        self.dispatcher = dispatcher
        self.secret = secret
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def for_services(cls, services: Services) -> TelegramBot:
        return cls.build(
            services.settings, units=services.units, clock=services.clock,
            context=services.conversation_context,
        )  # fmt: skip

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        units: UnitOfWorkRunner,
        clock: Clock,
        context: ConversationContext,
    ) -> TelegramBot:
        desk = Desk(units=units, clock=clock, context=context, tariff_dir=settings.tariff_dir)
        return cls(
            make_bot(settings), make_dispatcher(desk),
            settings.telegram_webhook_secret.get_secret_value(),
        )  # fmt: skip

    def parse(self, data: dict[str, Any]) -> Update:
        """The update, bound to the Bot (shortcuts like `message.answer` need it); raises
        pydantic's ValidationError for what is not an update."""
        return Update.model_validate(data, context={"bot": self.bot})

    async def handle(self, update: Update) -> Answer | None:
        result = await self.dispatcher.feed_update(self.bot, update)
        if update.callback_query is not None:
            self._answer_callback(update.callback_query.id)
        return result if isinstance(result, Answer) else None

    def _answer_callback(self, query_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._answer_quietly(query_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer_quietly(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except Exception as exc:  # best effort: the reply went inline
            log.debug("telegram answerCallbackQuery %s failed: %s", query_id, exc)

    async def aclose(self) -> None:
        for task in list(self._background):
            task.cancel()
        await self.bot.session.close()
