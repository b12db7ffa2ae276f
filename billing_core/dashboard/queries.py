"""The dashboard's aggregate statements: each figure is one statement that groups in the
database (no row per message, bill or account comes back to Python but the agents' waits).
Portable to SQLite and PostgreSQL: days and months are cut at bound instants and dates
passed in (the utility's local days), never by a dialect's date functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select, type_coerce
from sqlmodel import Session

from billing_core.bills.tables import Bill
from billing_core.conversations.intents import IntentKind
from billing_core.conversations.model import QUEUED
from billing_core.db.columns import table_of
from billing_core.db.types import DecimalType
from billing_core.ledger.model import TARGETED, EntryKind
from billing_core.ledger.tables import LedgerEntry
from billing_core.outbox.tables import OutboxMessage
from billing_core.transcripts.tables import Conversation, ConversationMessage

OUTBOX = table_of(OutboxMessage)
CONVERSATION = table_of(Conversation)
MESSAGE = table_of(ConversationMessage)
LEDGER = table_of(LedgerEntry)
BILL = table_of(Bill)
MONEY = DecimalType(scale=2)
ZERO = Decimal(0)
WAITING = ("pending", "sending")  # outbox rows not sent yet
RECEIVED = "received"  # the status an inbound message is counted under
# What a customer says to ask for a person (the bot queues the conversation on either).
ASKS_FOR_A_PERSON = (IntentKind.agent.value, IntentKind.complaint.value)


def _index_of(
    column: ColumnElement[Any], bounds: Sequence[datetime] | Sequence[date]
) -> ColumnElement[int]:
    """Which of the intervals [bounds[i], bounds[i + 1]) the value (an instant, a date)
    falls in."""
    return case(*[(column < bound, index) for index, bound in enumerate(bounds[1:])], else_=None)


class DayCount(NamedTuple):
    day: int  # index into the days asked for
    channel: str
    status: str
    messages: int


def messages_per_day(session: Session, bounds: Sequence[datetime]) -> list[DayCount]:
    """Outbound messages (the outbox, by status) and inbound ones (the transcripts, counted
    as `received`), per channel and per day between the bounds (`model.day_starts`)."""
    start, end = bounds[0], bounds[-1]
    outbound = select(
        _index_of(OUTBOX.c.created_at, bounds).label("day"),
        OUTBOX.c.channel.label("channel"),
        OUTBOX.c.status.label("status"),
    ).where(OUTBOX.c.created_at >= start, OUTBOX.c.created_at < end)
    inbound = select(
        _index_of(MESSAGE.c.created_at, bounds).label("day"),
        MESSAGE.c.channel.label("channel"),
        literal(RECEIVED).label("status"),
    ).where(MESSAGE.c.direction == "in", MESSAGE.c.created_at >= start, MESSAGE.c.created_at < end)
    counted: list[Any] = []
    for part in (outbound, inbound):
        rows = part.subquery()
        counted += session.execute(
            select(rows.c.day, rows.c.channel, rows.c.status, func.count())
            .group_by(rows.c.day, rows.c.channel, rows.c.status)
            .order_by(rows.c.day, rows.c.channel, rows.c.status)
        ).all()
    return [DayCount(int(d), str(c), str(s), int(n)) for d, c, s, n in counted if d is not None]


def queued_since(session: Session) -> list[datetime]:
    """When each conversation waiting for a person went to the queue."""
    since = func.coalesce(CONVERSATION.c.queued_at, CONVERSATION.c.last_message_at)
    return list(
        session.execute(
            select(type_coerce(since, CONVERSATION.c.queued_at.type)).where(
                CONVERSATION.c.state == QUEUED
            )
        ).scalars()
    )


def answered_waits(session: Session, *, since: datetime) -> list[tuple[datetime, datetime]]:
    """(asked at, first answered by a person at) for each message since `since` that asked
    for a person and that a person answered: the agents' queue's past waits."""
    answer = MESSAGE.alias("answer")
    first_answer = (
        select(func.min(answer.c.created_at))
        .where(
            answer.c.conversation_id == MESSAGE.c.conversation_id,
            answer.c.author == "agent",
            answer.c.created_at >= MESSAGE.c.created_at,
        )
        .correlate(MESSAGE)
        .scalar_subquery()
    )
    asked = select(
        MESSAGE.c.created_at.label("asked"),
        type_coerce(first_answer, MESSAGE.c.created_at.type).label("answered"),
    ).where(
        MESSAGE.c.direction == "in",
        MESSAGE.c.intent.in_(ASKS_FOR_A_PERSON),
        MESSAGE.c.created_at >= since,
    )
    return [(a, b) for a, b in session.execute(asked).all() if b is not None]


class Backlog(NamedTuple):
    channel: str
    pending: int  # not sent yet (waiting for their time, a retry or a sender)
    due: int  # of which due now
    oldest_due: datetime | None  # when the oldest due one was created


def outbox_backlog(session: Session, *, now: datetime) -> list[Backlog]:
    """Messages not sent yet, per channel: how many, how many due now, the oldest due."""
    is_due = OUTBOX.c.not_before <= now
    rows = session.execute(
        select(
            OUTBOX.c.channel,
            func.count(),
            func.sum(case((is_due, 1), else_=0)),
            type_coerce(func.min(case((is_due, OUTBOX.c.created_at))), OUTBOX.c.created_at.type),
        )
        .where(OUTBOX.c.status.in_(WAITING))
        .group_by(OUTBOX.c.channel)
        .order_by(OUTBOX.c.channel)
    )
    return [Backlog(str(c), int(n), int(d or 0), oldest) for c, n, d, oldest in rows]


class Collected(NamedTuple):
    month: int  # index into the months asked for
    bills: int
    billed: Decimal
    paid_in_terms: Decimal


def _clamp(value: ColumnElement[Decimal], high: ColumnElement[Decimal]) -> ColumnElement[Decimal]:
    """max(0, min(value, high)), portably."""
    return case((value >= high, high), (value > 0, value), else_=literal(0))


def collection(session: Session, month_bounds: Sequence[date]) -> list[Collected]:
    """Per month of due dates: the issued bills due in it, what they billed, and what of that
    was paid by the due date. A bill's part paid in terms follows the ledger's allocation
    (oldest debit first, late fees last): the account's credits up to the due date, less the
    debits allocated before the bill's charge, up to the bill's total."""
    charge = LEDGER.alias("charge")
    earlier = LEDGER.alias("earlier")
    credit = LEDGER.alias("credit")
    credits_by_due = (
        select(func.coalesce(-func.sum(credit.c.amount), 0))
        .where(
            credit.c.account_id == BILL.c.account_id,
            credit.c.amount < 0,
            credit.c.effective_on <= BILL.c.due_date,
        )
        .correlate(BILL)
        .scalar_subquery()
    )
    debits_before = (
        select(func.coalesce(func.sum(earlier.c.amount), 0))
        .where(
            earlier.c.account_id == charge.c.account_id,
            earlier.c.amount > 0,
            earlier.c.kind != EntryKind.late_fee.value,
            or_(
                earlier.c.effective_on < charge.c.effective_on,
                and_(earlier.c.effective_on == charge.c.effective_on, earlier.c.id < charge.c.id),
            ),
        )
        .correlate(charge)
        .scalar_subquery()
    )
    per_bill = (
        select(
            _index_of(BILL.c.due_date, month_bounds).label("month"),
            BILL.c.total.label("total"),
            (credits_by_due - debits_before).label("available"),
        )
        .select_from(
            BILL.join(
                charge,
                and_(charge.c.bill_id == BILL.c.id, charge.c.kind == EntryKind.charge.value),
            )
        )
        .where(
            BILL.c.status == "issued",
            BILL.c.due_date >= month_bounds[0],
            BILL.c.due_date < month_bounds[-1],
        )
        .subquery()
    )
    paid = _clamp(per_bill.c.available, per_bill.c.total)
    rows = session.execute(
        select(
            per_bill.c.month,
            func.count(),
            type_coerce(func.sum(per_bill.c.total), MONEY),
            type_coerce(func.sum(paid), MONEY),
        )
        .group_by(per_bill.c.month)
        .order_by(per_bill.c.month)
    )
    return [
        Collected(int(m), int(n), billed or ZERO, in_terms or ZERO)
        for m, n, billed, in_terms in rows
        if m is not None
    ]


class Aged(NamedTuple):
    bucket: int  # -1: not due yet; 0..: the ageing buckets in order
    amount: Decimal
    accounts: int


def arrears_ageing(session: Session, *, today: date, bounds: Sequence[int]) -> list[Aged]:
    """What accounts owe, by how long past its due date each open debit is. The open debits
    are the ledger's allocation in SQL: a debit net of the credits that take it back (a
    reversal, a waiver) is open for the part of the account's balance not taken by the
    debits allocated after it (newer first, late fees last of all)."""
    taken = (
        select(
            LEDGER.c.related_entry_id.label("entry_id"),
            func.sum(LEDGER.c.amount).label("taken"),
        )
        .where(
            LEDGER.c.related_entry_id.is_not(None),
            LEDGER.c.kind.in_([k.value for k in TARGETED]),
        )
        .group_by(LEDGER.c.related_entry_id)
        .subquery()
    )
    owing = (
        select(LEDGER.c.account_id.label("account_id"), func.sum(LEDGER.c.amount).label("balance"))
        .group_by(LEDGER.c.account_id)
        .having(func.sum(LEDGER.c.amount) > 0)
        .subquery()
    )
    net = LEDGER.c.amount + func.coalesce(taken.c.taken, 0)
    late_last = case((LEDGER.c.kind == EntryKind.late_fee.value, 1), else_=0)
    debits = (
        select(
            LEDGER.c.account_id.label("account_id"),
            net.label("amount"),
            owing.c.balance.label("balance"),
            func.coalesce(BILL.c.due_date, LEDGER.c.effective_on).label("due"),
            func.sum(net)
            .over(
                partition_by=LEDGER.c.account_id,
                order_by=(late_last.desc(), LEDGER.c.effective_on.desc(), LEDGER.c.id.desc()),
                rows=(None, -1),
            )
            .label("after"),
        )
        .select_from(
            LEDGER.join(owing, owing.c.account_id == LEDGER.c.account_id)
            .outerjoin(taken, taken.c.entry_id == LEDGER.c.id)
            .outerjoin(BILL, BILL.c.id == LEDGER.c.bill_id)
        )
        .where(LEDGER.c.amount > 0, net > 0)
        .subquery()
    )
    remaining = debits.c.balance - func.coalesce(debits.c.after, 0)
    bucket = case(
        (debits.c.due >= today, -1),
        *[(debits.c.due >= today - timedelta(days=b), i) for i, b in enumerate(bounds)],
        else_=len(bounds),
    )
    opened = select(
        debits.c.account_id.label("account_id"),
        bucket.label("bucket"),
        _clamp(remaining, debits.c.amount).label("open"),
    ).subquery()
    rows = session.execute(
        select(
            opened.c.bucket,
            type_coerce(func.sum(opened.c.open), MONEY),
            func.count(func.distinct(opened.c.account_id)),
        )
        .where(opened.c.open > 0)
        .group_by(opened.c.bucket)
        .order_by(opened.c.bucket)
    )
    return [Aged(int(b), amount or ZERO, int(n)) for b, amount, n in rows]
