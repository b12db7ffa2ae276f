"""The Telegram channel's probe (channel health, billing_core/health): aiogram's `getMe` with
the bot's token, at the configured Bot API. Ok when the API answers with our bot; failing
when it refuses the token or does not answer in time. The demo's offline bot is offline."""

from __future__ import annotations

import asyncio
import time

from aiogram.exceptions import AiogramError, TelegramUnauthorizedError

from billing_core.health.model import Probe, ProbeResult, ProbeStatus
from billing_core.settings import Settings
from bot.telegram import make_bot

CHANNEL = "telegram"


class TelegramProbe:
    """`getMe` through a Bot of its own, made and closed in each call (the scheduler's thread
    runs the call in an event loop of its own)."""

    channel = CHANNEL
    provider = "telegram"

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"TelegramProbe(api_base={self.settings.telegram_api_base!r})"

    def __call__(self) -> ProbeResult:
        started = time.perf_counter()
        status, detail = asyncio.run(self._ask())
        elapsed = (time.perf_counter() - started) * 1000
        return ProbeResult(self.channel, self.provider, status, elapsed, detail[:300])

    async def _ask(self) -> tuple[ProbeStatus, str]:
        bot = make_bot(self.settings)
        try:
            me = await asyncio.wait_for(bot.get_me(), self.timeout)
        except TelegramUnauthorizedError as exc:
            return ProbeStatus.failing, f"token refused: {exc.message}"
        except AiogramError as exc:
            return ProbeStatus.failing, f"{type(exc).__name__}: {exc}"
        except (TimeoutError, OSError) as exc:
            return ProbeStatus.failing, f"no answer: {type(exc).__name__} {exc}".strip()
        finally:
            await bot.session.close()
        if not me.is_bot:
            return ProbeStatus.failing, f"getMe answered a user, not a bot ({me.id})"
        return ProbeStatus.ok, f"@{me.username or me.id}"


class OfflineTelegramProbe:
    """The demo's offline bot: messages go to the offline transport, nothing to ask."""

    channel = CHANNEL
    provider = "offline"

    def __call__(self) -> ProbeResult:
        detail = "the demo's offline bot: messages go to the offline transport"
        return ProbeResult(self.channel, self.provider, ProbeStatus.offline, None, detail)


def telegram_probe(settings: Settings, *, timeout: float = 10.0) -> Probe | None:
    """The bot's probe when a token is set (None: the channel is off, nothing to probe)."""
    if not settings.telegram_enabled:
        return None
    if settings.telegram_offline:
        return OfflineTelegramProbe()
    return TelegramProbe(settings, timeout=timeout)
