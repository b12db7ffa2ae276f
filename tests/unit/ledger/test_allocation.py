"""Allocation (docs/domain.md §4) as pure rules: oldest charge first, late fees last unless the
policy says otherwise, overpayment as credit, targeted reversals and waivers; and properties
that the ledger always balances and no debit is ever paid beyond its amount."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing_core.ledger.model import (
    TARGETED,
    ZERO,
    Allocation,
    BillStanding,
    Entry,
    EntryKind,
    allocate,
    bill_standing,
)

D = Decimal
START = date(2025, 1, 1)

# --- examples ------------------------------------------------------------------------------


def test_a_payment_pays_the_oldest_charge_first() -> None:
    entries = [
        Entry(1, EntryKind.charge, D("80.00"), date(2026, 2, 1), bill_id=2),
        Entry(2, EntryKind.charge, D("100.00"), date(2026, 1, 1), bill_id=1),
        Entry(3, EntryKind.payment, D("-150.00"), date(2026, 2, 10)),
    ]
    result = allocate(entries)
    assert result.open_by_entry == {1: D("30.00"), 2: ZERO}
    assert result.credit == ZERO
    assert result.balance == D("30.00")


def test_an_overpayment_is_credit_that_the_next_charge_consumes() -> None:
    entries = [
        Entry(1, EntryKind.charge, D("100.00"), date(2026, 1, 1), bill_id=1),
        Entry(2, EntryKind.payment, D("-130.00"), date(2026, 1, 5)),
    ]
    paid = allocate(entries)
    assert paid.open_by_entry == {1: ZERO} and paid.credit == D("30.00")
    assert paid.balance == D("-30.00")
    entries.append(Entry(3, EntryKind.charge, D("50.00"), date(2026, 2, 1), bill_id=2))
    after = allocate(entries)
    assert after.open_by_entry == {1: ZERO, 3: D("20.00")} and after.credit == ZERO


def test_late_fees_are_paid_last_unless_the_policy_says_otherwise() -> None:
    entries = [
        Entry(1, EntryKind.charge, D("100.00"), date(2026, 1, 1), bill_id=1),
        Entry(2, EntryKind.late_fee, D("5.00"), date(2026, 1, 20), bill_id=1),
        Entry(3, EntryKind.charge, D("100.00"), date(2026, 2, 1), bill_id=2),
        Entry(4, EntryKind.payment, D("-200.00"), date(2026, 2, 5)),
    ]
    assert allocate(entries).open_by_entry == {1: ZERO, 2: D("5.00"), 3: ZERO}
    assert allocate(entries, late_fees_last=False).open_by_entry == {
        1: ZERO,
        2: ZERO,
        3: D("5.00"),
    }


def test_a_reversal_of_a_paid_charge_turns_what_was_paid_into_credit() -> None:
    entries = [
        Entry(1, EntryKind.charge, D("100.00"), date(2026, 1, 1), bill_id=1),
        Entry(2, EntryKind.payment, D("-100.00"), date(2026, 1, 5)),
        Entry(3, EntryKind.charge_reversal, D("-100.00"), date(2026, 1, 9), 1, 1),
    ]
    result = allocate(entries)
    assert result.open_by_entry == {1: ZERO}
    assert result.credit == D("100.00") and result.balance == D("-100.00")


def test_a_waiver_takes_back_its_own_late_fee_not_the_charge() -> None:
    entries = [
        Entry(1, EntryKind.charge, D("100.00"), date(2026, 1, 1), bill_id=1),
        Entry(2, EntryKind.late_fee, D("3.00"), date(2026, 1, 20), bill_id=1),
        Entry(3, EntryKind.late_fee_waiver, D("-3.00"), date(2026, 1, 21), 1, 2),
    ]
    assert allocate(entries).open_by_entry == {1: D("100.00"), 2: ZERO}


def test_a_refund_paid_out_of_credit_leaves_the_account_square() -> None:
    entries = [
        Entry(1, EntryKind.charge, D("100.00"), date(2026, 1, 1), bill_id=1),
        Entry(2, EntryKind.payment, D("-100.00"), date(2026, 1, 5)),
        Entry(3, EntryKind.payment, D("-100.00"), date(2026, 1, 5)),  # paid twice
        Entry(4, EntryKind.refund, D("100.00"), date(2026, 1, 9)),
    ]
    result = allocate(entries)
    assert result.open_by_entry == {1: ZERO, 4: ZERO}
    assert result.credit == ZERO and result.balance == ZERO


def test_a_bills_standing_follows_from_what_is_open_and_the_due_date() -> None:
    due = date(2026, 1, 15)

    def standing(open_amount: str, today: date) -> BillStanding:
        return bill_standing(
            total=D("100.00"), open_amount=D(open_amount), due_date=due, today=today
        )

    assert standing("100.00", due) == BillStanding.issued
    assert standing("40.00", due) == BillStanding.partly_paid
    assert standing("0.00", due) == BillStanding.paid
    assert standing("40.00", due + timedelta(days=1)) == BillStanding.overdue
    assert standing("0.00", due + timedelta(days=1)) == BillStanding.paid


# --- properties ----------------------------------------------------------------------------

cents = st.integers(min_value=1, max_value=200_000).map(lambda n: Decimal(n).scaleb(-2))
days = st.integers(min_value=0, max_value=400).map(lambda n: START + timedelta(days=n))
DEBIT_KINDS = (EntryKind.charge, EntryKind.late_fee, EntryKind.adjustment, EntryKind.refund)
POOL_CREDITS = (EntryKind.payment, EntryKind.write_off, EntryKind.adjustment)


@st.composite
def ledgers(draw: st.DrawFn) -> list[Entry]:
    """An account's entries in the order they were posted: debits, plain credits, and
    reversals or waivers that name an earlier charge or late fee."""
    entries: list[Entry] = []
    for entry_id in range(1, draw(st.integers(min_value=0, max_value=25)) + 1):
        charges = [e.id for e in entries if e.kind == EntryKind.charge]
        fees = [e.id for e in entries if e.kind == EntryKind.late_fee]
        choices = ["debit", "credit"]
        choices += ["reversal"] if charges else []
        choices += ["waiver"] if fees else []
        what = draw(st.sampled_from(choices))
        amount, on = draw(cents), draw(days)
        bill = draw(st.integers(min_value=1, max_value=4))
        if what == "debit":
            entry = Entry(entry_id, draw(st.sampled_from(DEBIT_KINDS)), amount, on, bill)
        elif what == "credit":
            entry = Entry(entry_id, draw(st.sampled_from(POOL_CREDITS)), -amount, on)
        else:
            kind = EntryKind.charge_reversal if what == "reversal" else EntryKind.late_fee_waiver
            target = draw(st.sampled_from(charges if what == "reversal" else fees))
            entry = Entry(entry_id, kind, -amount, on, bill, target)
        entries.append(entry)
    return entries


def debits(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.amount > ZERO]


def targeted_take(entries: list[Entry], debit: Entry) -> Decimal:
    """What the reversals and waivers naming `debit` take back from it."""
    named = sum(
        (-e.amount for e in entries if e.kind in TARGETED and e.related_entry_id == debit.id),
        ZERO,
    )
    return min(debit.amount, named)


def pool_paid(entries: list[Entry], result: Allocation, debit: Entry) -> Decimal:
    """What the pool of payments and other credits paid on `debit`."""
    return debit.amount - targeted_take(entries, debit) - result.open_by_entry[debit.id]


@given(ledgers(), st.booleans())
def test_the_ledger_always_balances(entries: list[Entry], late_fees_last: bool) -> None:
    result = allocate(entries, late_fees_last=late_fees_last)
    assert result.balance == sum((e.amount for e in entries), ZERO)
    assert sum(result.open_by_entry.values(), ZERO) - result.credit == result.balance
    assert result.credit >= ZERO


@given(ledgers(), st.booleans())
def test_no_debit_is_paid_beyond_its_amount(entries: list[Entry], late_fees_last: bool) -> None:
    result = allocate(entries, late_fees_last=late_fees_last)
    assert set(result.open_by_entry) == {e.id for e in debits(entries)}
    for debit in debits(entries):
        assert ZERO <= result.open_by_entry[debit.id] <= debit.amount
        assert pool_paid(entries, result, debit) >= ZERO


@given(ledgers(), st.booleans())
def test_no_debit_stays_open_while_credit_remains(
    entries: list[Entry], late_fees_last: bool
) -> None:
    result = allocate(entries, late_fees_last=late_fees_last)
    if result.credit > ZERO:
        assert all(amount == ZERO for amount in result.open_by_entry.values())


@given(ledgers(), st.booleans())
def test_credits_pay_the_oldest_debit_first(entries: list[Entry], late_fees_last: bool) -> None:
    result = allocate(entries, late_fees_last=late_fees_last)

    def order(e: Entry) -> tuple[int, date, int]:
        return (1 if late_fees_last and e.kind == EntryKind.late_fee else 0, e.effective_on, e.id)

    in_order = sorted(debits(entries), key=order)
    for later_index, later in enumerate(in_order):
        if pool_paid(entries, result, later) > ZERO:
            for earlier in in_order[:later_index]:
                assert result.open_by_entry[earlier.id] == ZERO


@given(ledgers())
def test_late_fees_are_paid_only_after_every_other_debit(entries: list[Entry]) -> None:
    result = allocate(entries, late_fees_last=True)
    others_open = any(
        result.open_by_entry[e.id] > ZERO for e in debits(entries) if e.kind != EntryKind.late_fee
    )
    if others_open:
        for fee in debits(entries):
            if fee.kind == EntryKind.late_fee:
                assert pool_paid(entries, result, fee) == ZERO


@given(ledgers(), st.booleans(), st.data())
def test_a_waiver_for_what_is_open_reduces_only_its_target(
    entries: list[Entry], late_fees_last: bool, data: st.DataObject
) -> None:
    before = allocate(entries, late_fees_last=late_fees_last)
    open_debits = [e for e in debits(entries) if before.open_by_entry[e.id] > ZERO]
    if not open_debits:
        return
    target = data.draw(st.sampled_from(open_debits))
    most = int(before.open_by_entry[target.id].scaleb(2))
    amount = Decimal(data.draw(st.integers(min_value=1, max_value=most))).scaleb(-2)
    kind = (
        EntryKind.late_fee_waiver
        if target.kind == EntryKind.late_fee
        else EntryKind.charge_reversal
    )
    waiver = Entry(len(entries) + 1, kind, -amount, START, target.bill_id, target.id)
    after = allocate([*entries, waiver], late_fees_last=late_fees_last)
    assert after.open_by_entry[target.id] == before.open_by_entry[target.id] - amount
    assert after.credit == before.credit
    for debit in debits(entries):
        if debit.id != target.id:
            assert after.open_by_entry[debit.id] == before.open_by_entry[debit.id]


@given(ledgers(), st.booleans(), st.data())
def test_a_reversal_never_adds_to_what_is_owed(
    entries: list[Entry], late_fees_last: bool, data: st.DataObject
) -> None:
    """A reversal of any size (a paid charge taken back whole) frees what was paid on its
    target for the other debits, or as credit; it never leaves anything owing more."""
    charges = [e for e in entries if e.kind == EntryKind.charge]
    if not charges:
        return
    target = data.draw(st.sampled_from(charges))
    amount = data.draw(cents)
    reversal = Entry(len(entries) + 1, EntryKind.charge_reversal, -amount, START, None, target.id)
    before = allocate(entries, late_fees_last=late_fees_last)
    after = allocate([*entries, reversal], late_fees_last=late_fees_last)
    assert after.balance == before.balance - amount
    assert after.credit >= before.credit
    for debit in debits(entries):
        assert after.open_by_entry[debit.id] <= before.open_by_entry[debit.id]
