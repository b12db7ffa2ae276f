"""Drafting one bill (draft.py), pure: two-rate TOU meters, TOU registers across a meter
replacement, a replacement early in the period, and a tariff change inside the period."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.bills.draft import (
    COMPONENT_MAX,
    AccountPeriod,
    BillDraft,
    MeterPeriod,
    ReadingValues,
    draft_bill,
    registers_for_periods,
    split_usage,
    work_out_usage,
)
from billing_core.bills.model import ReviewRule, ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.run.load import _tariffs_in_period
from billing_core.readings.vee import Replacement, ReverseKind
from billing_core.tariffs import Consumption, Tariff, TariffError, price_period
from tests.unit.tariffs.factories import blocks_energy, build, shipped, tariff_data

D = Decimal
THRESHOLDS = ReviewThresholds.from_policy(load_review_policy())
READ_ON = date(2026, 10, 5)  # the previous reading; the period is 10-05 to 11-04 (31 days)
CURRENT_ON = date(2026, 11, 5)
RUN_DATE = CURRENT_ON


def reading(
    on: date,
    total: str,
    peak: str | None = None,
    flat: str | None = None,
    valley: str | None = None,
    *,
    reactive: str | None = None,
) -> ReadingValues:
    def d(value: str | None) -> Decimal | None:
        return None if value is None else D(value)

    return ReadingValues(None, on, D(total), d(peak), d(flat), d(valley), d(reactive))


def period_of(
    previous: ReadingValues,
    current: ReadingValues,
    *,
    tou: bool = True,
    replacement: Replacement | None = None,
    **changes: Any,
) -> AccountPeriod:
    values: dict[str, Any] = {
        "account_id": 1,
        "account_number": "9000000001",
        "customer_kind": "residential",
        "household_size": 3,
        "active": True,
        "payment_terms_days": 15,
        "tariff_code": "zhejiang-residential-tou",
        "meter": MeterPeriod(
            meter_id=1,
            multiplier=D(1),
            digits=6,
            tou=tou,
            previous=previous,
            current=current,
            replacement=replacement,
        ),
    }
    return AccountPeriod(**(values | changes))


def draft(
    period: AccountPeriod, tariff: Tariff, changes: list[tuple[date, Tariff]] | None = None
) -> BillDraft:
    return draft_bill(
        period,
        work_out_usage(period, THRESHOLDS),
        tariff=tariff,
        thresholds=THRESHOLDS,
        issued_on=RUN_DATE,
        tariff_changes=changes or (),
    )


def lines_of(bill: BillDraft) -> list[tuple[str, str, str, str]]:
    def shown(value: Decimal) -> str:
        return f"{value.normalize():f}"

    return [
        (line.component, shown(line.quantity), shown(line.unit_price), str(line.amount))
        for line in bill.lines
    ]


def rules_of(bill: BillDraft) -> set[ReviewRule]:
    return {finding.rule for finding in bill.findings}


# -- 1. two-rate (peak/valley) TOU meters --------------------------------------------------------


def test_a_two_rate_meter_whose_peak_register_lags_is_priced_and_held_for_review() -> None:
    # 200 kWh on the total register; the peak register lags 20 kWh behind (80 true, 60 read).
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "1200", peak="460", flat="0", valley="720"),
    )
    usage = work_out_usage(period, THRESHOLDS)
    assert usage.tou_gap == D(20)  # measured against the registers read

    bill = draft(period, shipped("zhejiang-residential-tou"))

    # 谷 = 总 − 峰: the valley takes what the peak register does not account for.
    assert lines_of(bill) == [
        ("Energy peak", "60", "0.568", "34.08"),
        ("Energy valley", "140", "0.288", "40.32"),
    ]
    assert bill.kwh == D(200) and bill.total == D("74.40")
    assert rules_of(bill) == {ReviewRule.TOU_MISMATCH}


def test_a_two_rate_meter_whose_valley_register_lags_bills_the_true_valley() -> None:
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "1200", peak="480", flat="0", valley="700"),
    )
    bill = draft(period, shipped("zhejiang-residential-tou"))

    assert [line[:2] for line in lines_of(bill)] == [
        ("Energy peak", "80"),
        ("Energy valley", "120"),
    ]
    assert rules_of(bill) == {ReviewRule.TOU_MISMATCH}


def test_a_two_rate_meter_without_a_flat_register_is_priced_from_peak_and_valley() -> None:
    period = period_of(
        reading(READ_ON, "1000", peak="400", valley="600"),
        reading(CURRENT_ON, "1200", peak="480", valley="720"),
    )
    bill = draft(period, shipped("zhejiang-residential-tou"))

    assert [line[:2] for line in lines_of(bill)] == [
        ("Energy peak", "80"),
        ("Energy valley", "120"),
    ]
    assert bill.findings == ()


def test_a_three_rate_meter_keeps_flat_as_total_minus_peak_minus_valley() -> None:
    period = period_of(
        reading(READ_ON, "1000", peak="300", flat="400", valley="300"),
        reading(CURRENT_ON, "1300", peak="400", flat="490", valley="400"),
        customer_kind="non_residential",
    )
    bill = draft(period, shipped("cn-general-commercial"))

    # flat read 90, taken as 300 − 100 − 100 = 100; the 10 kWh gap holds the bill
    assert [line[:2] for line in lines_of(bill)] == [
        ("Energy peak", "100"),
        ("Energy flat", "100"),
        ("Energy valley", "100"),
    ]
    assert rules_of(bill) == {ReviewRule.TOU_MISMATCH}


def test_registers_map_onto_the_tariffs_own_periods() -> None:
    registers = {"peak": D(80), "flat": D(20), "valley": D(100)}
    assert registers_for_periods(registers, D(200), ("peak", "flat", "valley")) == registers
    assert registers_for_periods(registers, D(200), ("valley", "flat", "peak")) == registers
    # two-rate: the valley takes the rest of the total (谷 = 总 − 峰)
    assert registers_for_periods(registers, D(200), ("peak", "valley")) == {
        "peak": D(80),
        "valley": D(120),
    }
    assert registers_for_periods(registers, D(200), ("peak", "shoulder", "valley")) is None
    assert registers_for_periods(registers, D(200), ("on", "off")) is None  # no base period
    assert registers_for_periods(registers, D(70), ("peak", "valley")) is None  # negative


# -- 2. TOU registers across a meter replacement (换表) ------------------------------------------


def test_a_replaced_tou_meter_bills_every_register_across_the_replacement() -> None:
    replacement = Replacement(
        old_final=D(5100),
        new_initial=D(10),
        old_final_peak=D(2040),
        old_final_flat=D(1020),
        old_final_valley=D(2040),
        new_initial_peak=D(4),
        new_initial_flat=D(3),
        new_initial_valley=D(3),
    )
    period = period_of(
        reading(READ_ON, "5000", peak="2000", flat="1000", valley="2000", reactive="900"),
        reading(CURRENT_ON, "70", peak="28", flat="21", valley="21", reactive="5"),
        replacement=replacement,
        customer_kind="non_residential",
    )
    usage = work_out_usage(period, THRESHOLDS)
    bill = draft(period, shipped("cn-general-commercial"))

    # each register: old final − previous + new current − initial
    assert usage.kwh == D(160)  # 100 + 60
    assert usage.registers == {"peak": D(64), "flat": D(38), "valley": D(58)}
    assert usage.tou_gap is None
    assert usage.reverse is ReverseKind.meter_replaced
    # the new meter's reactive register has no initial value: no power factor is made up
    assert usage.power_factor is None
    assert [line[:2] for line in lines_of(bill)] == [
        ("Energy peak", "64"),
        ("Energy flat", "38"),
        ("Energy valley", "58"),
    ]
    assert {ReviewRule.METER_REPLACED, ReviewRule.REVERSE_READING} <= rules_of(bill)


def test_a_replaced_two_rate_meter_is_priced_on_its_tariffs_periods() -> None:
    replacement = Replacement(
        old_final=D(1150),
        new_initial=D(20),
        old_final_peak=D(460),
        old_final_flat=D(0),
        old_final_valley=D(690),
        new_initial_peak=D(5),
        new_initial_flat=D(0),
        new_initial_valley=D(15),
    )
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "70", peak="25", flat="0", valley="45"),
        replacement=replacement,
    )
    bill = draft(period, shipped("zhejiang-residential-tou"))

    assert bill.kwh == D(200)  # 150 + 50
    assert [line[:2] for line in lines_of(bill)] == [
        ("Energy peak", "80"),
        ("Energy valley", "120"),
    ]


def test_a_replacement_without_tou_values_for_a_meter_leaves_the_registers_out() -> None:
    replacement = Replacement(old_final=D(1150), new_initial=D(20))
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "70", peak="25", flat="0", valley="45"),
        replacement=replacement,
    )
    usage = work_out_usage(period, THRESHOLDS)
    assert usage.kwh == D(200) and usage.registers is None and usage.tou_gap is None
    with pytest.raises(TariffError, match="prices by time of use"):
        draft(period, shipped("zhejiang-residential-tou"))


# -- 3. a replacement early in the period ----------------------------------------------------------


def test_a_replacement_early_in_the_period_bills_the_whole_period() -> None:
    # The old meter was read on 10-05 and removed on 10-12 (its final reading that day, far
    # from the reading day); the new one runs from its initial register to 11-05.
    period = period_of(
        reading(READ_ON, "8000"),
        reading(CURRENT_ON, "212.5"),
        tou=False,
        tariff_code="beijing-residential",
        replacement=Replacement(old_final=D("8040.5"), new_initial=D("2.5")),
    )
    bill = draft(period, shipped("beijing-residential"))

    assert bill.period_start == READ_ON and bill.period_end == date(2026, 11, 4)
    assert bill.kwh == D("250.5")  # (8040.5 − 8000) + (212.5 − 2.5)
    assert {ReviewRule.METER_REPLACED, ReviewRule.REVERSE_READING} <= rules_of(bill)


# -- 4. a tariff change inside the period ----------------------------------------------------------


CHANGE_ON = date(2026, 10, 15)  # 10-05..10-14 (10 days) old, 10-15..11-04 (21 days) new


def q(value: Fraction) -> Decimal:
    """Half-up to the watt-hour (the division is exact wherever a tie is possible)."""
    return (D(value.numerator) / D(value.denominator)).quantize(D("0.001"), ROUND_HALF_UP)


def test_a_tariff_change_splits_the_period_by_days() -> None:
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "1200", peak="480", flat="0", valley="720"),
        business_changes=("tariff_change",),
        tariff_changes=((CHANGE_ON, "zhejiang-residential"),),
    )
    bill = draft(
        period,
        shipped("zhejiang-residential-tou"),
        [(CHANGE_ON, shipped("zhejiang-residential"))],
    )

    # 200 kWh × 10/31 = 64.516 kWh on the old tariff (peak 80 × 10/31 = 25.806, the valley
    # the rest of the part), the remaining 135.484 kWh on the new one.
    assert lines_of(bill) == [
        ("Energy peak", "25.806", "0.568", "14.66"),
        ("Energy valley", "38.71", "0.288", "11.15"),
        ("Energy block 1", "135.484", "0.538", "72.89"),
    ]
    assert bill.total == sum((line.amount for line in bill.lines), D(0)) == D("98.70")
    assert bill.kwh == D(200)
    assert (bill.period_start, bill.period_end) == (READ_ON, date(2026, 11, 4))
    assert rules_of(bill) == {ReviewRule.FIRST_BILL_AFTER_CHANGE}


def test_a_tariff_change_prorates_monthly_charges_and_limits_as_a_version_change_does() -> None:
    fixed = [{"name": "Service charge", "amount": D(10), "per": "month"}]
    old = build(tariff_data(blocks_energy(price="0.50"), fixed_charges=fixed), code="tariff-a")
    new = build(tariff_data(blocks_energy(price="0.60"), fixed_charges=fixed), code="tariff-b")
    start, change, current = date(2026, 6, 1), date(2026, 6, 16), date(2026, 7, 1)
    period = period_of(
        reading(start, "1000"),
        reading(current, "1200"),
        tou=False,
        tariff_code="tariff-a",
        tariff_changes=((change, "tariff-b"),),
    )
    bill = draft(period, old, [(change, new)])

    # The same bill as one tariff whose price changes on 06-16 (docs/tariffs.md): each half
    # gets half the kWh, half the monthly charge and half the block limits (50 / 150 kWh).
    assert lines_of(bill) == [
        ("Service charge (tariff-a)", "0.5", "10", "5.00"),
        ("Energy block 1 (tariff-a)", "50", "0.5", "25.00"),
        ("Energy block 2 (tariff-a)", "50", "0.6", "30.00"),
        ("Service charge (tariff-b)", "0.5", "10", "5.00"),
        ("Energy block 1 (tariff-b)", "50", "0.6", "30.00"),
        ("Energy block 2 (tariff-b)", "50", "0.7", "35.00"),
    ]
    versions = build(
        tariff_data(
            versions=[
                {"effective_from": date(2020, 1, 1), "energy": blocks_energy(price="0.50"),
                 "fixed_charges": fixed},
                {"effective_from": change, "energy": blocks_energy(price="0.60"),
                 "fixed_charges": fixed},
            ]
        )
    )  # fmt: skip
    one_tariff = price_period(
        versions, start=start, end=date(2026, 6, 30), consumption=Consumption.total(200)
    )
    assert bill.total == one_tariff.total == D("130.00")


def test_a_tariff_change_carries_the_year_to_date_into_annual_blocks() -> None:
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "1310", peak="500", flat="0", valley="810"),
        tariff_code="zhejiang-residential",
        ytd_kwh=D(2700),
        tariff_changes=((CHANGE_ON, "zhejiang-residential-tou"),),
    )
    bill = draft(
        period,
        shipped("zhejiang-residential"),
        [(CHANGE_ON, shipped("zhejiang-residential-tou"))],
    )

    # 310 kWh: 100 on the flat tariff (60 up to 2760 kWh a year, 40 above), then 210 on the
    # peak/valley one, all of it past 2760 kWh: a block 2 surcharge on every kWh.
    assert lines_of(bill) == [
        ("Energy block 1", "60", "0.538", "32.28"),
        ("Energy block 2", "40", "0.588", "23.52"),
        ("Energy peak", "67.742", "0.568", "38.48"),
        ("Energy valley", "142.258", "0.288", "40.97"),
        ("Block 2 surcharge", "210", "0.05", "10.50"),
    ]
    assert bill.total == sum((line.amount for line in bill.lines), D(0))


def test_a_change_back_to_the_same_tariff_does_not_split_the_period() -> None:
    tariff = shipped("zhejiang-residential-tou")
    period = period_of(
        reading(READ_ON, "1000", peak="400", flat="0", valley="600"),
        reading(CURRENT_ON, "1200", peak="480", flat="0", valley="720"),
    )
    assert lines_of(draft(period, tariff, [(CHANGE_ON, tariff)])) == lines_of(draft(period, tariff))


def test_long_line_names_stay_within_the_column_when_labelled() -> None:
    name = "Capacity and network service charge, residential"  # 48 characters, the most
    fixed = [{"name": name, "amount": D(10), "per": "month"}]
    old = build(tariff_data(fixed_charges=fixed), code="a-very-long-tariff-code-for-testing")
    new = build(tariff_data(fixed_charges=fixed), code="another-tariff")
    period = period_of(
        reading(READ_ON, "1000"),
        reading(CURRENT_ON, "1100"),
        tou=False,
        tariff_changes=((CHANGE_ON, "another-tariff"),),
    )
    bill = draft(period, old, [(CHANGE_ON, new)])

    components = [line.component for line in bill.lines]
    assert all(len(component) <= COMPONENT_MAX for component in components)
    assert components[0].endswith(",… (a-very-long-tariff-code…)")
    assert any(component.endswith("(another-tariff)") for component in components)
    assert len(set(components)) == len(components)


def test_tariffs_in_force_in_a_period() -> None:
    start, current = date(2026, 10, 5), date(2026, 11, 5)
    history = [(date(2020, 1, 1), "a"), (date(2026, 10, 15), "b"), (date(2026, 11, 5), "c")]
    # c takes effect on the current reading's day: it belongs to the next period
    assert _tariffs_in_period(history, start, current) == ("a", ((date(2026, 10, 15), "b"),))
    assert _tariffs_in_period(history[:1], start, current) == ("a", ())
    assert _tariffs_in_period([(start, "b")], start, current) == ("b", ())
    # a first tariff that starts late prices the period from its start
    assert _tariffs_in_period([(date(2026, 10, 9), "b")], start, current) == ("b", ())
    assert _tariffs_in_period([(date(2026, 11, 5), "c")], start, current) == ("c", ())
    assert _tariffs_in_period([], start, current) is None


@given(
    kwh=st.decimals(min_value=0, max_value=100_000, places=3),
    peak_share=st.fractions(min_value=0, max_value=1),
    days=st.lists(st.integers(1, 31), min_size=2, max_size=4),
)
def test_split_usage_loses_nothing_and_rounds_the_first_part_half_up(
    kwh: Decimal, peak_share: Fraction, days: list[int]
) -> None:
    peak = q(Fraction(kwh) * peak_share)
    registers = {"peak": peak, "flat": D(0), "valley": kwh - peak}
    parts = split_usage(kwh, registers, days)

    assert parts[0][0] == q(Fraction(kwh) * Fraction(days[0], sum(days)))
    assert sum((part_kwh for part_kwh, _ in parts), D(0)) == kwh
    for name in registers:
        assert sum((regs[name] for _, regs in parts if regs), D(0)) == registers[name]
    for part_kwh, part_registers in parts:
        assert part_registers is not None
        assert sum(part_registers.values(), D(0)) == part_kwh
        assert min(part_registers.values()) >= 0
