"""Outbound Telegram for the outbox dispatcher, through aiogram's real `Bot`.

The dispatcher's sender threads call `send` synchronously; the bot lives on one event loop in
a background thread of its own, shared by all of them (one aiohttp connection pool, no loop
per thread), and `send` waits for its answer. A message's text goes as `sendMessage`, with
the payload's buttons as an inline keyboard; with a chart in the payload and a renderer, as
`sendPhoto` with the text as the caption. The chart is drawn in the sender's thread, never on
the shared loop.

Telegram's answers, in the dispatcher's terms:
- accepted: `delivered` (the message is in the chat; Telegram sends no receipts), with the
  provider id `<chat>:<message id>`;
- 429: transient, not retried before its `retry_after`;
- 403 (the user blocked the bot, or never started it) and 400 "chat not found": the chat is
  unreachable, so the contact is marked and the message goes by the customer's next channel;
- 5xx, the network, a timeout, and a refused token (an operator fixes it; the messages wait
  with backoff): transient;
- any other 4xx (a malformed message): permanent."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)
from pydantic import ValidationError

from billing_core.outbox.transport import Claimed, Outcome, SendResult

log = logging.getLogger("wattdesk.bot.transport")

TELEGRAM_API_BASE = "https://api.telegram.org"
CHAT_INTERVAL = 1.0  # Telegram: about one message a second to one chat
CAPTION_LIMIT = 1024  # a photo's caption, in characters
CHART_FILE = "usage.png"

# Turns the payload's "chart" object into PNG bytes (bot/chart.py; wired by the composition
# root). Without one, a message with a chart goes as its text alone.
ChartRenderer = Callable[[dict[str, Any]], bytes]


class TelegramTransport:
    """Sends outbox messages as the bot. Safe to share between threads; `close()` ends the
    background loop (a later `send` starts a new one)."""

    channel = "telegram"
    recipient_interval = CHAT_INTERVAL
    # Telegram counts messages in any one second: a sender that fell behind does not catch
    # up in a burst, it goes on at the rate.
    rate_burst = 0.0

    def __init__(
        self,
        *,
        token: str,
        api_base: str = TELEGRAM_API_BASE,
        render_chart: ChartRenderer | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not token:
            raise ValueError("Telegram needs a bot token")
        self._token = token
        self.api_base = api_base
        self.render_chart = render_chart
        self.timeout = timeout
        # What Telegram rate-limits: the bot, named by its id (the token's public half).
        self.sender = "bot" + token.split(":", 1)[0]
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._bot: Bot | None = None

    def __repr__(self) -> str:  # never the token
        return f"TelegramTransport(sender={self.sender!r}, api_base={self.api_base!r})"

    # --- sending -------------------------------------------------------------------------

    def send(self, message: Claimed) -> SendResult:
        payload = _payload(message)
        keyboard = _keyboard(payload.get("buttons"), message.id)
        photo = self._chart(payload.get("chart"), message)
        loop, bot = self._running()
        future = asyncio.run_coroutine_threadsafe(
            _send(bot, _chat_id(message.recipient), message.body, keyboard, photo), loop
        )
        try:
            return future.result(timeout=self.timeout + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()  # Telegram may have taken it: retried, at least once
            return SendResult(Outcome.transient, error_code="timeout", detail="no answer in time")

    def _chart(self, chart: Any, message: Claimed) -> bytes | None:
        if not isinstance(chart, dict) or self.render_chart is None:
            return None
        if len(message.body) > CAPTION_LIMIT:
            log.warning("message %d: too long for a caption; sent without its chart", message.id)
            return None
        try:
            return self.render_chart(chart)
        except Exception:  # a chart that cannot be drawn must not hold the message back
            log.exception("message %d: the chart could not be drawn; sent as text", message.id)
            return None

    # --- the background loop -------------------------------------------------------------

    def _running(self) -> tuple[asyncio.AbstractEventLoop, Bot]:
        with self._lock:
            if self._loop is None or self._bot is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="telegram-transport", daemon=True
                )
                thread.start()
                session = AiohttpSession(
                    api=TelegramAPIServer.from_base(self.api_base), timeout=self.timeout
                )
                self._loop, self._thread = loop, thread
                self._bot = Bot(self._token, session=session)
            return self._loop, self._bot

    def close(self) -> None:
        """Close the bot's connections and stop its loop."""
        with self._lock:
            loop, thread, bot = self._loop, self._thread, self._bot
            self._loop = self._thread = self._bot = None
        if loop is None or bot is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(bot.session.close(), loop).result(timeout=5)
        except Exception:  # closing is best effort: the process may be going anyway
            log.warning("the Telegram session did not close cleanly", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
        if not loop.is_running():
            loop.close()


async def _send(
    bot: Bot, chat_id: int | str, text: str, keyboard: InlineKeyboardMarkup | None,
    photo: bytes | None,
) -> SendResult:  # fmt: skip
    try:
        sent: Message
        if photo is not None:
            sent = await bot.send_photo(
                chat_id, BufferedInputFile(photo, CHART_FILE), caption=text, reply_markup=keyboard
            )
        else:
            sent = await bot.send_message(
                chat_id, text, reply_markup=keyboard,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )  # fmt: skip
    except TelegramRetryAfter as exc:
        return SendResult(
            Outcome.transient, error_code="429", detail=exc.message[:400],
            retry_after=float(exc.retry_after),
        )  # fmt: skip
    except TelegramForbiddenError as exc:
        return SendResult(Outcome.unreachable, error_code="403", detail=exc.message[:400])
    except TelegramBadRequest as exc:
        if "chat not found" in exc.message.lower():
            return SendResult(Outcome.unreachable, error_code="400", detail=exc.message[:400])
        return SendResult(Outcome.permanent, error_code="400", detail=exc.message[:400])
    except TelegramUnauthorizedError as exc:
        log.error("Telegram refused the bot token: check WATTDESK_TELEGRAM_BOT_TOKEN")
        return SendResult(Outcome.transient, error_code="401", detail=exc.message[:400])
    except TelegramServerError as exc:
        return SendResult(Outcome.transient, error_code="5xx", detail=exc.message[:400])
    except TelegramNetworkError as exc:
        return SendResult(Outcome.transient, error_code="network", detail=exc.message[:400])
    except TelegramAPIError as exc:  # 404, 409, 413, a group moved: the message will not go
        return SendResult(Outcome.permanent, error_code="api", detail=str(exc)[:400])
    except (TimeoutError, OSError) as exc:
        return SendResult(Outcome.transient, error_code="network", detail=repr(exc)[:400])
    return SendResult(Outcome.delivered, provider_id=f"{sent.chat.id}:{sent.message_id}")


def _chat_id(recipient: str) -> int | str:
    """A Telegram chat id is a number; a public channel's `@name` stays a string."""
    try:
        return int(recipient)
    except ValueError:
        return recipient


def _payload(message: Claimed) -> dict[str, Any]:
    """The row's JSON payload ({} when none, or not a JSON object: the text still goes)."""
    if not message.payload:
        return {}
    try:
        payload = json.loads(message.payload)
    except ValueError:
        log.warning("message %d: its payload is not JSON; sent as text", message.id)
        return {}
    return payload if isinstance(payload, dict) else {}


def _keyboard(rows: Any, message_id: int) -> InlineKeyboardMarkup | None:
    """The payload's `buttons` (rows of {"text", "url" | "callback_data"}) as an inline
    keyboard; None when there are none or they are malformed (the text still goes)."""
    if not rows:
        return None
    try:
        return InlineKeyboardMarkup(
            inline_keyboard=[[_button(button) for button in row] for row in rows]
        )
    except (TypeError, ValidationError):
        log.warning("message %d: malformed buttons in its payload; sent without", message_id)
        return None


def _button(button: Any) -> InlineKeyboardButton:
    """A URL button (a pay link) or a callback button (a menu choice); nothing else."""
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise TypeError("a button is an object with a text")
    if isinstance(button.get("url"), str):
        return InlineKeyboardButton(text=button["text"], url=button["url"])
    if isinstance(button.get("callback_data"), str):
        return InlineKeyboardButton(text=button["text"], callback_data=button["callback_data"])
    raise TypeError("a button has a url or callback_data")


class OfflineTelegramTransport:
    """The demo's bot (no real token): every message counts as delivered at once, with a
    provider id `offline-tg-…`, as SMS's offline transport does; the simulator shows it."""

    channel = "telegram"
    sender = "offline-bot"
    recipient_interval = 0.0  # nothing to rate-limit: no provider

    def send(self, message: Claimed) -> SendResult:
        log.debug("offline Telegram message %d", message.id)
        return SendResult(Outcome.delivered, provider_id=f"offline-tg-{uuid.uuid4().hex}")
