"""Claiming due outbox rows for the dispatcher, and the lease that covers a crash.

Rows are taken `FOR UPDATE SKIP LOCKED` on PostgreSQL, so dispatchers in several processes
never take the same row; on SQLite one writer at a time runs the same single UPDATE, guarded by
`status = 'pending'`. A claimed row is `sending`, with `next_attempt_at` holding its lease
deadline (the table has no separate lease column).

At claim time an automated message whose recipient's allowed hours are closed goes back to
`pending` with `not_before` at the window's next opening (it waits, it is not dropped), and a
message to an opted-out address is cancelled with the reason.

A crash before the provider is called leaves the row `sending` with no provider id: when its
lease expires the next claim returns it to `pending` and it is sent then (the rest of the crash
notes are in `billing_core.outbox.dispatch`). The lease is short (`LEASE`), so that a dead
dispatcher's rows go out again within seconds, and a live dispatcher renews it while it works
on its rows (`renew_leases`), so that a slow provider never lets a second dispatcher take a
row the first is still sending. A claim is known by its row and the attempt it counted
(`attempts`, raised by every claim): a renewal extends only the claims it names, never a claim
another dispatcher made of the same row after this one's lease ran out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.customers.tables import Contact, Customer
from billing_core.db.columns import table_of
from billing_core.outbox.model import AUTOMATED
from billing_core.outbox.tables import OptOut, OutboxMessage
from billing_core.outbox.transport import Claimed
from billing_core.outbox.windows import (
    CONTACT_DEFAULT,
    SendWindow,
    effective_window,
    next_send_time,
)
from billing_core.transcripts.tables import Conversation

OUTBOX = table_of(OutboxMessage)
OPT_OUT = table_of(OptOut)
CONTACT = table_of(Contact)
CUSTOMER = table_of(Customer)
CONVERSATION = table_of(Conversation)

# A claimed row not recorded or renewed by then is the dispatcher's crash. Its dispatcher
# renews it several times a lease (scheduler/dispatcher.py), so a slow send keeps it.
LEASE = timedelta(seconds=30)
OPTED_OUT_REASON = "recipient opted out (STOP)"
# The window when no policy is handed in: policies/outbox.yaml's shipped default.
DEFAULT_WINDOW = (CONTACT_DEFAULT.allowed_from, CONTACT_DEFAULT.allowed_until)


def claim_batch(
    *,
    session: Session,
    clock: Clock,
    limit: int,
    tz: ZoneInfo,
    channels: Sequence[str] | None = None,
    lease: timedelta = LEASE,
    default_window: SendWindow = CONTACT_DEFAULT,
) -> list[Claimed]:
    """Claim up to `limit` due messages (pending, `not_before` and any retry time passed),
    by priority, then `not_before`, then id; mark them `sending` and count the attempt.
    Returns those that may go now: messages to opted-out addresses are cancelled, and
    automated ones outside their recipient's hours are put back until the window opens.
    `tz` is the utility's zone, for customers without one of their own; `default_window` the
    policy's hours (policies/outbox.yaml) for a recipient who has not chosen their own."""
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
            OUTBOX.c.payload,
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
    windows = _windows(session, [r for r in live if r.kind == AUTOMATED], tz, default_window)
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
                row.payload,
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


def renew_leases(
    *, session: Session, now: datetime, held: Iterable[tuple[int, int]], lease: timedelta = LEASE
) -> set[int]:
    """Extend to `now + lease` the leases of the claims `held` (row id, the claim's attempt)
    that are still this claim's: the row `sending`, its attempt count unchanged (a claim of
    the row by another dispatcher, after this lease ran out, counted another attempt).
    Returns the ids renewed; a held claim not among them was lost and is not to be sent."""
    held = list(held)
    if not held:
        return set()
    renewed: set[int] = set()
    for start in range(0, len(held), _RENEW_CHUNK):  # a bounded number of bound values
        chunk = held[start : start + _RENEW_CHUNK]
        renewed.update(
            session.execute(
                update(OUTBOX)
                .where(
                    OUTBOX.c.status == "sending",
                    tuple_(OUTBOX.c.id, OUTBOX.c.attempts).in_(chunk),
                )
                .values(next_attempt_at=now + lease)
                .returning(OUTBOX.c.id)
            ).scalars()
        )
    return renewed


_RENEW_CHUNK = 400


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


def _windows(
    session: Session, rows: Sequence[Any], tz: ZoneInfo, default: SendWindow = CONTACT_DEFAULT
) -> dict[int, Window]:
    """Each automated row's allowed hours and zone: from the recipient's contact (the one of
    the row's customer if there are several; the policy's `default` while the contact keeps
    the default hours), else the policy's default in the utility's zone."""
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
            windows[row.id] = (default.allowed_from, default.allowed_until, tz)
            continue
        contact = mine[0]
        hours = effective_window(
            SendWindow(contact.allowed_from, contact.allowed_until), default=default
        )
        windows[row.id] = (hours.allowed_from, hours.allowed_until, _zone(contact.timezone, tz))
    return windows


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default
