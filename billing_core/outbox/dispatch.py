"""Delivering the outbox: claim due rows, and record what the provider said about each.

The dispatcher (scheduler/dispatcher.py) runs `claim_batch` in one short transaction, sends
each claimed message through a transport (sms/transport.py, injected: this module imports no
provider library), and runs `record_result` for each in its own transaction, committed as
soon as the provider answers. Delivery receipts (sms/status.py) go to
`record_delivery_report`.

Claiming: rows are taken `FOR UPDATE SKIP LOCKED` on PostgreSQL, so dispatchers in several
processes never take the same row; on SQLite one writer at a time runs the same single
UPDATE, guarded by `status = 'pending'`. A claimed row is `sending`, with `next_attempt_at`
holding its lease deadline (the table has no separate lease column).

At claim time an automated message whose recipient's allowed hours are closed goes back to
`pending` with `not_before` at the window's next opening (it waits, it is not dropped), and a
message to an opted-out address is cancelled with the reason.

Crash safety (at least once, never twice where the provider id is known):
- A crash before the provider is called leaves the row `sending` with no provider id: when
  its lease expires the next claim returns it to `pending` and it is sent then.
- A row with a provider id is never sent again: the provider id and the new status are one
  UPDATE, committed per message as soon as the provider answers.
- The window that remains: the provider accepted the message, and the process died (or the
  database was unreachable) before that commit. We cannot know the provider id, so after
  the lease the message is sent a second time. Twilio's Messages API has no idempotency
  key to close this; the window is one HTTP response plus one commit per message.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, insert, or_, select, tuple_, update
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.conversations.service import record_opt_out
from billing_core.conversations.tables import Conversation, ConversationMessage, OptOut
from billing_core.customers.tables import Contact, Customer
from billing_core.db.columns import table_of
from billing_core.messages.templates import SECRET_TEMPLATES, redact_codes
from billing_core.outbox.tables import OutboxMessage
from billing_core.outbox.windows import next_send_time

OUTBOX = table_of(OutboxMessage)
OPT_OUT = table_of(OptOut)
CONTACT = table_of(Contact)
CUSTOMER = table_of(Customer)
CONVERSATION = table_of(Conversation)
CONVERSATION_MESSAGE = table_of(ConversationMessage)

AUTOMATED = "automated"
LEASE = timedelta(minutes=2)  # a claimed row not recorded by then is the dispatcher's crash
OPTED_OUT_REASON = "recipient opted out (STOP)"
DEFAULT_WINDOW = (time(8, 0), time(21, 0))  # DOMAIN.md §3, and Contact's defaults


class Outcome(StrEnum):
    """What a provider said about one message, in the dispatcher's terms."""

    sent = "sent"  # accepted; a delivery receipt may follow
    delivered = "delivered"  # delivered already (the offline transport)
    transient = "transient"  # try again later (5xx, 429, unreachable handset, network)
    permanent = "permanent"  # will never work (invalid number, refused content)
    opted_out = "opted_out"  # the provider says the recipient opted out (Twilio 21610)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    error_code: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Claimed:
    """A message claimed for sending: what a transport needs, and nothing it can change."""

    id: int
    channel: str
    recipient: str
    body: str
    kind: str
    template: str
    segments: int
    attempts: int  # including this one
    conversation_id: int | None = None  # the recipient's conversation, to show the message in


class Transport(Protocol):
    """Sends one message on one channel. Implementations live in the adapters (sms/, bot/)
    and are handed to the dispatcher by api/, which chooses them from the settings."""

    channel: str
    sender: str  # what the provider rate-limits: a number, a messaging service, a bot

    def send(self, message: Claimed) -> SendResult: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures; after `max_attempts`
    sends the message fails for good (about three hours with these defaults)."""

    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2  # ± this share of the delay, so retries of a burst spread out
    max_attempts: int = 8

    def delay(self, attempts: int, rand: float) -> timedelta:
        """The wait after the `attempts`-th failed send; `rand` in [0, 1)."""
        raw = min(
            self.cap.total_seconds(),
            self.base.total_seconds() * self.factor ** max(attempts - 1, 0),
        )
        return timedelta(seconds=raw * (1 + self.jitter * (2 * rand - 1)))


DEFAULT_RETRY = RetryPolicy()


# --- claiming ------------------------------------------------------------------------------


def claim_batch(
    *,
    session: Session,
    clock: Clock,
    limit: int,
    tz: ZoneInfo,
    channels: Sequence[str] | None = None,
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Claim up to `limit` due messages (pending, `not_before` and any retry time passed),
    by priority, then `not_before`, then id; mark them `sending` and count the attempt.
    Returns those that may go now: messages to opted-out addresses are cancelled, and
    automated ones outside their recipient's hours are put back until the window opens.
    `tz` is the utility's zone, for customers without one of their own."""
    now = clock.now()
    release_expired_leases(session=session, now=now)
    not_before: Any = OUTBOX.c.not_before
    status: Any = OUTBOX.c.status
    if session.get_bind().dialect.name == "sqlite":
        # SQLite's planner would read the due backlog through the (status, not_before) index
        # and sort it, and check the UPDATE's guard by scanning every pending row; a unary +
        # (a no-op) keeps these terms off the indexes: the claim-order index and the ids win.
        not_before, status = _unindexed(not_before), _unindexed(status)
    due = [
        OUTBOX.c.status == "pending",
        not_before <= now,
        or_(OUTBOX.c.next_attempt_at.is_(None), OUTBOX.c.next_attempt_at <= now),
    ]
    if channels is not None:
        due.append(OUTBOX.c.channel.in_(list(channels)))
    candidates = (
        select(OUTBOX.c.id)
        .where(*due)
        .order_by(OUTBOX.c.priority, OUTBOX.c.not_before, OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
    )
    rows = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(candidates.scalar_subquery()), status == "pending")
        .values(status="sending", attempts=OUTBOX.c.attempts + 1, next_attempt_at=now + lease)
        .returning(
            OUTBOX.c.id,
            OUTBOX.c.channel,
            OUTBOX.c.recipient,
            OUTBOX.c.body,
            OUTBOX.c.kind,
            OUTBOX.c.template,
            OUTBOX.c.segments,
            OUTBOX.c.attempts,
            OUTBOX.c.customer_id,
            OUTBOX.c.priority,
            OUTBOX.c.not_before,
        )
    ).all()
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: (r.priority, r.not_before, r.id))
    opted_out = _opted_out(session, {(r.channel, r.recipient) for r in rows})
    cancelled = [r.id for r in rows if (r.channel, r.recipient) in opted_out]
    if cancelled:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(cancelled))
            .values(
                status="cancelled",
                cancelled_reason=OPTED_OUT_REASON,
                attempts=OUTBOX.c.attempts - 1,
                next_attempt_at=None,
            )
        )
    live = [r for r in rows if (r.channel, r.recipient) not in opted_out]
    windows = _windows(session, [r for r in live if r.kind == AUTOMATED], tz)
    conversations = _conversations(session, {(r.channel, r.recipient) for r in live})
    claimed: list[Claimed] = []
    waiting: dict[datetime, list[int]] = {}  # window opening -> rows that wait for it
    for row in live:
        if row.kind == AUTOMATED:
            allowed_from, allowed_until, zone = windows[row.id]
            opens = next_send_time(
                now, kind=row.kind, allowed_from=allowed_from, allowed_until=allowed_until, tz=zone
            )
            if opens > now:
                waiting.setdefault(opens, []).append(row.id)
                continue
        claimed.append(
            Claimed(
                row.id,
                row.channel,
                row.recipient,
                row.body,
                row.kind,
                row.template,
                row.segments,
                row.attempts,
                conversations.get((row.channel, row.recipient)),
            )
        )
    for opens, ids in waiting.items():
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids))
            .values(
                status="pending",
                not_before=opens,
                next_attempt_at=None,
                attempts=OUTBOX.c.attempts - 1,
            )
        )
    return claimed


def _unindexed(column: Any) -> Any:
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def release_expired_leases(*, session: Session, now: datetime) -> int:
    """Rows a dispatcher claimed and never recorded (it crashed) go back to `pending` once
    their lease has expired, but only when no provider id was stored: a row with one was
    accepted by the provider and is never sent again. Returns how many were released."""
    released = session.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.status == "sending",
            OUTBOX.c.next_attempt_at <= now,
            OUTBOX.c.provider_id.is_(None),
        )
        .values(status="pending", next_attempt_at=None)
    )
    session.execute(
        update(OUTBOX)
        .where(
            OUTBOX.c.status == "sending",
            OUTBOX.c.next_attempt_at <= now,
            OUTBOX.c.provider_id.is_not(None),
        )
        .values(status="sent", next_attempt_at=None, sent_at=now)
    )
    return int(released.rowcount or 0)  # type: ignore[attr-defined]


def _conversations(session: Session, addresses: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not addresses:
        return {}
    found = session.execute(
        select(CONVERSATION.c.channel, CONVERSATION.c.address, CONVERSATION.c.id).where(
            tuple_(CONVERSATION.c.channel, CONVERSATION.c.address).in_(list(addresses))
        )
    ).all()
    return {(channel, address): id_ for channel, address, id_ in found}


def _opted_out(session: Session, addresses: set[tuple[str, str]]) -> set[tuple[str, str]]:
    if not addresses:
        return set()
    found = session.execute(
        select(OPT_OUT.c.channel, OPT_OUT.c.address).where(
            tuple_(OPT_OUT.c.channel, OPT_OUT.c.address).in_(list(addresses))
        )
    ).all()
    return {(channel, address) for channel, address in found}


Window = tuple[time, time, ZoneInfo]


def _windows(session: Session, rows: Sequence[Any], tz: ZoneInfo) -> dict[int, Window]:
    """Each automated row's allowed hours and zone: from the recipient's contact (the one of
    the row's customer if there are several), else the defaults in the utility's zone."""
    if not rows:
        return {}
    contacts = session.execute(
        select(
            CONTACT.c.customer_id,
            CONTACT.c.channel,
            CONTACT.c.address,
            CONTACT.c.allowed_from,
            CONTACT.c.allowed_until,
            CUSTOMER.c.timezone,
        )
        .join(CUSTOMER, CUSTOMER.c.id == CONTACT.c.customer_id)
        .where(
            tuple_(CONTACT.c.channel, CONTACT.c.address).in_(
                list({(r.channel, r.recipient) for r in rows})
            )
        )
        .order_by(CONTACT.c.id)
    ).all()
    by_address: dict[tuple[str, str], list[Any]] = {}
    for contact in contacts:
        by_address.setdefault((contact.channel, contact.address), []).append(contact)
    windows: dict[int, Window] = {}
    for row in rows:
        candidates = by_address.get((row.channel, row.recipient), [])
        mine = [c for c in candidates if c.customer_id == row.customer_id] or candidates
        if not mine:
            windows[row.id] = (*DEFAULT_WINDOW, tz)
            continue
        contact = mine[0]
        windows[row.id] = (contact.allowed_from, contact.allowed_until, _zone(contact.timezone, tz))
    return windows


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


# --- recording -----------------------------------------------------------------------------


def record_result(
    *,
    session: Session,
    clock: Clock,
    message: Claimed,
    result: SendResult,
    retry: RetryPolicy = DEFAULT_RETRY,
    rand: Callable[[], float] = random.random,
) -> str:
    """Store what the provider said about a claimed message; returns the row's new status.
    Run it in its own transaction and commit at once (see the module's crash notes)."""
    now = clock.now()
    if result.outcome in (Outcome.sent, Outcome.delivered):
        status = result.outcome.value
        # A row whose lease expired meanwhile may have been claimed again: the provider id
        # still wins (`provider_id IS NULL`), so the other claim's send is recorded as a
        # duplicate rather than this one being lost.
        done = session.connection().execute(
            _MARK_SENT,
            {
                "m_id": message.id,
                "m_status": status,
                "m_provider_id": result.provider_id,
                "m_now": now,
                "m_delivered_at": now if status == "delivered" else None,
            },
        )
        if not done.rowcount:
            return "duplicate"
        _log_in_conversation(session, message, status, result.provider_id, now)
        return status
    if result.outcome == Outcome.transient:
        status = "failed" if message.attempts >= retry.max_attempts else "pending"
        values: dict[str, Any] = {
            "status": status,
            "error_code": _code(result.error_code),
            "error_detail": _detail(result, message.attempts),
            "next_attempt_at": None
            if status == "failed"
            else now + retry.delay(message.attempts, rand()),
        }
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == message.id, OUTBOX.c.status == "sending")
            .values(**values)
        )
        if status == "failed":
            _log_in_conversation(session, message, "failed", None, now)
        return status
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == message.id, OUTBOX.c.status == "sending")
        .values(
            status="failed",
            error_code=_code(result.error_code),
            error_detail=_detail(result, message.attempts),
            next_attempt_at=None,
        )
    )
    if result.outcome == Outcome.opted_out:
        record_opt_out(
            session=session,
            clock=clock,
            channel=message.channel,
            address=message.recipient,
            source=f"provider {result.error_code or ''}",
        )
    _log_in_conversation(session, message, "failed", None, now)
    return "failed"


class Report(StrEnum):
    """A delivery receipt, in the dispatcher's terms (sms/status.py maps Twilio's)."""

    sent = "sent"
    delivered = "delivered"
    transient = "transient"  # undelivered, worth another try (e.g. handset unreachable)
    permanent = "permanent"
    opted_out = "opted_out"


def record_delivery_report(
    *,
    session: Session,
    clock: Clock,
    provider_id: str,
    report: Report,
    error_code: str | None = None,
    detail: str = "",
    retry: RetryPolicy = DEFAULT_RETRY,
    rand: Callable[[], float] = random.random,
) -> str | None:
    """Apply a delivery receipt to the message with this provider id; returns its new status
    (None: no such message). Receipts may come late and out of order: a delivered message
    stays delivered. An undelivered message worth another try goes back to `pending`
    (a new send, with a new provider id; the old one is kept in `error_detail`)."""
    row = session.execute(
        select(
            OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.channel, OUTBOX.c.recipient
        ).where(OUTBOX.c.provider_id == provider_id)
    ).first()
    if row is None:
        return None
    now = clock.now()
    where = [OUTBOX.c.id == row.id, OUTBOX.c.provider_id == provider_id]
    if row.status in ("delivered", "cancelled") or (
        row.status == "failed" and report != Report.delivered
    ):
        return str(row.status)
    values: dict[str, Any]
    if report == Report.sent:
        if row.status == "sent":
            return "sent"
        values = {"status": "sent", "sent_at": now, "next_attempt_at": None}
    elif report == Report.delivered:
        values = {
            "status": "delivered",
            "delivered_at": now,
            "next_attempt_at": None,
            "error_code": None,
        }
    elif report == Report.transient and row.attempts < retry.max_attempts:
        values = {
            "status": "pending",
            "provider_id": None,
            "error_code": _code(error_code),
            "error_detail": f"{provider_id} undelivered ({error_code}) {detail}".strip()[:500],
            "next_attempt_at": now + retry.delay(row.attempts, rand()),
        }
    else:
        values = {
            "status": "failed",
            "error_code": _code(error_code),
            "error_detail": f"{provider_id}: {detail}".strip()[:500],
        }
        if report == Report.opted_out:
            record_opt_out(
                session=session,
                clock=clock,
                channel=row.channel,
                address=row.recipient,
                source=f"provider {error_code or ''}",
            )
    session.execute(update(OUTBOX).where(*where).values(**values))
    session.execute(
        update(CONVERSATION_MESSAGE)
        .where(CONVERSATION_MESSAGE.c.outbox_message_id == row.id)
        .values(status=values["status"])
    )
    return str(values["status"])


# Built once: the dispatcher runs these for every message sent.
_MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("m_id"), OUTBOX.c.provider_id.is_(None))
    .values(
        status=bindparam("m_status"),
        provider_id=bindparam("m_provider_id"),
        sent_at=bindparam("m_now"),
        delivered_at=bindparam("m_delivered_at"),
        next_attempt_at=None,
        error_code=None,
    )
)


def _code(code: str | None) -> str | None:
    return code[:32] if code else None


def _detail(result: SendResult, attempts: int) -> str:
    return f"attempt {attempts}: {result.detail}".strip()[:500]


def _log_in_conversation(
    session: Session, message: Claimed, status: str, provider_id: str | None, now: datetime
) -> None:
    """Show the message in its recipient's conversation (the staff console follows it): the
    conversation layer may have logged it already (linked by outbox id), else a line is
    added if the recipient has a conversation (looked up at claim time). No conversation is
    created."""
    conversation_id = message.conversation_id
    if conversation_id is None:
        return  # nobody to show it to (and so no line the conversation layer linked)
    values: dict[str, Any] = {"status": status}
    if provider_id is not None:
        values["provider_message_id"] = provider_id
    linked = session.execute(
        update(CONVERSATION_MESSAGE)
        .where(
            CONVERSATION_MESSAGE.c.conversation_id == conversation_id,
            CONVERSATION_MESSAGE.c.outbox_message_id == message.id,
        )
        .values(**values)
    )
    if linked.rowcount:  # type: ignore[attr-defined]
        return
    session.execute(
        insert(CONVERSATION_MESSAGE).values(
            conversation_id=conversation_id,
            direction="out",
            author="system" if message.kind == AUTOMATED else "bot",
            channel=message.channel,
            # a one-time code goes to the phone, never into what staff read
            body=redact_codes(message.body)
            if message.template in SECRET_TEMPLATES
            else message.body,
            provider_message_id=provider_id,
            status=status,
            outbox_message_id=message.id,
            created_at=now,
        )
    )
    session.execute(
        update(CONVERSATION)
        .where(CONVERSATION.c.id == conversation_id, CONVERSATION.c.last_message_at < now)
        .values(last_message_at=now)
    )


def outbox_counts(session: Session, statuses: Iterable[str] | None = None) -> dict[str, int]:
    """How many outbox rows are in each status (for the CLI and the benchmark)."""
    query = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
    if statuses is not None:
        query = query.where(OUTBOX.c.status.in_(list(statuses)))
    return {status: int(count) for status, count in session.execute(query).all()}


__all__ = [
    "DEFAULT_RETRY",
    "LEASE",
    "OPTED_OUT_REASON",
    "Claimed",
    "Outcome",
    "Report",
    "RetryPolicy",
    "SendResult",
    "Transport",
    "claim_batch",
    "outbox_counts",
    "record_delivery_report",
    "record_result",
    "release_expired_leases",
]
