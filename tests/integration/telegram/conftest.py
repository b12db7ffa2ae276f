"""The fake Telegram Bot API on loopback, and the real transport (aiogram) pointed at it; the
fake Twilio API for the SMS a message falls back to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bench.fakes.telegram_api import TOKEN, FakeTelegramApi
from bot.transport import TelegramTransport
from tests.integration.outbox.helpers import fake_twilio, twilio

__all__ = ["fake_telegram", "fake_twilio", "telegram", "twilio"]


def draw(chart: dict[str, Any]) -> bytes:
    """A stand-in for the usage chart's renderer: bytes that name what was asked for."""
    return b"\x89PNG\r\n\x1a\n" + json.dumps(chart, sort_keys=True).encode()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegramApi]:
    fake = FakeTelegramApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram(fake_telegram: FakeTelegramApi) -> Iterator[TelegramTransport]:
    transport = TelegramTransport(token=TOKEN, api_base=fake_telegram.url, render_chart=draw)
    yield transport
    transport.close()
