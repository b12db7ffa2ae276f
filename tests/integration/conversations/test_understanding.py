"""What customers write in their own words, end to end through the conversation layer on
SQLite and PostgreSQL: self-reads stored as customer readings, arrangements, disputes and
outages recorded for a person, and a queue that never traps a customer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.clock import FixedClock
from billing_core.conversations.agents import return_unanswered_queue, take_over
from billing_core.conversations.intents import IntentKind
from billing_core.conversations.service import (
    BOT,
    QUEUED,
    ConversationContext,
    conversation_context,
)
from billing_core.customers.tables import CustomerRequest
from billing_core.messages.templates import render
from billing_core.outbox.tables import OutboxMessage
from billing_core.readings.tables import MeterReading
from billing_core.settings import Settings
from billing_core.transcripts.tables import Conversation, ConversationMessage
from tests.factories import make_meter, make_reading
from tests.integration.conversations.test_receive import (
    NOW,
    STRANGER,
    Chat,
    customer_with_bill,
    text_of,
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def context(settings: Settings) -> ConversationContext:
    return conversation_context(settings)


def test_free_text_questions_are_answered_in_both_languages(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    customer_with_bill(session, phone="+8613800002001")
    chat = Chat(session, clock, context, "+8613800002001")
    for body in ("帮我看看这个月要交多少", "請問電費多少", "what do I owe this month",
                 "查一下我的electricity bill"):  # fmt: skip
        outcome = chat.send(body)
        assert outcome.intent == IntentKind.bill, body
        assert "1,234.56" in (text_of(outcome) or ""), body
    assert chat.send("能给我个付款链接吗").intent == IntentKind.pay
    assert chat.send("上个月用了几度电").intent == IntentKind.usage


def test_a_self_read_is_stored_as_a_customer_reading_once(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    _, account = customer_with_bill(session, phone="+8613800002002")
    meter = make_meter(session, account=account)
    make_reading(session, meter=meter, read_at=NOW - timedelta(days=30), total=Decimal("12000"))
    chat = Chat(session, clock, context, "+8613800002002")
    outcome = chat.send("我家电表读数是12345", sid="SMselfread0000000000000000000001")
    assert outcome.intent == IntentKind.self_read
    assert text_of(outcome) in {
        render(t, "zh-CN", account=account.number, reading="12345")
        for t in ("self_read_ok", "self_read_flagged")
    }
    stored = session.scalars(
        select(MeterReading).where(col(MeterReading.meter_id) == meter.id,
                                   col(MeterReading.source) == "customer")
    ).all()  # fmt: skip
    assert [r.total for r in stored] == [Decimal("12345")]
    again = chat.send("我家电表读数是12345", sid="SMselfread0000000000000000000001")
    assert again.duplicate  # a provider's retry stores nothing more
    assert len(session.scalars(select(MeterReading).where(
        col(MeterReading.meter_id) == meter.id)).all()) == 2  # fmt: skip


def test_a_self_read_below_the_last_reading_waits_for_a_person(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    _, account = customer_with_bill(session, phone="+8613800002003", language="en")
    meter = make_meter(session, account=account)
    make_reading(session, meter=meter, read_at=NOW - timedelta(days=30), total=Decimal("50000"))
    reply = Chat(session, clock, context, "+8613800002003").says("meter reading 123")
    assert reply == render("self_read_flagged", "en", account=account.number, reading="123")


def test_a_self_read_for_an_account_with_no_meter_is_not_accepted(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    _, account = customer_with_bill(session, phone="+8613800002007", language="en")
    reply = Chat(session, clock, context, "+8613800002007").says("my meter reads 4521.5")
    assert reply == render("self_read_rejected", "en", account=account.number, reading="4521.5")
    assert session.scalars(select(MeterReading)).first() is None


def test_a_self_read_from_an_unverified_number_shows_nothing(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    assert Chat(session, clock, context, STRANGER).says("抄表 12345") == render(
        "not_linked", "zh-CN"
    )


@pytest.mark.parametrize(
    ("body", "kind"),
    [("能不能晚点交，这个月手头紧", "arrangement"), ("我觉得这个月电费算错了", "dispute")],
)
def test_arrangement_and_dispute_requests_are_recorded_and_go_to_a_person(
    session: Session, clock: FixedClock, context: ConversationContext, body: str, kind: str
) -> None:
    customer, account = customer_with_bill(session, phone="+8613800002004")
    outcome = Chat(session, clock, context, "+8613800002004").send(body)
    assert outcome.intent == kind
    when = render("agent_when_soon", "zh-CN", minutes=15)
    assert text_of(outcome) == render(f"{kind}_noted", "zh-CN", when=when)
    request = session.scalars(select(CustomerRequest)).one()
    assert (request.kind, request.status, request.account_id, request.customer_id) == (
        kind, "open", account.id, customer.id,
    )  # fmt: skip
    assert request.body == body and request.conversation_id == outcome.conversation_id
    conversation = session.get(Conversation, outcome.conversation_id)
    assert conversation is not None and conversation.state == QUEUED


def test_an_outage_report_gets_the_service_line_and_is_recorded(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    outcome = Chat(session, clock, context, "+12025550199").send("hi, we have no power at all")
    assert outcome.intent == IntentKind.outage
    assert text_of(outcome) == render("outage_reply", "en", line="95598")
    request = session.scalars(select(CustomerRequest)).one()
    assert request.kind == "outage" and request.account_id is None  # an unverified sender
    conversation = session.get(Conversation, outcome.conversation_id)
    assert conversation is not None and conversation.state == BOT


def test_a_queued_conversation_nobody_takes_goes_back_to_the_bot_and_the_customer_is_told(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    customer_with_bill(session, phone="+8613800002005")
    chat = Chat(session, clock, context, "+8613800002005")
    conversation_id = chat.send("我想找客服人员").conversation_id
    taken = Chat(session, clock, context, "+8613800002006").send("人工").conversation_id
    take_over(session=session, clock=clock, conversation_id=taken, agent="agent")

    clock.advance(timedelta(minutes=29))
    assert return_unanswered_queue(session=session, clock=clock, context=context) == 0
    clock.advance(timedelta(minutes=1))
    assert return_unanswered_queue(session=session, clock=clock, context=context) == 1
    assert return_unanswered_queue(session=session, clock=clock, context=context) == 0

    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    session.refresh(conversation)
    assert (conversation.state, conversation.queued_at) == (BOT, None)
    told = session.scalars(
        select(OutboxMessage).where(col(OutboxMessage.template) == "queue_released")
    ).one()
    assert told.body == render("queue_released", "zh-CN", line="95598")
    assert told.recipient == "+8613800002005" and told.kind == "reply"
    kept = session.scalars(
        select(ConversationMessage)
        .where(col(ConversationMessage.conversation_id) == conversation_id)
        .order_by(col(ConversationMessage.id).desc())
    ).first()
    assert kept is not None and kept.body == told.body  # the agents see it in the transcript
    outcome = chat.send("2")  # the message's choices: 2 is "pay"
    assert outcome.intent == IntentKind.pay
    taken_conversation = session.get(Conversation, taken)
    assert taken_conversation is not None
    session.refresh(taken_conversation)
    assert taken_conversation.state == "agent"  # an agent's conversation is never given back


def test_the_timeout_counts_from_when_the_conversation_was_queued(
    session: Session, context: ConversationContext
) -> None:
    clock = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    chat = Chat(session, clock, context, STRANGER)
    chat.send("人工")
    clock.advance(timedelta(minutes=20))
    assert chat.send("hello? anyone there").reply is None  # a message does not restart it
    clock.advance(timedelta(minutes=10))
    assert return_unanswered_queue(session=session, clock=clock, context=context) == 1
    assert date(2026, 11, 26) == clock.now().date()
