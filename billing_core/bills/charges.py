"""A bill's charge in the ledger: posted when the bill is issued (the bill run posts them in
bulk, in its own transaction) and taken back when the bill is cancelled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlalchemy.engine import Dialect
from sqlmodel import Session, col

from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.db.fast import PendingRows, insert_pending, pending_rows
from billing_core.dedupe_keys import charge_key, reversal_key
from billing_core.ledger.model import EntryKind
from billing_core.ledger.service import LEDGER
from billing_core.ledger.tables import LedgerEntry

CHARGE_COLUMNS = ("account_id", "kind", "amount", "currency", "effective_on", "bill_id",
                  "dedupe_key", "actor", "note", "created_at")  # fmt: skip


def post_bill_charges(
    connection: Connection,
    *,
    bills: Sequence[tuple[int, int, Decimal, str, date]],
    now: datetime,
    actor: str = "bill-run",
) -> None:
    """Charge entries for issued bills, (bill id, account id, total, currency, issue date)
    each, in the caller's transaction; a bill already charged is skipped."""
    pending = pending_bill_charges(
        connection.dialect,
        bills=[(index, *bill[1:]) for index, bill in enumerate(bills)],
        now=now,
        actor=actor,
    )
    insert_pending(connection, pending, [bill[0] for bill in bills])


def pending_bill_charges(
    dialect: Dialect,
    *,
    bills: Sequence[tuple[int, int, Decimal, str, date]],
    now: datetime,
    actor: str = "bill-run",
) -> PendingRows:
    """The charge entries of bills not stored yet, (index of the bill's id among those its
    transaction reserves, account id, total, currency, issue date) each: converted ahead,
    but for the bill id and the key that holds it (`insert_pending`; a bill already
    charged is skipped)."""
    return pending_rows(
        dialect, LEDGER, CHARGE_COLUMNS,
        [(account_id, EntryKind.charge.value, total, currency, issued_on, actor, "", now)
         for _, account_id, total, currency, issued_on in bills],
        owners=[bill[0] for bill in bills],
        late={"bill_id": lambda _row, bill_id: bill_id,
              "dedupe_key": lambda _row, bill_id: charge_key(bill_id)},
        on_conflict_do_nothing=("dedupe_key",),
    )  # fmt: skip


def post_bill_charge(
    *, session: Session, clock: Clock, tz: ZoneInfo, bill: Bill, actor: str
) -> None:
    assert bill.id is not None
    post_bill_charges(
        session.connection(),
        bills=[(bill.id, bill.account_id, bill.total, bill.currency,
                clock.now().astimezone(tz).date())],
        now=clock.now(), actor=actor,
    )  # fmt: skip


def reverse_bill_charge(
    *, session: Session, clock: Clock, tz: ZoneInfo, bill: Bill, actor: str, reason: str
) -> LedgerEntry | None:
    """Take back a cancelled bill's charge (what was paid against it becomes credit that the
    re-bill consumes). None when the bill was never charged."""
    charge = session.scalars(
        select(LedgerEntry).where(col(LedgerEntry.dedupe_key) == charge_key(bill.id or 0))
    ).first()
    if charge is None:
        return None
    entry = LedgerEntry(
        account_id=bill.account_id,
        kind=EntryKind.charge_reversal,
        amount=-charge.amount,
        currency=charge.currency,
        effective_on=clock.now().astimezone(tz).date(),
        bill_id=bill.id,
        related_entry_id=charge.id,
        dedupe_key=reversal_key(bill.id or 0),
        actor=actor,
        note=reason[:300],
        created_at=clock.now(),
    )
    session.add(entry)
    session.flush()
    return entry
