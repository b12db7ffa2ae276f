"""Publishing live events and reading them back by id.

`publish` inserts one row in the caller's transaction: the event exists exactly when the
change it describes does (a rolled-back change publishes nothing). On PostgreSQL it also
asks for `NOTIFY wattdesk_live`, which PostgreSQL delivers at commit, so a listening web
process wakes as soon as the row is visible. Readers (api/live.py) read `events_after` the
last id they delivered.

On PostgreSQL ids are taken from a sequence when the row is inserted, and transactions
commit in any order: id 11 may be visible before id 10 is (or id 10 may never be, when its
transaction rolls back). A reader therefore delivers only the ids up to the first missing
one, and skips a missing id only once every transaction that was running when the gap was
seen has ended (`in_flight`). For that, `publish` gives its transaction an id before it takes
the event's id. On SQLite there is one writer at a time: ids become visible in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.prepared import Prepared
from billing_core.live.tables import LiveEvent

CHANNEL = "wattdesk_live"  # PostgreSQL's NOTIFY channel
BODY_CHARS = 200  # of a message's body in its event: enough for an inbox line

MESSAGE_IN = "message.in"
MESSAGE_OUT = "message.out"
MESSAGE_STATUS = "message.status"
CONVERSATION_STATE = "conversation.state"
CONVERSATION_NOTE = "conversation.note"
KINDS = frozenset({MESSAGE_IN, MESSAGE_OUT, MESSAGE_STATUS, CONVERSATION_STATE, CONVERSATION_NOTE})

EVENT = table_of(LiveEvent)
_INSERT = Prepared(insert(EVENT).inline())  # no id to read back
# PostgreSQL: the NOTIFY (sent at commit) and a transaction id taken now, before the
# event's id (see the module's docstring).
_NOTIFY = Prepared(select(func.pg_notify(CHANNEL, ""), func.pg_current_xact_id()))
_AFTER = (
    select(EVENT.c.id, EVENT.c.at, EVENT.c.kind, EVENT.c.conversation_id, EVENT.c.payload)
    .where(EVENT.c.id > bindparam("after_id"))
    .order_by(EVENT.c.id)
    .limit(bindparam("limit"))
)
_AFTER_UP_TO = _AFTER.where(EVENT.c.id <= bindparam("up_to"))
_IDS_AFTER = (
    select(EVENT.c.id)
    .where(EVENT.c.id > bindparam("after_id"))
    .order_by(EVENT.c.id)
    .limit(bindparam("limit"))
)
# Transactions of this database holding a transaction id: those that may still commit rows.
_IN_FLIGHT = text(
    "SELECT backend_xid::text FROM pg_stat_activity"
    " WHERE datname = current_database() AND backend_xid IS NOT NULL"
)


class LiveRow(NamedTuple):
    """A stored event, as readers get it."""

    id: int
    at: datetime
    kind: str
    conversation_id: int | None
    payload: dict[str, Any]


def publish(
    session: Session,
    *,
    clock: Clock,
    kind: str,
    conversation_id: int | None,
    payload: dict[str, Any],
) -> None:
    """Record an event in the caller's transaction (one prepared INSERT; on PostgreSQL one
    statement more, for the NOTIFY)."""
    publish_all(session, clock=clock, events=[(kind, conversation_id, payload)])


def publish_all(
    session: Session, *, clock: Clock, events: Sequence[tuple[str, int | None, dict[str, Any]]]
) -> None:
    """Record events (kind, conversation id, payload) in the caller's transaction, their ids
    in the order given: one statement for all of them (a message and the bot's answer to it
    are two events of every answered message)."""
    for kind, _, _ in events:
        if kind not in KINDS:
            raise ValueError(f"unknown live event kind {kind!r}")
    if not events:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _NOTIFY.execute(connection, {})
    at = clock.now()
    rows = [
        {"at": at, "kind": kind, "conversation_id": conversation_id, "payload": payload}
        for kind, conversation_id, payload in events
    ]
    _INSERT.execute_many(connection, rows)


def message_payload(
    *, message_id: int | None, author: str, channel: str, body: str, **more: Any
) -> dict[str, Any]:
    """A message event's payload: what an inbox line shows without reading the message."""
    return {
        "message_id": message_id,
        "author": author,
        "channel": channel,
        "body": body[:BODY_CHARS],
        **more,
    }


def publish_status(
    session: Session,
    *,
    clock: Clock,
    conversation_id: int,
    message_id: int,
    outbox_message_id: int | None,
    status: str,
) -> None:
    """A transcript line's delivery status changed (the outbox sent it, a receipt came)."""
    payload = {"message_id": message_id, "outbox_message_id": outbox_message_id, "status": status}
    publish(session, clock=clock, kind=MESSAGE_STATUS, conversation_id=conversation_id,
            payload=payload)  # fmt: skip


def events_after(
    session: Session, *, after_id: int, limit: int = 500, up_to: int | None = None
) -> list[LiveRow]:
    """The events with an id after `after_id` (and at most `up_to`), oldest first."""
    params: dict[str, Any] = {"after_id": after_id, "limit": limit}
    statement = _AFTER
    if up_to is not None:
        statement, params["up_to"] = _AFTER_UP_TO, up_to
    return [LiveRow(*row) for row in session.execute(statement, params)]


def ids_after(session: Session, *, after_id: int, limit: int = 500) -> list[int]:
    """The ids alone of `events_after`: what a reader with nobody to give the events to
    needs to move its horizon on (no payload decoded)."""
    return list(session.scalars(_IDS_AFTER, {"after_id": after_id, "limit": limit}))


def latest_id(session: Session) -> int:
    """The newest event's id; 0 when there is none."""
    return int(session.scalar(select(func.max(EVENT.c.id))) or 0)


def in_flight(session: Session) -> frozenset[str] | None:
    """PostgreSQL: the ids of this database's transactions that may still commit events.
    None where ids become visible in order (SQLite)."""
    if session.connection().dialect.name != "postgresql":
        return None
    return frozenset(str(xid) for xid in session.scalars(_IN_FLIGHT))


def delete_older(session: Session, *, clock: Clock, keep_days: int, limit: int = 5000) -> int:
    """Delete up to `limit` of the oldest events older than `keep_days`; how many went. Walks
    the primary key from its start (ids grow with time), so no index on `at` is written by
    every event for a job that runs once a day."""
    cutoff = clock.now() - timedelta(days=keep_days)
    oldest = session.execute(select(EVENT.c.id, EVENT.c.at).order_by(EVENT.c.id).limit(limit)).all()
    last = None
    for event_id, at in oldest:
        if at >= cutoff:
            break
        last = event_id
    if last is None:
        return 0
    done = session.execute(delete(EVENT).where(EVENT.c.id <= last))
    return int(done.rowcount)  # type: ignore[attr-defined]
