"""wattdesk's monthly bills against NREL's System Advisor Model (PySAM Utilityrate5) for URDB
rates and a year of hourly load: every line equals SAM's figure rounded to the cent.

SAM's conventions, and how the comparison meets them (docs/tariffs.md, "Checked against SAM"):
- SAM's year has 8760 hours in local standard time (no daylight saving), 1 January a Monday
  and no holidays: the bills here are for 2018, which has that calendar, and the tariff's time
  zone is the fixed offset Etc/GMT+7.
- Tier limits apply to the month's total; with several TOU periods each period's kWh is shared
  over the tiers in proportion to its part of the month (wattdesk's `tou_matrix` style).
- SAM does not round; wattdesk rounds each line half-up to the cent, so a month's total differs
  from SAM's by less than half a cent per line.
- A fixed charge in $/day is billed by SAM as 365/12 days every month, by wattdesk for the
  days of the period.
"""

from __future__ import annotations

import copy
import json
import random
import re
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import PySAM.Utilityrate5 as utilityrate
import pytest
from PySAM.UtilityRateTools import URDBv8_to_ElectricityRates

from billing_core.tariffs import (
    MINIMUM_TOP_UP,
    Consumption,
    Interval,
    PricedBill,
    Tariff,
    parse_tariff,
    price_period,
)
from billing_core.tariffs.urdb import read_urdb_json, urdb_to_tariff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "urdb"
YEAR = 2018  # 365 days from a Monday: SAM's calendar
SAM_ZONE = "Etc/GMT+7"  # a fixed offset: SAM's hours know no daylight saving
OFFSET = timezone(timedelta(hours=-7))
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CENT = Decimal("0.01")
ENERGY_LINE = re.compile(r"^Energy(?: period_(?P<period>\d+))?(?: block (?P<block>\d+))?(?:,|$)")


def hourly_load(seed: int) -> list[Decimal]:
    """A year of hourly kWh with a daily shape and some noise, to 0.001 kWh."""
    rng = random.Random(seed)
    load = []
    for hour in range(8760):
        of_day = hour % 24
        base = 0.35 + (0.9 if 17 <= of_day < 22 else 0.0) + (0.4 if 7 <= of_day < 9 else 0.0)
        season = 1.6 if 150 <= hour // 24 < 250 else 1.0
        load.append(
            Decimal(round(base * season * rng.uniform(0.4, 1.8), 3)).quantize(Decimal("0.001"))
        )
    return load


def run_sam(rate: dict[str, Any], load: list[Decimal]) -> dict[str, Any]:
    model = utilityrate.new()
    model.Lifetime.analysis_period = 1
    model.Lifetime.system_use_lifetime_output = 0
    model.Lifetime.inflation_rate = 0
    model.SystemOutput.gen = [0.0] * 8760
    model.SystemOutput.degradation = [0]
    model.Load.load = [float(value) for value in load]
    model.Load.load_escalation = [0]
    model.ElectricityRates.assign(URDBv8_to_ElectricityRates(copy.deepcopy(rate)))
    model.ElectricityRates.rate_escalation = [0]
    model.execute(0)
    return model.Outputs.export()


def wattdesk_bills(tariff: Tariff, load: list[Decimal]) -> list[PricedBill]:
    start = datetime(YEAR, 1, 1, tzinfo=OFFSET)
    intervals = [Interval(start=start + timedelta(hours=h), kwh=kwh) for h, kwh in enumerate(load)]
    bills = []
    for month in range(1, 13):
        first = date(YEAR, month, 1)
        last = date(YEAR + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        in_month = [i for i in intervals if i.start.month == month]
        bills.append(
            price_period(
                tariff, start=first, end=last, consumption=Consumption.of_intervals(in_month)
            )
        )
    return bills


def load_pair(name: str) -> tuple[dict[str, Any], Tariff]:
    """The rate as SAM reads it (plain JSON floats) and as wattdesk imports it."""
    path = FIXTURES / f"{name}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    data, _unsupported = urdb_to_tariff(
        read_urdb_json(path), timezone=SAM_ZONE, effective_from=date(YEAR, 1, 1)
    )
    return raw, parse_tariff(data, code=name)


def sam_energy_cells(outputs: dict[str, Any], month: int) -> dict[tuple[int, int], float]:
    """SAM's energy charge per (period, tier), both 1-based, for a month (0-based)."""
    matrix = outputs[f"charge_wo_sys_ec_{MONTHS[month]}_tp"]
    cells = {}
    for row in matrix[1:-1]:
        for tier, value in enumerate(row[1:-1], start=1):
            cells[(int(row[0]), tier)] = value
    return cells


def assert_cent(ours: Decimal, sam: float, what: str) -> None:
    """Ours equals SAM's figure rounded half-up to the cent. When SAM's float sits within a
    millionth of a half cent, binary rounding decides its side of the tie, so either is right."""
    exact = Decimal(sam)
    rounded = exact.quantize(CENT, ROUND_HALF_UP)
    if abs(abs(exact % CENT) - Decimal("0.005")) < Decimal("0.000001"):
        assert abs(ours - exact) <= Decimal("0.005000001"), what
    else:
        assert ours == rounded, f"{what}: wattdesk {ours}, SAM {sam!r}"


def compare_month(bill: PricedBill, outputs: dict[str, Any], month: int, *, fixed: bool) -> None:
    cells = sam_energy_cells(outputs, month)
    matched: set[tuple[int, int]] = set()
    energy = Decimal(0)
    for line in bill.lines:
        found = ENERGY_LINE.match(line.component)
        if found:
            key = (int(found["period"] or 1), int(found["block"] or 1))
            assert key in cells, f"{line.component} has no SAM counterpart"
            assert_cent(line.amount, cells[key], f"{MONTHS[month]} {line.component}")
            matched.add(key)
            energy += line.amount
        elif line.component == "Fixed charge":
            if fixed:
                assert_cent(line.amount, outputs["charge_wo_sys_fixed_ym"][1][month], "fixed")
        elif line.component == MINIMUM_TOP_UP:
            assert_cent(line.amount, outputs["charge_wo_sys_minimum_ym"][1][month], "minimum")
        else:
            raise AssertionError(f"unexpected line {line.component}")
    for key, value in cells.items():
        if key not in matched:
            assert abs(value) < 0.005, f"SAM charges {value} for {key}, wattdesk nothing"
    # SAM's unrounded energy total is within half a cent per line of the rounded lines.
    slack = Decimal("0.005") * max(len(matched), 1) + Decimal("0.000001")
    assert abs(energy - Decimal(outputs["charge_wo_sys_ec_ym"][1][month])) <= slack
    if fixed:
        slack = Decimal("0.005") * len(bill.lines) + Decimal("0.000001")
        assert abs(bill.total - Decimal(outputs["utility_bill_wo_sys_ym"][1][month])) <= slack


@pytest.mark.parametrize(
    ("fixture", "seed"),
    [("flat", 1), ("tiered", 2), ("us-example-tiered-tou", 3), ("tou-seasonal-tiers", 4)],
)
def test_monthly_bills_equal_sam_to_the_cent(fixture: str, seed: int) -> None:
    raw, tariff = load_pair(fixture)
    load = hourly_load(seed)
    outputs = run_sam(raw, load)
    bills = wattdesk_bills(tariff, load)
    fixed_per_month = raw.get("fixedchargeunits", "$/month") == "$/month"
    for month, bill in enumerate(bills):
        compare_month(bill, outputs, month, fixed=fixed_per_month)


def test_tou_tiers_share_each_periods_kwh_in_proportion_like_sam() -> None:
    raw, tariff = load_pair("us-example-tiered-tou")
    load = hourly_load(5)
    outputs = run_sam(raw, load)
    january = wattdesk_bills(tariff, load)[0]
    sam_kwh = outputs["energy_wo_sys_ec_jan_tp"]
    by_cell = {
        (int(row[0]), tier): value
        for row in sam_kwh[1:-1]
        for tier, value in enumerate(row[1:-1], start=1)
    }
    for line in january.lines:
        found = ENERGY_LINE.match(line.component)
        if found:
            key = (int(found["period"]), int(found["block"]))
            assert abs(line.quantity - Decimal(by_cell[key])) <= Decimal("0.0005")


def test_daily_fixed_charge_is_billed_per_day_where_sam_bills_365_12_days() -> None:
    raw, tariff = load_pair("tou-seasonal-tiers")
    load = hourly_load(6)
    outputs = run_sam(raw, load)
    bills = wattdesk_bills(tariff, load)
    rate = Decimal("0.33")
    for month, bill in enumerate(bills):
        days = (
            date(YEAR + (month + 1) // 12, (month + 1) % 12 + 1, 1) - date(YEAR, month + 1, 1)
        ).days
        fixed = next(line for line in bill.lines if line.component == "Fixed charge")
        assert fixed.quantity == days
        assert fixed.amount == (rate * days).quantize(CENT, ROUND_HALF_UP)
        sam_fixed = outputs["charge_wo_sys_fixed_ym"][1][month]
        assert sam_fixed == pytest.approx(0.33 * 365 / 12)


def test_minimum_charge_tops_the_bill_up_like_sam() -> None:
    raw, tariff = load_pair("tiered")
    load = [Decimal("0.02")] * 8760  # about 15 kWh a month: below the $30 minimum
    outputs = run_sam(raw, load)
    for month, bill in enumerate(wattdesk_bills(tariff, load)):
        assert bill.total == Decimal(30)
        assert outputs["utility_bill_wo_sys_ym"][1][month] == pytest.approx(30)
        assert any(line.component == MINIMUM_TOP_UP for line in bill.lines)
