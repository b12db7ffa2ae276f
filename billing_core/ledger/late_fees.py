"""Pure late fee rules (电费违约金): a day's fee on an overdue amount, which bills owe one on a
day, and what is open on each bill, over plain values (docs/domain.md §5,
policies/late_fees.yaml)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from billing_core.customers.model import CustomerKind
from billing_core.ledger.model import ZERO, Entry, EntryKind, allocate
from billing_core.ledger.policy import LateFeePolicy

CENT = Decimal("0.01")
# The debits that make up what a bill itself owes: late fees never earn late fees.
BILL_DEBITS = frozenset({EntryKind.charge, EntryKind.adjustment})


class OpenCharge(NamedTuple):
    """What is still open on one bill at the start of a day, with what its rate depends on."""

    bill_id: int
    open_amount: Decimal
    due_date: date | None
    charge_year: int  # the year the bill was issued (电费发行年份)
    customer_kind: str


class BillTerms(NamedTuple):
    """A live bill's due date and the customer's kind, as `open_charges` needs them."""

    due_date: date | None
    customer_kind: str


def daily_rate(
    *, customer_kind: str, charge_year: int, today: date, policy: LateFeePolicy
) -> Decimal:
    """Residential: one rate. Others: the current-year rate on arrears issued this year, the
    earlier-years rate on arrears issued in any earlier year (art. 98)."""
    if customer_kind == CustomerKind.residential:
        return policy.residential.daily_rate
    if charge_year < today.year:
        return policy.non_residential.earlier_years_daily_rate
    return policy.non_residential.current_year_daily_rate


def late_fee_for_day(
    *,
    overdue: Decimal,
    customer_kind: str,
    charge_year: int,
    today: date,
    policy: LateFeePolicy,
) -> Decimal:
    """One day's fee on `overdue`, half-up to the cent; zero when nothing is overdue or the
    fee comes to less than the policy's minimum."""
    if overdue <= ZERO:
        return ZERO
    rate = daily_rate(
        customer_kind=customer_kind, charge_year=charge_year, today=today, policy=policy
    )
    fee = (overdue * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    return fee if fee >= policy.minimum_fee and fee > ZERO else ZERO


def fees_due(
    open_charges: Iterable[OpenCharge], today: date, policy: LateFeePolicy
) -> list[tuple[int, Decimal]]:
    """(bill id, fee) for every bill that owes a late fee for `today`: something open at the
    start of the day and `today` after its due date (the fee runs from the day after the due
    date up to and including the day it is paid). Bills ordered by id."""
    fees = []
    for charge in sorted(open_charges, key=lambda c: c.bill_id):
        if charge.due_date is None or today <= charge.due_date:
            continue
        fee = late_fee_for_day(
            overdue=charge.open_amount,
            customer_kind=charge.customer_kind,
            charge_year=charge.charge_year,
            today=today,
            policy=policy,
        )
        if fee > ZERO:
            fees.append((charge.bill_id, fee))
    return fees


def open_charges(
    entries: Sequence[Entry], bills: Mapping[int, BillTerms], *, late_fees_last: bool
) -> list[OpenCharge]:
    """What is open on each live bill (`bills`), from one account's entries: the open amounts
    `allocate` leaves on the bill's charge and adjustments. Bills not in `bills` (cancelled,
    in review) are left out."""
    allocation = allocate(entries, late_fees_last=late_fees_last)
    open_by_bill: dict[int, Decimal] = {}
    issued_year: dict[int, int] = {}
    for entry in entries:
        bill_id = entry.bill_id
        if bill_id is None or bill_id not in bills or entry.kind not in BILL_DEBITS:
            continue
        open_amount = allocation.open_by_entry.get(entry.id, ZERO)
        open_by_bill[bill_id] = open_by_bill.get(bill_id, ZERO) + open_amount
        if entry.kind == EntryKind.charge:
            issued_year[bill_id] = entry.effective_on.year
    return [
        OpenCharge(
            bill_id=bill_id,
            open_amount=amount,
            due_date=bills[bill_id].due_date,
            charge_year=issued_year[bill_id],
            customer_kind=bills[bill_id].customer_kind,
        )
        for bill_id, amount in sorted(open_by_bill.items())
        if amount > ZERO and bill_id in issued_year  # a bill is owed once it is charged
    ]
