"""Telegram allows about one message a second to one chat: the dispatcher, sending through
the real transport to the fake Bot API, never sends two to one chat closer than that (the
fake's own clock measures it), and other chats' messages go meanwhile."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import col, select

from bench.fakes.telegram_api import FakeTelegramApi
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.outbox.service import REPLY, Recipient, enqueue_message
from billing_core.outbox.tables import OutboxMessage
from bot.transport import TelegramTransport
from scheduler.dispatcher import Dispatcher
from tests.integration.outbox.helpers import SHANGHAI


def test_two_messages_to_one_chat_are_at_least_a_second_apart(
    fresh_engine: Engine,
    clock: FixedClock,
    telegram: TelegramTransport,
    fake_telegram: FakeTelegramApi,
) -> None:
    with session_scope(fresh_engine) as session:
        for key, chat in (("first", "800001"), ("second", "800001"), ("other", "800002")):
            enqueue_message(
                session=session, clock=clock, dedupe_key=f"spacing:{key}",
                recipient=Recipient("telegram", chat), template="reply", language="en",
                body=f"message {key}", kind=REPLY,
            )  # fmt: skip
    dispatcher = Dispatcher(
        engine=fresh_engine, clock=clock, transports=[telegram], tz=SHANGHAI,
        rate_per_second=None,
    )  # fmt: skip
    report = dispatcher.drain()
    assert report.results == {"delivered": 3}
    sent = fake_telegram.sent()
    # the other chat did not wait behind the first chat's second message
    assert [(c.chat_id, c.params["text"]) for c in sent] == [
        ("800001", "message first"),
        ("800002", "message other"),
        ("800001", "message second"),
    ]
    assert sent[2].at - sent[0].at >= 1.0
    assert fake_telegram.stats()["chat_gaps_under_1s"] == 0
    with session_scope(fresh_engine) as session:
        statuses = session.exec(select(col(OutboxMessage.status))).all()
    assert statuses == ["delivered"] * 3
