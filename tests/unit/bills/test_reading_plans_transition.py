"""The one longer or shorter period of a reading-day change, priced by hand (docs/billing.md):
monthly block limits and monthly charges prorated by the period's days over the days of a
month-long period from the same first day."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from billing_core.readings.plans import nominal_days
from tests.unit.bills.test_draft import draft, lines_of, period_of, reading
from tests.unit.tariffs.factories import blocks_energy, build, tariff_data

FIXED = [{"name": "Service charge", "amount": D(10), "per": "month"}]
# Blocks: 0–100 kWh at 0.50, 100–300 at 0.60, above at 0.90; a service charge of 10 a month.
TARIFF = build(tariff_data(blocks_energy(price="0.50"), fixed_charges=FIXED), code="tariff-a")


def transition_bill(start: date, current: date, kwh: int):  # type: ignore[no-untyped-def]
    period = period_of(
        reading(start, "1000"),
        reading(current, str(1000 + kwh)),
        tou=False,
        tariff_code="tariff-a",
        nominal_days=nominal_days(start),
    )
    return draft(period, TARIFF)


def test_a_longer_period_gets_longer_blocks_and_more_of_the_monthly_charge() -> None:
    # Day 10 → day 24: read 10 Feb 2027 (an ordinary period to 10 Mar: 28 days), then 24 Mar:
    # 42 days, 3/2 of a month. Limits 150 and 450 kWh, the charge 15.00; 500 kWh =
    # 150 × 0.50 + 300 × 0.60 + 50 × 0.90 + 15 = 75 + 180 + 45 + 15 = 315.00.
    bill = transition_bill(date(2027, 2, 10), date(2027, 3, 24), 500)
    assert (bill.period_start, bill.period_end) == (date(2027, 2, 10), date(2027, 3, 23))
    assert lines_of(bill) == [
        ("Service charge", "1.5", "10", "15.00"),
        ("Energy block 1", "150", "0.5", "75.00"),
        ("Energy block 2", "300", "0.6", "180.00"),
        ("Energy block 3", "50", "0.9", "45.00"),
    ]
    assert bill.total == D("315.00")


def test_a_shorter_period_gets_shorter_blocks_and_less_of_the_monthly_charge() -> None:
    # Day 10 → day 25 in the same month: 10 Apr (an ordinary period: 30 days) to 25 Apr,
    # 15 days, half a month. Limits 50 and 150 kWh, the charge 5.00; 200 kWh =
    # 50 × 0.50 + 100 × 0.60 + 50 × 0.90 + 5 = 25 + 60 + 45 + 5 = 135.00.
    bill = transition_bill(date(2027, 4, 10), date(2027, 4, 25), 200)
    assert lines_of(bill) == [
        ("Service charge", "0.5", "10", "5.00"),
        ("Energy block 1", "50", "0.5", "25.00"),
        ("Energy block 2", "100", "0.6", "60.00"),
        ("Energy block 3", "50", "0.9", "45.00"),
    ]
    assert bill.total == D("135.00")


def test_an_ordinary_period_is_not_prorated() -> None:
    # Without the transition the same 500 kWh over 42 days fill the month's blocks only:
    # 100 × 0.50 + 200 × 0.60 + 200 × 0.90 + 10 = 50 + 120 + 180 + 10 = 360.00.
    period = period_of(
        reading(date(2027, 2, 10), "1000"), reading(date(2027, 3, 24), "1500"), tou=False
    )
    assert draft(period, TARIFF).total == D("360.00")


def test_a_period_of_exactly_a_month_is_priced_as_an_ordinary_one() -> None:
    bill = transition_bill(date(2027, 2, 10), date(2027, 3, 10), 500)
    assert bill.total == D("360.00")
