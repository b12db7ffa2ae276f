"""Long polling, for development (a machine Telegram cannot reach): the bot asks Telegram for
updates (getUpdates) instead of Telegram posting them to the webhook. Each update gets the same
handling as the webhook's; the answer, which has no request to ride back on, is sent with the
Bot. One update at a time: a development bot's load."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)

from bot.telegram import ALLOWED_UPDATES, TelegramBot

log = logging.getLogger("wattdesk.bot.polling")

POLL_SECONDS = 25  # how long Telegram holds a getUpdates open when nothing comes
MAX_BACKOFF = 30.0


async def set_webhook(telegram: TelegramBot, url: str) -> bool:
    """Register the webhook with the secret token and the update types the bot serves."""
    return await telegram.bot.set_webhook(
        url=url, secret_token=telegram.secret or None, allowed_updates=ALLOWED_UPDATES
    )


async def poll(
    telegram: TelegramBot,
    *,
    stop: asyncio.Event | None = None,
    max_updates: int | None = None,
    timeout: int = POLL_SECONDS,
) -> int:
    """Handle updates until `stop` is set (or `max_updates` were handled); returns how many.
    A webhook set earlier is removed first (Telegram refuses getUpdates while one is set);
    updates already waiting are kept. A failed getUpdates is tried again after a growing
    pause; a wrong token stops at once."""
    bot = telegram.bot
    stop = stop or asyncio.Event()
    await bot.delete_webhook(drop_pending_updates=False)
    offset: int | None = None
    handled, backoff = 0, 1.0
    while not stop.is_set() and (max_updates is None or handled < max_updates):
        try:
            updates = await bot.get_updates(
                offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES
            )
        except TelegramUnauthorizedError:
            raise
        except TelegramRetryAfter as exc:
            await _pause(stop, float(exc.retry_after))
            continue
        except TelegramAPIError as exc:
            log.warning("telegram getUpdates failed (%s); again in %.0f s", exc, backoff)
            await _pause(stop, backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 1.0
        for update in updates:
            offset = update.update_id + 1  # confirmed with the next getUpdates
            answer = await telegram.handle(update)
            if answer is not None:
                try:
                    await bot(answer.method())
                except (TelegramAPIError, ClientDecodeError) as exc:  # stored; chat gone?
                    log.warning("telegram update %s: the answer was not sent: %s",
                                update.update_id, exc)  # fmt: skip
            handled += 1
            if max_updates is not None and handled >= max_updates:
                break
    if offset is not None:  # confirm the last ones, so a restart does not see them again
        await bot.get_updates(offset=offset, timeout=0, limit=1)
    return handled


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
