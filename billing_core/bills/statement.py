"""What an account stands at: its balance, credit and open late fees, and each issued bill
with what is open on it, derived from the ledger and the bills (never stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, bindparam, select
from sqlmodel import Session

from billing_core.bills.tables import Bill
from billing_core.db.columns import table_of
from billing_core.db.prepared import Prepared
from billing_core.ledger.model import (
    ZERO,
    Allocation,
    BillStanding,
    Entry,
    EntryKind,
    allocate,
    bill_standing,
)
from billing_core.ledger.service import ENTRY_COLUMNS, LEDGER

_ACCOUNT_ID: BindParameter[int] = bindparam("account_id")


@dataclass(frozen=True)
class BillLine:
    bill_id: int
    period_start: date
    period_end: date
    total: Decimal
    open_amount: Decimal
    due_date: date | None
    standing: BillStanding
    kwh: Decimal | None = None  # what the bill charged for (a chat's "my bill" shows it)

    def as_json(self) -> dict[str, Any]:
        return {
            "bill_id": self.bill_id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "total": str(self.total),
            "open_amount": str(self.open_amount),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "standing": self.standing.value,
        }


@dataclass(frozen=True)
class Statement:
    """An account's position at a moment: derived from the ledger, never stored."""

    account_id: int
    currency: str
    balance: Decimal  # positive: owed; negative: in credit
    credit: Decimal
    late_fees_open: Decimal
    bills: tuple[BillLine, ...]  # issued bills, oldest first, with what is open on each

    @property
    def amount_due(self) -> Decimal:
        return max(self.balance, ZERO)

    @property
    def open_bills(self) -> tuple[BillLine, ...]:
        return tuple(b for b in self.bills if b.open_amount > ZERO)


BILLS = table_of(Bill)
# The entries and, beside each charge, its bill: one round trip for a statement.
_ENTRIES_WITH_BILLS = Prepared(
    select(*ENTRY_COLUMNS, BILLS.c.status, BILLS.c.period_start, BILLS.c.period_end,
           BILLS.c.total, BILLS.c.due_date, BILLS.c.kwh)
    .select_from(LEDGER.outerjoin(
        BILLS, (BILLS.c.id == LEDGER.c.bill_id) & (LEDGER.c.kind == EntryKind.charge.value)
    ))
    .where(LEDGER.c.account_id == _ACCOUNT_ID)
    .order_by(LEDGER.c.id)
)  # fmt: skip


class _BillRow(NamedTuple):
    status: str
    period_start: date
    period_end: date
    total: Decimal
    due_date: date | None
    kwh: Decimal | None


def account_statement(
    *, session: Session, account_id: int, today: date, currency: str, late_fees_last: bool = True
) -> Statement:
    entries: list[Entry] = []
    bills: dict[int, _BillRow] = {}
    rows = _ENTRIES_WITH_BILLS.execute(session.connection(), {"account_id": account_id})
    for row in rows.all():
        entry = Entry(*row[:6])
        entries.append(entry)
        if entry.kind == EntryKind.charge and entry.bill_id and row[6] is not None:
            bills[entry.bill_id] = _BillRow(*row[6:])
    allocation: Allocation = allocate(entries, late_fees_last=late_fees_last)
    bill_ids = sorted({e.bill_id for e in entries if e.kind == EntryKind.charge and e.bill_id})
    lines = []
    for bill_id in bill_ids:
        bill = bills[bill_id]
        if bill.status == "cancelled":
            continue
        open_amount = sum(
            (allocation.open_by_entry.get(e.id, ZERO) for e in entries
             if e.bill_id == bill_id and e.kind in (EntryKind.charge, EntryKind.adjustment)),
            ZERO,
        )  # fmt: skip
        lines.append(BillLine(
            bill_id=bill_id, period_start=bill.period_start, period_end=bill.period_end,
            total=bill.total, open_amount=open_amount, due_date=bill.due_date,
            standing=bill_standing(total=bill.total, open_amount=open_amount,
                                   due_date=bill.due_date, today=today),
            kwh=bill.kwh,
        ))  # fmt: skip
    late_open = sum(
        (allocation.open_by_entry.get(e.id, ZERO) for e in entries
         if e.kind == EntryKind.late_fee),
        ZERO,
    )  # fmt: skip
    return Statement(
        account_id=account_id,
        currency=currency,
        balance=allocation.balance,
        credit=allocation.credit,
        late_fees_open=late_open,
        bills=tuple(sorted(lines, key=lambda b: (b.period_start, b.bill_id))),
    )
