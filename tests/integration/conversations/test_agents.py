"""What agents do in the staff console, on SQLite and PostgreSQL: take a conversation over
(the bot goes quiet), write in it (through the outbox, as a reply), give it back."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.clock import FixedClock
from billing_core.conversations.agents import release, send_agent_message, take_over
from billing_core.conversations.model import InboundMessage, reply_text
from billing_core.conversations.service import (
    AGENT,
    BOT,
    ConversationContext,
    conversation_context,
    receive_message,
)
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.outbox.service import REPLY
from billing_core.outbox.tables import OutboxMessage
from billing_core.settings import Settings
from billing_core.transcripts.tables import ConversationMessage
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PHONE = "+8613800002020"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def context(settings: Settings) -> ConversationContext:
    return conversation_context(settings)


def say(session: Session, clock: FixedClock, context: ConversationContext, body: str) -> str | None:
    inbound = InboundMessage("sms", PHONE, body, None, clock.now())
    reply = receive_message(session=session, clock=clock, context=context, inbound=inbound).reply
    return reply_text(reply) if reply is not None else None


@pytest.fixture
def conversation_id(session: Session, clock: FixedClock, context: ConversationContext) -> int:
    customer = make_customer(session, at=NOW)
    account = make_account(session, customer=customer)
    make_contact(session, customer=customer, at=NOW, address=PHONE)
    bill = make_bill(session, account=account, period_start=date(2026, 10, 1),
                     total=Decimal("88.00"), due_date=date(2026, 12, 1), at=NOW)  # fmt: skip
    make_charge(session, bill=bill, on=date(2026, 11, 2), at=NOW)
    inbound = InboundMessage("sms", PHONE, "BILL", "SM1", NOW)
    outcome = receive_message(session=session, clock=clock, context=context, inbound=inbound)
    return outcome.conversation_id


def test_an_agent_takes_over_writes_and_gives_back(
    session: Session, clock: FixedClock, context: ConversationContext, conversation_id: int
) -> None:
    conversation = take_over(session=session, clock=clock, conversation_id=conversation_id,
                             agent="wang")  # fmt: skip
    assert (conversation.state, conversation.agent_username) == (AGENT, "wang")
    assert say(session, clock, context, "BILL") is None  # the bot is quiet
    assert say(session, clock, context, "HELP") is not None  # except for help

    message = send_agent_message(session=session, clock=clock,
                                 conversation_id=conversation_id, agent="wang",
                                 body="  您好，我来帮您查一下。 ")  # fmt: skip
    assert (message.direction, message.author, message.agent_username) == ("out", "agent", "wang")
    assert message.body == "您好，我来帮您查一下。" and message.status == "pending"
    outbox = session.get(OutboxMessage, message.outbox_message_id)
    assert outbox is not None
    assert (outbox.channel, outbox.recipient, outbox.kind, outbox.body) == (
        "sms", PHONE, REPLY, "您好，我来帮您查一下。"
    )  # fmt: skip
    assert outbox.customer_id == conversation.customer_id

    conversation = release(session=session, clock=clock, conversation_id=conversation_id,
                           agent="wang")  # fmt: skip
    assert (conversation.state, conversation.agent_username) == (BOT, None)
    assert "¥88.00" in (say(session, clock, context, "BILL") or "")
    authors = session.scalars(
        select(col(ConversationMessage.author))
        .where(col(ConversationMessage.conversation_id) == conversation_id)
        .order_by(col(ConversationMessage.id))
    ).all()
    assert authors == ["customer", "bot", "customer", "customer", "bot", "agent", "customer",
                       "bot"]  # fmt: skip


def test_one_agent_at_a_time(session: Session, clock: FixedClock, conversation_id: int) -> None:
    take_over(session=session, clock=clock, conversation_id=conversation_id, agent="wang")
    take_over(session=session, clock=clock, conversation_id=conversation_id, agent="wang")
    with pytest.raises(Conflict, match="wang"):
        take_over(session=session, clock=clock, conversation_id=conversation_id, agent="li")
    with pytest.raises(Conflict):
        release(session=session, clock=clock, conversation_id=conversation_id, agent="li")
    with pytest.raises(Conflict, match="take the conversation over"):
        send_agent_message(session=session, clock=clock, conversation_id=conversation_id,
                           agent="li", body="hello")  # fmt: skip


def test_a_queued_conversation_is_taken_from_the_queue(
    session: Session, clock: FixedClock, context: ConversationContext, conversation_id: int
) -> None:
    say(session, clock, context, "AGENT")
    with pytest.raises(Conflict):  # queued: nobody owns it yet
        send_agent_message(session=session, clock=clock, conversation_id=conversation_id,
                           agent="wang", body="hello")  # fmt: skip
    conversation = take_over(session=session, clock=clock, conversation_id=conversation_id,
                             agent="wang")  # fmt: skip
    assert conversation.state == AGENT


def test_empty_messages_and_unknown_conversations_are_refused(
    session: Session, clock: FixedClock, conversation_id: int
) -> None:
    take_over(session=session, clock=clock, conversation_id=conversation_id, agent="wang")
    with pytest.raises(InvalidInput):
        send_agent_message(session=session, clock=clock, conversation_id=conversation_id,
                           agent="wang", body=" \n ")  # fmt: skip
    with pytest.raises(NotFound):
        take_over(session=session, clock=clock, conversation_id=conversation_id + 999,
                  agent="wang")  # fmt: skip
