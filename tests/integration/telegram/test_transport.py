"""The Telegram transport on SQLite and PostgreSQL: the real aiogram client sends to a fake Bot
API on loopback, and the dispatcher's bookkeeping records what Telegram answered: the keyboard
and the chart arrive, 429's `retry_after` is honoured, a blocked bot (403) or a missing chat
makes the contact unreachable and the same notice goes by SMS, 5xx is retried later."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from bench.fakes.telegram_api import TOKEN, FakeTelegramApi
from bench.fakes.twilio_api import FakeTwilioApi
from billing_core.clock import FixedClock
from billing_core.customers.tables import Contact, Customer
from billing_core.messages.segments import count_segments
from billing_core.outbox.claims import claim_batch
from billing_core.outbox.dispatch import record_result
from billing_core.outbox.retry import RetryPolicy
from billing_core.outbox.service import (
    AUTOMATED,
    REPLY,
    Recipient,
    enqueue_message,
    reachable_contact,
)
from billing_core.outbox.transport import Transport
from bot.transport import TelegramTransport
from sms.transport import TwilioTransport
from tests.factories import make_contact, make_customer
from tests.integration.outbox.helpers import SHANGHAI, row

PAY_URL = "https://desk.example.com/pay/abc123"
BUTTONS = [
    [{"text": "Pay now 立即缴费", "url": PAY_URL}],
    [{"text": "Menu", "callback_data": "menu"}],
]


def put(
    session: Session,
    clock: FixedClock,
    chat: str,
    key: str,
    *,
    payload: dict[str, Any] | None = None,
    customer_id: int | None = None,
    kind: str = REPLY,
    body: str | None = None,
    not_before: datetime | None = None,
) -> None:
    enqueue_message(
        session=session, clock=clock, dedupe_key=key, recipient=Recipient("telegram", chat),
        template="bill_notice", language="en", body=body or f"Your bill is ready ({key})",
        kind=kind, customer_id=customer_id, not_before=not_before,
        payload=json.dumps(payload) if payload is not None else None,
    )  # fmt: skip


def dispatch(session: Session, clock: FixedClock, *transports: Transport) -> list[str]:
    """One pass with these transports, as the dispatcher does it (the deployment delivers
    SMS and Telegram): each claimed message's new status."""
    by_channel = {t.channel: t for t in transports}
    claimed = claim_batch(
        session=session, clock=clock, limit=100, tz=SHANGHAI, channels=list(by_channel)
    )
    statuses = []
    for message in claimed:
        result = by_channel[message.channel].send(message)
        status = record_result(
            session=session, clock=clock, message=message, result=result, retry=RetryPolicy(),
            rand=lambda: 0.5, deliverable={"sms", "telegram"},
        )  # fmt: skip
        statuses.append(status)
    return statuses


def customer_on_both(session: Session, clock: FixedClock, chat: str) -> tuple[Customer, Contact]:
    """A customer with a verified Telegram chat and a verified SMS number."""
    customer = make_customer(session, at=clock.now())
    make_contact(session, customer=customer, at=clock.now(), channel="telegram", address=chat)
    phone = make_contact(session, customer=customer, at=clock.now())
    return customer, phone


def test_a_text_with_a_pay_button_arrives_as_send_message_with_its_keyboard(
    session: Session, clock: FixedClock, telegram: TelegramTransport, fake_telegram: FakeTelegramApi
) -> None:
    put(session, clock, "700000001", "tg:text", payload={"buttons": BUTTONS}, body="账单 ready")
    assert dispatch(session, clock, telegram) == ["delivered"]
    [call] = fake_telegram.sent("700000001")
    assert call.method == "sendMessage" and call.params["text"] == "账单 ready"
    assert call.params["reply_markup"] == {"inline_keyboard": BUTTONS}
    message = row(session, "tg:text")
    assert message.provider_id == "700000001:1" and message.attempts == 1


def test_a_chart_payload_arrives_as_send_photo_with_the_text_as_its_caption(
    session: Session, clock: FixedClock, telegram: TelegramTransport, fake_telegram: FakeTelegramApi
) -> None:
    chart = {"kind": "usage", "months": ["2026-10", "2026-11"], "kwh": [210, 245]}
    put(session, clock, "700000002", "tg:chart", payload={"chart": chart, "buttons": BUTTONS})
    assert dispatch(session, clock, telegram) == ["delivered"]
    [call] = fake_telegram.sent("700000002")
    assert call.method == "sendPhoto"
    assert call.params["caption"] == "Your bill is ready (tg:chart)"
    assert call.params["reply_markup"] == {"inline_keyboard": BUTTONS}
    upload = call.upload("photo")
    assert upload is not None
    name, png = upload
    assert name.endswith(".png") and png.startswith(b"\x89PNG")
    assert json.loads(png[8:]) == chart  # the renderer was given the payload's chart
    assert row(session, "tg:chart").provider_id == "700000002:1"


def test_without_a_renderer_a_chart_message_goes_as_its_text(
    session: Session, clock: FixedClock, fake_telegram: FakeTelegramApi
) -> None:
    transport = TelegramTransport(token=TOKEN, api_base=fake_telegram.url)
    try:
        put(session, clock, "700000003", "tg:nochart", payload={"chart": {"kwh": [1]}})
        assert dispatch(session, clock, transport) == ["delivered"]
    finally:
        transport.close()
    [call] = fake_telegram.sent("700000003")
    assert call.method == "sendMessage" and call.params["text"] == "Your bill is ready (tg:nochart)"


def test_too_many_requests_is_not_retried_before_its_retry_after(
    session: Session, clock: FixedClock, telegram: TelegramTransport, fake_telegram: FakeTelegramApi
) -> None:
    fake_telegram.fail_next("700000004", 429, retry_after=7)
    put(session, clock, "700000004", "tg:429")
    assert dispatch(session, clock, telegram) == ["pending"]
    message = row(session, "tg:429")
    assert message.error_code == "429" and "retry after 7" in message.error_detail.lower()
    assert message.next_attempt_at == clock.now() + timedelta(seconds=7)  # not the 30 s backoff
    clock.advance(timedelta(seconds=6))
    assert dispatch(session, clock, telegram) == []  # not before Telegram said
    clock.advance(timedelta(seconds=1))
    assert dispatch(session, clock, telegram) == ["delivered"]
    assert len(fake_telegram.sent("700000004")) == 1
    assert [c.status for c in fake_telegram.calls] == [429, 200]


@pytest.mark.parametrize(
    ("status", "description"),
    [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")],
)
def test_an_unreachable_chat_is_marked_and_the_same_notice_goes_by_sms(
    session: Session,
    clock: FixedClock,
    telegram: TelegramTransport,
    fake_telegram: FakeTelegramApi,
    twilio: TwilioTransport,
    fake_twilio: FakeTwilioApi,
    status: int,
    description: str,
) -> None:
    chat = f"7100{status}"
    customer, phone = customer_on_both(session, clock, chat)
    assert reachable_contact(session, customer.id or 0) == Recipient("telegram", chat)
    fake_telegram.fail_next(chat, status, description=description)
    body = "您的11月电费账单：123.45元，请于2026年12月10日前缴费。缴费链接：" + PAY_URL
    put(session, clock, chat, "tg:blocked", customer_id=customer.id, kind=AUTOMATED, body=body,
        payload={"buttons": BUTTONS})  # fmt: skip
    later = clock.now() + timedelta(hours=1)  # waiting: not claimed with the first
    put(session, clock, chat, "tg:blocked:next", customer_id=customer.id, not_before=later)

    assert dispatch(session, clock, telegram) == ["rerouted"]
    session.expire_all()
    contact = session.get(Contact, _telegram_contact_id(session, customer, chat))
    assert contact is not None and contact.unreachable_at == clock.now()
    assert contact.unreachable_reason == description
    message = row(session, "tg:blocked")
    assert (message.channel, message.recipient, message.status) == ("sms", phone.address, "pending")
    assert message.error_detail == f"sent by sms: telegram unreachable: {description}"
    assert message.segments == count_segments(body).parts == 2  # recomputed for SMS
    assert row(session, "tg:blocked:next").channel == "sms"  # the one waiting goes too
    # later notices choose the SMS number at once
    assert reachable_contact(session, customer.id or 0) == Recipient("sms", phone.address)

    assert dispatch(session, clock, twilio) == ["sent"]
    [sms] = [m for m in fake_twilio.sent_to(phone.address) if m.body == body]
    message = row(session, "tg:blocked")
    assert message.status == "sent" and message.provider_id == sms.sid
    assert message.error_detail.startswith("sent by sms: telegram unreachable")  # still says why
    assert len(fake_telegram.calls_to("sendMessage")) == 1  # Telegram was not tried again


def test_an_unreachable_chat_without_another_channel_is_undeliverable(
    session: Session, clock: FixedClock, telegram: TelegramTransport, fake_telegram: FakeTelegramApi
) -> None:
    customer = make_customer(session, at=clock.now())
    make_contact(session, customer=customer, at=clock.now(), channel="telegram", address="7200")
    make_contact(session, customer=customer, at=clock.now(), verified=False)  # not verified
    fake_telegram.block("7200")
    put(session, clock, "7200", "tg:nowhere", customer_id=customer.id)
    assert dispatch(session, clock, telegram) == ["undeliverable"]
    message = row(session, "tg:nowhere")
    assert message.status == "undeliverable" and message.channel == "telegram"
    assert message.error_detail == (
        "undeliverable: telegram unreachable: Forbidden: bot was blocked by the user; "
        "no other verified channel"
    )
    assert dispatch(session, clock, telegram) == []  # terminal: never claimed again


def test_a_server_error_is_retried_later_with_backoff(
    session: Session, clock: FixedClock, telegram: TelegramTransport, fake_telegram: FakeTelegramApi
) -> None:
    fake_telegram.fail_next("700000005", 502)
    put(session, clock, "700000005", "tg:5xx")
    assert dispatch(session, clock, telegram) == ["pending"]
    message = row(session, "tg:5xx")
    assert message.error_code == "5xx" and message.next_attempt_at == clock.now() + timedelta(
        seconds=30
    )
    assert dispatch(session, clock, telegram) == []
    clock.advance(timedelta(seconds=30))
    assert dispatch(session, clock, telegram) == ["delivered"]
    assert row(session, "tg:5xx").attempts == 2


def test_another_bad_request_fails_for_good(
    session: Session, clock: FixedClock, telegram: TelegramTransport, fake_telegram: FakeTelegramApi
) -> None:
    fake_telegram.fail_next("700000006", 400, description="Bad Request: message is too long")
    put(session, clock, "700000006", "tg:400")
    assert dispatch(session, clock, telegram) == ["failed"]
    message = row(session, "tg:400")
    assert message.error_code == "400" and "too long" in message.error_detail


def _telegram_contact_id(session: Session, customer: Customer, chat: str) -> int:
    from sqlmodel import col, select

    contact = session.exec(
        select(Contact).where(
            col(Contact.customer_id) == customer.id,
            col(Contact.channel) == "telegram",
            col(Contact.address) == chat,
        )
    ).one()
    return contact.id or 0
