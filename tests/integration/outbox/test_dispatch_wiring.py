"""The dispatcher the server and `wattdesk dispatch` build from the settings: SMS always,
Telegram beside it only with a bot token, each at its own rate, and the channels the
deployment delivers (what the fallback moves messages away from) from the settings."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine

from api.cli.dispatch_cmd import build_dispatcher
from bench.fakes.telegram_api import TOKEN
from billing_core.clock import FixedClock
from billing_core.settings import Settings
from bot.chart import render_chart
from bot.transport import OfflineTelegramTransport, TelegramTransport


def draw(chart: dict[str, Any]) -> bytes:
    return b"\x89PNG"


def test_without_a_token_only_sms_is_delivered(settings: Settings, clock: FixedClock) -> None:
    dispatcher = build_dispatcher(settings, create_engine("sqlite://"), clock)
    assert set(dispatcher.transports) == {"sms"}
    assert dispatcher.deliverable == {"sms"}  # Telegram's messages go by the next channel
    assert dispatcher.spacing == {}


def test_with_a_token_telegram_goes_beside_sms_at_its_own_rate(
    settings: Settings, clock: FixedClock
) -> None:
    config = settings.model_copy(
        update={"telegram_bot_token": SecretStr(TOKEN), "telegram_rate_per_second": 25.0}
    )
    dispatcher = build_dispatcher(config, create_engine("sqlite://"), clock, render_chart=draw)
    telegram = dispatcher.transports["telegram"]
    assert isinstance(telegram, TelegramTransport) and telegram.render_chart is draw
    assert TOKEN not in repr(telegram)
    assert dispatcher.deliverable == {"sms", "telegram"}
    assert dispatcher.limiters["telegram"].interval == 1 / 25
    assert dispatcher.limiters["sms"].interval == 1 / config.sms_rate_per_second
    assert dispatcher.spacing == {"telegram": 1.0}
    dispatcher.stop()


def test_the_server_s_telegram_transport_draws_the_usage_chart(
    settings: Settings, clock: FixedClock
) -> None:
    """Built as the server builds it (no renderer handed in): the chart is drawn, not dropped
    for its caption alone."""
    config = settings.model_copy(update={"telegram_bot_token": SecretStr(TOKEN)})
    dispatcher = build_dispatcher(config, create_engine("sqlite://"), clock)
    telegram = dispatcher.transports["telegram"]
    assert isinstance(telegram, TelegramTransport) and telegram.render_chart is render_chart
    dispatcher.stop()


def test_the_demo_s_offline_bot_delivers_to_the_offline_transport(
    settings: Settings, clock: FixedClock
) -> None:
    """`wattdesk demo` without a bot token: Telegram's messages count as delivered offline,
    as SMS's do without Twilio, instead of waiting for a bot that does not exist."""
    config = settings.with_offline_telegram()
    assert config.telegram_enabled and config.telegram_offline
    dispatcher = build_dispatcher(config, create_engine("sqlite://"), clock)
    assert isinstance(dispatcher.transports["telegram"], OfflineTelegramTransport)
    dispatcher.stop()
    production = config.model_copy(update={"env": "production"})
    assert any("offline bot" in problem for problem in production.telegram_problems())
