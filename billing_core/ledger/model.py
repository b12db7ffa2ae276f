"""Pure ledger rules: allocating credits to charges (oldest first, late fees last unless the
policy says otherwise), open amounts, credit (预存), and a bill's status from the ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

ZERO = Decimal(0)


class EntryKind(StrEnum):
    charge = "charge"  # a bill's total, when the bill is issued
    charge_reversal = "charge_reversal"  # a cancelled bill's charge taken back (退补)
    payment = "payment"
    late_fee = "late_fee"  # 电费违约金, one entry per account, bill and day
    late_fee_waiver = "late_fee_waiver"
    adjustment = "adjustment"  # a manual debit (+) or credit (−) with a reason
    refund = "refund"  # money paid back to the customer (退费): the account owes it again
    write_off = "write_off"


# Entries that take back one particular entry (the one named by related_entry_id).
TARGETED = frozenset({EntryKind.charge_reversal, EntryKind.late_fee_waiver})


class Entry(NamedTuple):
    id: int
    kind: str
    amount: Decimal  # + the customer owes more, − less
    effective_on: date
    bill_id: int | None = None
    related_entry_id: int | None = None


class Allocation(NamedTuple):
    """What is still open on each debit entry, what credit is left over, and the balance."""

    open_by_entry: dict[int, Decimal]
    credit: Decimal  # unallocated credit (预存) the next charge consumes
    balance: Decimal  # sum of every entry: positive owed, negative in credit

    def open_for_bill(self, entries: Iterable[Entry], bill_id: int) -> Decimal:
        return sum(
            (self.open_by_entry.get(e.id, ZERO) for e in entries if e.bill_id == bill_id),
            ZERO,
        )


def allocate(entries: Sequence[Entry], *, late_fees_last: bool = True) -> Allocation:
    """Allocate every credit to the debits, oldest first.

    Targeted credits (a reversal, a waiver) first take back the entry they name. The other
    credits form one pool that pays the remaining debits in order of date (late fees after
    all other debits when `late_fees_last`); what the pool cannot spend is credit. So the
    open amounts minus the credit always equal the balance, and no debit is paid beyond its
    amount."""
    debits = [e for e in entries if e.amount > ZERO]
    open_by_entry = {e.id: e.amount for e in debits}
    pool = ZERO
    for entry in entries:
        if entry.amount >= ZERO:
            continue
        credit = -entry.amount
        target = entry.related_entry_id if entry.kind in TARGETED else None
        if target is not None and target in open_by_entry:
            taken = min(credit, open_by_entry[target])
            open_by_entry[target] -= taken
            credit -= taken
        pool += credit

    def order(entry: Entry) -> tuple[int, date, int]:
        late = 1 if late_fees_last and entry.kind == EntryKind.late_fee else 0
        return (late, entry.effective_on, entry.id)

    for entry in sorted(debits, key=order):
        if pool <= ZERO:
            break
        paid = min(pool, open_by_entry[entry.id])
        open_by_entry[entry.id] -= paid
        pool -= paid
    balance = sum((e.amount for e in entries), ZERO)
    return Allocation(open_by_entry, pool, balance)


class BillStanding(StrEnum):
    issued = "issued"  # nothing paid yet, not yet due
    partly_paid = "partly_paid"
    paid = "paid"
    overdue = "overdue"  # past its due date with something open


def bill_standing(
    *, total: Decimal, open_amount: Decimal, due_date: date | None, today: date
) -> BillStanding:
    """A bill's status follows from the ledger: what is open, and whether it is past due."""
    if open_amount <= ZERO:
        return BillStanding.paid
    if due_date is not None and today > due_date:
        return BillStanding.overdue
    if open_amount < total:
        return BillStanding.partly_paid
    return BillStanding.issued
