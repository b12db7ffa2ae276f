"""Record and consume domain events."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy.engine import Dialect
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.fast import (
    PendingRows,
    bind_converter,
    bulk_insert,
    pending_rows,
)
from billing_core.dedupe_keys import event_key
from billing_core.events.tables import DomainEvent

BILL_ISSUED = "bill_issued"
BILL_CANCELLED = "bill_cancelled"


EVENT = table_of(DomainEvent)
EVENT_COLUMNS = ("kind", "dedupe_key", "account_id", "payload", "created_at")


def record_events(*, session: Session, clock: Clock, events: list[dict[str, Any]]) -> None:
    """Insert events, ignoring any whose dedupe key is already recorded (idempotent)."""
    if not events:
        return
    now = clock.now()
    rows = [
        (e["kind"], e["dedupe_key"], e.get("account_id"), e.get("payload", {}), now) for e in events
    ]
    bulk_insert(session.connection(), EVENT, EVENT_COLUMNS, rows,
                on_conflict_do_nothing=("dedupe_key",))  # fmt: skip


class IssuedBill(NamedTuple):
    """What a "bill issued" event says of its bill, but its id."""

    account_id: int
    total: Decimal
    currency: str
    due_date: date
    period_start: date
    period_end: date


def bill_issued_event(
    *,
    bill_id: int,
    account_id: int,
    total: Decimal,
    currency: str,
    due_date: date,
    period_start: date,
    period_end: date,
) -> dict[str, Any]:
    """The "bill issued" event the notice step consumes; one per bill."""
    issued = IssuedBill(account_id, total, currency, due_date, period_start, period_end)
    return {
        "kind": BILL_ISSUED,
        "dedupe_key": bill_issued_key(bill_id),
        "account_id": issued.account_id,
        "payload": _issued_payload(bill_id, issued),
    }


# A partial, not a def: the bill run builds one key per bill through it.
bill_issued_key = partial(event_key, BILL_ISSUED)


def _issued_payload(bill_id: int, bill: IssuedBill) -> dict[str, Any]:
    return {
        "bill_id": bill_id,
        "total": str(bill.total),
        "currency": bill.currency,
        "due_date": bill.due_date.isoformat(),
        "period_start": bill.period_start.isoformat(),
        "period_end": bill.period_end.isoformat(),
    }


def issued_payload_text(bill: IssuedBill) -> tuple[str, str]:
    """The bill's "bill issued" payload as JSON text around its id, (before, after): the
    text `before + str(bill_id) + after` reads back as `_issued_payload(bill_id, bill)`."""
    return (
        '{"bill_id": ',
        f', "total": "{bill.total}", "currency": {json.dumps(bill.currency)}, '
        f'"due_date": "{bill.due_date.isoformat()}", '
        f'"period_start": "{bill.period_start.isoformat()}", '
        f'"period_end": "{bill.period_end.isoformat()}"}}',
    )


def pending_bill_issued_events(
    dialect: Dialect, *, bills: Sequence[tuple[int, IssuedBill]], now: datetime
) -> PendingRows:
    """The "bill issued" events of bills not stored yet, (index of the bill's id among
    those its transaction reserves, the bill) each: converted ahead, but for the key and
    payload, which hold the id (`insert_pending`; skipped where the key exists). Where the
    driver takes JSON as text (SQLite), each payload is written out here, and only its id
    goes in once reserved (a bill run holds SQLite's one writer meanwhile); elsewhere
    (psycopg wraps JSON itself) `insert_pending` converts it."""
    process = bind_converter(EVENT.c.payload, dialect)
    as_text = process is not None and isinstance(process({}), str)
    texts = [issued_payload_text(bill) for _, bill in bills] if as_text else []

    def payload(row: int, bill_id: int) -> Any:
        if as_text:
            before, after = texts[row]
            return f"{before}{bill_id}{after}"
        return _issued_payload(bill_id, bills[row][1])

    return pending_rows(
        dialect, EVENT, EVENT_COLUMNS,
        [(BILL_ISSUED, bill.account_id, now) for _, bill in bills],
        owners=[owner for owner, _ in bills],
        late={"dedupe_key": lambda _row, bill_id: bill_issued_key(bill_id), "payload": payload},
        on_conflict_do_nothing=("dedupe_key",),
        ready=("payload",) if as_text else (),
    )  # fmt: skip
