"""Record and consume domain events."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert
from billing_core.events.tables import DomainEvent

BILL_ISSUED = "bill_issued"
BILL_CANCELLED = "bill_cancelled"


def record_events(*, session: Session, clock: Clock, events: list[dict[str, Any]]) -> None:
    """Insert events, ignoring any whose dedupe key is already recorded (idempotent)."""
    if not events:
        return
    now = clock.now()
    rows = [
        (e["kind"], e["dedupe_key"], e.get("account_id"), e.get("payload", {}), now) for e in events
    ]
    bulk_insert(
        session.connection(),
        table_of(DomainEvent),
        ("kind", "dedupe_key", "account_id", "payload", "created_at"),
        rows,
        on_conflict_do_nothing=("dedupe_key",),
    )


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
    return {
        "kind": BILL_ISSUED,
        "dedupe_key": f"{BILL_ISSUED}:{bill_id}",
        "account_id": account_id,
        "payload": {
            "bill_id": bill_id,
            "total": str(total),
            "currency": currency,
            "due_date": due_date.isoformat(),
            "period_start": period_start.isoformat(),
            "period_end": period_end.isoformat(),
        },
    }
