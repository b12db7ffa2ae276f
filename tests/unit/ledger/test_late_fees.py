"""Late fees (电费违约金) as pure rules: the daily rates of 供电营业规则 art. 98 from the policy
file, when a fee starts, rounding and the minimum, and what a bill's overdue amount is."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.customers.model import CustomerKind
from billing_core.ledger.late_fees import (
    BillTerms,
    OpenCharge,
    fees_due,
    late_fee_for_day,
    open_charges,
)
from billing_core.ledger.model import ZERO, Entry, EntryKind
from billing_core.ledger.policy import LateFeePolicy, load_late_fee_policy
from billing_core.policies import PolicyError
from billing_core.staff.model import Role

D = Decimal
POLICY = load_late_fee_policy()
RESIDENTIAL = CustomerKind.residential.value
BUSINESS = CustomerKind.non_residential.value
TODAY = date(2026, 3, 10)


def fee(
    overdue: str, kind: str = RESIDENTIAL, year: int = 2026, policy: LateFeePolicy = POLICY
) -> Decimal:
    return late_fee_for_day(
        overdue=D(overdue), customer_kind=kind, charge_year=year, today=TODAY, policy=policy
    )


# --- the policy file -----------------------------------------------------------------------


def test_the_policy_file_holds_the_supply_business_rules_defaults() -> None:
    assert POLICY.start == "day_after_due_date"
    assert POLICY.residential.daily_rate == D("0.001")
    assert POLICY.non_residential.current_year_daily_rate == D("0.002")
    assert POLICY.non_residential.earlier_years_daily_rate == D("0.003")
    assert POLICY.late_fees_last is True
    assert POLICY.minimum_fee == D("0.01")
    assert set(POLICY.waiver_roles) == {Role.collections, Role.admin}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version: 1\neffective_from: 2025-01-01\ngrace_days: 3\n", "grace_days"),
        ("version: 1\neffective_from: 2025-01-01\nresidential: {daily_rate: 0.1}\n", "daily_rate"),
        ("version: 1\neffective_from: 2025-01-01\nstart: due_date\n", "start"),
        ("version: 1\neffective_from: 2025-01-01\nwaiver_roles: [janitor]\n", "waiver_roles"),
        ("version: 1\neffective_from: 2025-01-01\nminimum_fee: 0.001\n", "minimum_fee"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "late_fees.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=problem):
        load_late_fee_policy(tmp_path)


# --- a day's fee ---------------------------------------------------------------------------


def test_residential_customers_pay_a_tenth_of_a_percent_a_day() -> None:
    assert fee("1000.00") == D("1.00")
    assert fee("1000.00", year=2024) == D("1.00")  # one rate whatever the arrears' year


def test_other_customers_pay_more_on_arrears_from_earlier_years() -> None:
    assert fee("1000.00", BUSINESS, year=2026) == D("2.00")
    assert fee("1000.00", BUSINESS, year=2025) == D("3.00")
    assert fee("1000.00", BUSINESS, year=2019) == D("3.00")


def test_a_days_fee_is_rounded_half_up_to_the_cent() -> None:
    assert fee("5.00") == D("0.01")  # 0.005
    assert fee("14.99") == D("0.01")  # 0.01499
    assert fee("15.00") == D("0.02")  # 0.015
    assert fee("4.99") == ZERO  # 0.00499: nothing posted


def test_a_fee_below_the_policy_minimum_is_not_charged() -> None:
    strict = POLICY.model_copy(update={"minimum_fee": D("1.00")})
    assert fee("994.00", policy=strict) == ZERO  # 0.99
    assert fee("1000.00", policy=strict) == D("1.00")


def test_nothing_overdue_costs_nothing() -> None:
    assert fee("0.00") == ZERO
    assert fee("-5.00") == ZERO


@given(
    st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2)),
    st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2)),
    st.sampled_from([RESIDENTIAL, BUSINESS]),
    st.integers(min_value=2000, max_value=2026),
)
def test_a_days_fee_is_the_rate_in_cents_and_grows_with_what_is_overdue(
    a: Decimal, b: Decimal, kind: str, year: int
) -> None:
    small, large = sorted((a, b))
    low, high = fee(str(small), kind, year), fee(str(large), kind, year)
    assert ZERO <= low <= high
    assert high == high.quantize(D("0.01"))
    assert abs(high - large * D("0.003")) <= large * D("0.002") + D("0.005")
    rate = D("0.001") if kind == RESIDENTIAL else D("0.002") if year == 2026 else D("0.003")
    assert abs(high - large * rate) <= D("0.005")


# --- which bills owe a fee on a day --------------------------------------------------------


def charge(bill_id: int, open_amount: str, due: date | None, kind: str = RESIDENTIAL) -> OpenCharge:
    return OpenCharge(bill_id, D(open_amount), due, 2026, kind)


def test_a_fee_runs_from_the_day_after_the_due_date() -> None:
    due = date(2026, 3, 1)
    bills = [charge(1, "1000.00", due)]
    assert fees_due(bills, due, POLICY) == []
    assert fees_due(bills, due + timedelta(days=1), POLICY) == [(1, D("1.00"))]
    assert fees_due(bills, due + timedelta(days=30), POLICY) == [(1, D("1.00"))]


def test_bills_without_a_due_date_or_nothing_open_owe_no_fee() -> None:
    bills = [
        charge(3, "200.00", date(2026, 3, 1), BUSINESS),
        charge(1, "500.00", None),
        charge(2, "0.00", date(2026, 3, 1)),
        charge(4, "300.00", date(2026, 3, 20)),
    ]
    assert fees_due(bills, TODAY, POLICY) == [(3, D("0.40"))]


# --- what is overdue on a bill -------------------------------------------------------------


def test_a_bills_overdue_amount_is_what_allocation_leaves_open_on_its_charges() -> None:
    due = date(2026, 2, 15)
    terms = {1: BillTerms(due, RESIDENTIAL), 2: BillTerms(due, RESIDENTIAL)}
    entries = [
        Entry(1, EntryKind.charge, D("300.00"), date(2026, 1, 31), bill_id=1),
        Entry(2, EntryKind.adjustment, D("20.00"), date(2026, 2, 3), bill_id=1),
        Entry(3, EntryKind.late_fee, D("0.30"), date(2026, 2, 16), bill_id=1),
        Entry(4, EntryKind.charge, D("100.00"), date(2026, 2, 1), bill_id=2),
        Entry(5, EntryKind.payment, D("-150.00"), date(2026, 2, 20)),
        Entry(6, EntryKind.charge, D("80.00"), date(2026, 2, 1), bill_id=3),  # cancelled
        Entry(7, EntryKind.charge_reversal, D("-80.00"), date(2026, 2, 5), 3, 6),
    ]
    result = open_charges(entries, terms, late_fees_last=True)
    # 150 pays bill 1's charge (oldest) first; its adjustment stays open; late fees earn none.
    assert result == [
        OpenCharge(1, D("170.00"), due, 2026, RESIDENTIAL),
        OpenCharge(2, D("100.00"), due, 2026, RESIDENTIAL),
    ]


def test_a_charge_issued_last_year_counts_as_arrears_from_an_earlier_year() -> None:
    due = date(2026, 1, 10)
    entries = [Entry(1, EntryKind.charge, D("1000.00"), date(2025, 12, 26), bill_id=1)]
    result = open_charges(entries, {1: BillTerms(due, BUSINESS)}, late_fees_last=True)
    assert result == [OpenCharge(1, D("1000.00"), due, 2025, BUSINESS)]
    assert fees_due(result, date(2026, 1, 11), POLICY) == [(1, D("3.00"))]


def test_when_late_fees_are_not_last_a_payment_pays_an_older_fee_before_a_newer_bill() -> None:
    due = date(2026, 2, 15)
    terms = {1: BillTerms(due, RESIDENTIAL), 2: BillTerms(due + timedelta(days=28), RESIDENTIAL)}
    entries = [
        Entry(1, EntryKind.charge, D("100.00"), date(2026, 1, 31), bill_id=1),
        Entry(2, EntryKind.late_fee, D("0.10"), date(2026, 2, 16), bill_id=1),
        Entry(3, EntryKind.charge, D("100.00"), date(2026, 2, 28), bill_id=2),
        Entry(4, EntryKind.payment, D("-150.00"), date(2026, 3, 1)),
    ]
    last = open_charges(entries, terms, late_fees_last=True)
    in_date_order = open_charges(entries, terms, late_fees_last=False)
    assert [c.open_amount for c in last] == [D("50.00")]
    assert [c.open_amount for c in in_date_order] == [D("50.10")]
