"""The conversation repository and a reply sent through the outbox, on SQLite and PostgreSQL:
one row type read and written by its field names, the statements a BILL answer runs, an
agent's take-over keeping a later message time, and a reply enqueued once per provider id
for a channel without inline replies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from billing_core.clock import FixedClock
from billing_core.conversations.agents import enqueue_reply, take_over
from billing_core.conversations.model import AGENT, InboundMessage, Outcome, reply_text
from billing_core.conversations.repository import ConversationRow
from billing_core.conversations.service import (
    ConversationContext,
    conversation_context,
    receive_message,
)
from billing_core.db.columns import table_of
from billing_core.outbox.service import REPLY
from billing_core.outbox.tables import OutboxMessage
from billing_core.settings import Settings
from billing_core.transcripts.tables import Conversation
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PHONE = "+8613800004040"
TELEGRAM_USER = "424242"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def context(settings: Settings) -> ConversationContext:
    return conversation_context(settings)


def with_bill(session: Session, *, channel: str = "sms", address: str = PHONE) -> None:
    customer = make_customer(session, at=NOW)
    account = make_account(session, customer=customer)
    make_contact(session, customer=customer, at=NOW, channel=channel, address=address)
    bill = make_bill(session, account=account, period_start=date(2026, 10, 1),
                     total=Decimal("88.00"), due_date=date(2026, 12, 1), at=NOW)  # fmt: skip
    make_charge(session, bill=bill, on=date(2026, 11, 2), at=NOW)


def receive(
    session: Session, clock: FixedClock, context: ConversationContext, body: str, sid: str,
    *, channel: str = "sms", sender: str = PHONE,
) -> Outcome:  # fmt: skip
    inbound = InboundMessage(channel, sender, body, sid, clock.now())
    return receive_message(session=session, clock=clock, context=context, inbound=inbound)


@contextmanager
def sqlite_statements(session: Session) -> Iterator[list[str]]:
    """Every statement SQLite runs meanwhile (prepared ones too: they bypass SQLAlchemy)."""
    raw = session.connection().connection.driver_connection
    seen: list[str] = []
    raw.set_trace_callback(seen.append)  # type: ignore[union-attr]
    try:
        yield seen
    finally:
        raw.set_trace_callback(None)  # type: ignore[union-attr]


def test_the_row_type_is_the_tables_columns() -> None:
    columns = set(table_of(Conversation).c.keys())
    names = [f.name for f in fields(ConversationRow) if f.init]
    assert set(names) <= columns
    # what the repository does not read into the row: the times it writes itself
    assert columns - set(names) == {"created_at", "last_message_at"}


def test_a_bill_answer_runs_the_statements_it_ran_before(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    if session.connection().dialect.name != "sqlite":
        pytest.skip("counted with SQLite's trace callback")
    with_bill(session)
    with sqlite_statements(session) as statements:
        first = receive(session, clock, context, "BILL", "SM0001")  # the conversation is made
    # no active link yet: read, then the new one stored (no UPDATE to replace one)
    links = [s.split()[0].upper() for s in statements if "pay_link" in s]
    assert links == ["SELECT", "INSERT"], statements
    with sqlite_statements(session) as statements:
        outcome = receive(session, clock, context, "BILL", "SM0002")
    assert outcome.reply is not None and outcome.reply.pay is not None
    assert first.reply is not None and first.reply.pay is not None
    assert outcome.reply.pay.url == first.reply.pay.url  # the same link, offered again
    verbs = [s.split()[0].upper() for s in statements]
    # the conversation locked; the message stored; the sender's accounts; the statement of
    # account; the active pay link read (offered again: nothing written); the reply stored;
    # the two live events (the message's and the reply's: one executemany, traced per
    # row); the conversation written back
    assert verbs == ["SELECT", "INSERT", "SELECT", "SELECT", "SELECT", "INSERT", "INSERT",
                     "INSERT", "UPDATE"], statements  # fmt: skip
    assert "FROM pay_link" in statements[4] and "status = 'active'" in statements[4]
    events = [s for s in statements if s.startswith("INSERT INTO live_event")]
    assert events == statements[6:8]
    assert "'message.in'" in events[0] and "'message.out'" in events[1]
    assert statements[-1].startswith("UPDATE conversation SET selected_account_id=")

    clock.advance(timedelta(days=4))  # less than half of its 7 days left: a new link
    with sqlite_statements(session) as statements:
        later = receive(session, clock, context, "BILL", "SM0003")
    assert later.reply is not None and later.reply.pay is not None
    assert later.reply.pay.url != first.reply.pay.url
    verbs = [s.split()[0].upper() for s in statements]
    # ... the active link read, replaced, and the new one stored
    assert verbs[4:7] == ["SELECT", "UPDATE", "INSERT"], statements


def test_a_reply_is_sent_through_the_outbox_once_per_provider_message(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    with_bill(session, channel="telegram", address=TELEGRAM_USER)
    outcome = receive(session, clock, context, "BILL", "update-7", channel="telegram",
                      sender=TELEGRAM_USER)  # fmt: skip
    reply = outcome.reply
    assert reply is not None and reply.pay is not None
    conversation_id = outcome.conversation_id
    first = enqueue_reply(session=session, clock=clock, conversation_id=conversation_id,
                          reply=reply, provider_message_id="update-7")  # fmt: skip
    again = enqueue_reply(session=session, clock=clock, conversation_id=conversation_id,
                          reply=reply, provider_message_id="update-7", body="other")  # fmt: skip
    assert first == again
    sent = session.get(OutboxMessage, first)
    assert sent is not None
    assert (sent.channel, sent.recipient, sent.kind, sent.template, sent.language) == (
        "telegram", TELEGRAM_USER, REPLY, "bill_reply", reply.language,
    )  # fmt: skip
    assert sent.body == reply_text(reply) and reply.pay.url in sent.body
    assert sent.customer_id is not None and sent.account_id is not None
    assert sent.purpose == f"conversation:{conversation_id}"
    count = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        col(OutboxMessage.recipient) == TELEGRAM_USER))  # fmt: skip
    assert count == 1

    other = enqueue_reply(session=session, clock=clock, conversation_id=conversation_id,
                          reply=reply, provider_message_id="update-8", body="rendered")  # fmt: skip
    assert other != first
    assert (session.get(OutboxMessage, other) or OutboxMessage()).body == "rendered"


def test_taking_over_keeps_a_later_message_time_and_refreshes_a_loaded_conversation(
    session: Session, clock: FixedClock, context: ConversationContext
) -> None:
    outcome = receive(session, clock, context, "HELP", "SM0100")
    held = session.get(Conversation, outcome.conversation_id)
    assert held is not None and held.last_message_at == NOW
    earlier = FixedClock(NOW - timedelta(hours=1))
    taken = take_over(session=session, clock=earlier, conversation_id=outcome.conversation_id,
                      agent="wang")  # fmt: skip
    assert (taken.state, taken.agent_username) == (AGENT, "wang")
    assert (held.state, held.agent_username, held.last_message_at) == (AGENT, "wang", NOW)
    later = FixedClock(NOW + timedelta(hours=1))
    take_over(session=session, clock=later, conversation_id=outcome.conversation_id,
              agent="wang")  # fmt: skip
    assert held.last_message_at == NOW + timedelta(hours=1)
