"""A provider's retry of a message, on SQLite and PostgreSQL: it is answered as the first
delivery was (the stored reply, or silence), since the first response may have died with the
process after the commit; never with another turn's answer, never to another sender, and at
no extra statement on the duplicate path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from billing_core.clock import FixedClock
from billing_core.conversations.agents import return_unanswered_queue, send_agent_message, take_over
from billing_core.conversations.model import STORED, InboundMessage, Outcome
from billing_core.conversations.service import (
    ConversationContext,
    conversation_context,
    receive_message,
)
from billing_core.messages.templates import render
from billing_core.payments.service import find_pay_link
from billing_core.payments.tables import PayLink
from billing_core.settings import Settings
from billing_core.transcripts.tables import ConversationMessage
from sms.render import sms_text
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer
from tests.integration.conversations.test_repository import sqlite_statements

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
_sids = count(1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def context(settings: Settings) -> ConversationContext:
    return conversation_context(settings)


def with_bill(session: Session, phone: str, *, channel: str = "sms") -> None:
    customer = make_customer(session, at=NOW, language="en")
    account = make_account(session, customer=customer)
    make_contact(session, customer=customer, at=NOW, channel=channel, address=phone)
    bill = make_bill(session, account=account, period_start=date(2026, 10, 10),
                     period_end=date(2026, 11, 10), total=Decimal("77.70"),
                     due_date=date(2026, 12, 11), at=NOW)  # fmt: skip
    make_charge(session, bill=bill, on=date(2026, 11, 11), at=NOW)


def send(
    session: Session, clock: FixedClock, context: ConversationContext, sender: str, body: str,
    sid: str | None = None, *, channel: str = "sms", opt_out_type: str | None = None,
) -> Outcome:  # fmt: skip
    inbound = InboundMessage(channel, sender, body, sid or f"SM{next(_sids):032d}",
                             clock.now(), opt_out_type)  # fmt: skip
    return receive_message(session=session, clock=clock, context=context, inbound=inbound)


def text_of(outcome: Outcome) -> str | None:
    return sms_text(outcome.reply) if outcome.reply is not None else None


def message_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ConversationMessage)) or 0


def test_a_retried_bill_gets_the_same_words_and_a_pay_link_that_still_opens(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    phone = "+8613800002101"
    with_bill(session, phone)
    first = send(session, clock, context, phone, "BILL", "SM2101")
    stored = (message_count(session), session.scalar(select(func.count()).select_from(PayLink)))
    clock.advance(timedelta(seconds=20))  # Twilio retries after its 15 s timeout

    again = send(session, clock, context, phone, "BILL", "SM2101")

    assert again.duplicate and not first.duplicate
    assert again.reply is not None and again.reply.template == STORED
    assert text_of(again) == text_of(first) and "77.70" in (text_of(again) or "")
    # nothing new: no second inbound line, reply or pay link
    assert (message_count(session), session.scalar(
        select(func.count()).select_from(PayLink))) == stored  # fmt: skip
    token = (text_of(again) or "").rsplit("/p/", 1)[1]
    assert find_pay_link(session=session, clock=clock, token=token) is not None


def test_a_retry_gets_its_own_answer_after_later_messages_were_answered(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    phone = "+8613800002102"
    with_bill(session, phone)
    answers = {body: text_of(send(session, clock, context, phone, body, f"SM2102{body}"))
               for body in ("HELP", "BILL", "LANG ZH")}  # fmt: skip
    for body, answer in answers.items():
        assert answer and text_of(send(session, clock, context, phone, body,
                                       f"SM2102{body}")) == answer  # fmt: skip


def test_a_message_answered_with_silence_stays_silent_when_retried(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    phone = "+8613800002103"
    with_bill(session, phone)
    conversation_id = send(session, clock, context, phone, "AGENT").conversation_id
    take_over(session=session, clock=clock, conversation_id=conversation_id, agent="agent")
    silent = send(session, clock, context, phone, "BILL", "SM2103a")
    assert silent.reply is None
    # what follows it: the agent's message (through the outbox) and an answered HELP
    send_agent_message(session=session, clock=clock, conversation_id=conversation_id,
                       agent="agent", body="Hello, how can I help?")  # fmt: skip
    assert send(session, clock, context, phone, "HELP", "SM2103b").reply is not None

    again = send(session, clock, context, phone, "BILL", "SM2103a")
    assert again.duplicate and again.reply is None


def test_a_silent_last_message_is_not_answered_with_a_later_outbox_message(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    phone = "+8613800002104"
    with_bill(session, phone)
    send(session, clock, context, phone, "AGENT")
    assert send(session, clock, context, phone, "hello?", "SM2104").reply is None  # queued
    clock.advance(timedelta(hours=2))
    assert return_unanswered_queue(session=session, clock=clock, context=context) == 1
    assert send(session, clock, context, phone, "hello?", "SM2104").reply is None


def test_an_opt_out_the_provider_confirmed_stays_silent_and_our_confirmation_is_repeated(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    phone = "+8613800002105"
    with_bill(session, phone)
    for _ in range(2):  # the first delivery and its retry
        provider_stop = send(session, clock, context, phone, "STOP", "SM2105", opt_out_type="STOP")
        assert provider_stop.reply is None
    other = "+8613800002106"
    with_bill(session, other)
    confirmed = text_of(send(session, clock, context, other, "STOP", "SM2106"))
    assert confirmed == render("stop_confirm", "en")
    assert text_of(send(session, clock, context, other, "STOP", "SM2106")) == confirmed


def test_a_provider_id_from_another_sender_is_never_answered_with_the_first_senders_reply(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    phone, stranger, known = "+8613800002107", "+8613911112107", "+8613911112108"
    with_bill(session, phone)
    assert "77.70" in (text_of(send(session, clock, context, phone, "BILL", "SM2107")) or "")
    send(session, clock, context, known, "HELP")  # a sender with a conversation of their own
    for sender in (stranger, known):
        again = send(session, clock, context, sender, "BILL", "SM2107")
        assert again.duplicate and again.reply is None, sender


def test_a_redelivered_telegram_update_gets_the_stored_reply(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    with_bill(session, "5150", channel="telegram")
    first = send(session, clock, context, "5150", "BILL", "90001", channel="telegram")
    again = send(session, clock, context, "5150", "BILL", "90001", channel="telegram")
    assert again.duplicate and again.reply is not None and first.reply is not None
    assert again.reply.paragraphs == (
        session.scalars(select(col(ConversationMessage.body)).where(
            col(ConversationMessage.conversation_id) == first.conversation_id,
            col(ConversationMessage.direction) == "out")).one(),
    )  # fmt: skip


def test_a_retry_runs_the_statements_it_ran_before(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    if session.connection().dialect.name != "sqlite":
        pytest.skip("counted with SQLite's trace callback")
    phone = "+8613800002109"
    with_bill(session, phone)
    first = send(session, clock, context, phone, "BILL", "SM2109")
    with sqlite_statements(session) as statements:
        again = send(session, clock, context, phone, "BILL", "SM2109")
    assert text_of(again) == text_of(first)
    # the conversation locked; the message not stored again; the message stored before with
    # its answer (one statement, as the duplicate lookup was before it carried the answer)
    assert [s.split()[0].upper() for s in statements] == ["SELECT", "INSERT", "SELECT"]
