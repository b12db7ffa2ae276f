"""Properties of pricing that hold for any tariff (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from billing_core.customers.model import CustomerKind
from billing_core.tariffs import (
    AccountAttributes,
    Consumption,
    PricedBill,
    Tariff,
    parse_tariff,
    price_period,
    price_period_exact,
    round_money,
)
from tests.unit.tariffs.factories import tariff_data

FEW = settings(max_examples=60, deadline=None)
CENT = Decimal("0.01")

prices = st.decimals(min_value=0, max_value=3, places=4)
kwh = st.decimals(min_value=0, max_value=5000, places=2)
starts = st.dates(min_value=date(2021, 1, 1), max_value=date(2027, 12, 1))


@st.composite
def block_tiers(draw: st.DrawFn, *, priced: bool) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=4))
    limits = sorted(draw(st.sets(st.integers(min_value=1, max_value=3000), min_size=count - 1,
                                 max_size=count - 1)))  # fmt: skip
    tiers: list[dict[str, Any]] = []
    for index in range(count):
        tier: dict[str, Any] = {}
        if index < count - 1:
            tier["up_to"] = Decimal(limits[index])
        if priced:
            tier["price"] = draw(prices)
        elif index:
            tier["surcharge"] = draw(prices)
        tiers.append(tier)
    return tiers


@st.composite
def energies(draw: st.DrawFn, *, tou: bool | None = None) -> dict[str, Any]:
    """Monthly or annual blocks, priced per block or by surcharge, with or without TOU."""
    basis = draw(st.sampled_from(["monthly", "annual"]))
    use_tou = draw(st.booleans()) if tou is None else tou
    if use_tou:
        peak_end = draw(st.integers(min_value=9, max_value=23))
        return {
            "tou": {
                "periods": [{"name": "peak", "price": draw(prices)},
                            {"name": "valley", "price": draw(prices)}],
                "hours": [{"period": "peak", "from": 8, "to": peak_end},
                          {"period": "valley", "from": peak_end, "to": 8}],
            },
            "blocks": {"basis": basis, "tiers": draw(block_tiers(priced=False))},
        }  # fmt: skip
    if draw(st.booleans()):
        return {"blocks": {"basis": basis, "tiers": draw(block_tiers(priced=True))}}
    return {
        "price": draw(prices),
        "blocks": {"basis": basis, "tiers": draw(block_tiers(priced=False))},
    }


@st.composite
def tariffs(draw: st.DrawFn, *, tou: bool | None = None) -> Tariff:
    extra: dict[str, Any] = {}
    if draw(st.booleans()):
        per = draw(st.sampled_from(["month", "day"]))
        extra["fixed_charges"] = [{"name": "Service", "amount": draw(prices), "per": per}]
    if draw(st.booleans()):
        extra["minimum_charge"] = {"amount": draw(prices) * 10, "per": "month"}
    if draw(st.booleans()):
        extra["household_size"] = [{"min_persons": 4, "raise_limits_by": Decimal(50)}]
    if draw(st.booleans()):
        extra["power_factor"] = {"standard": draw(st.sampled_from([Decimal("0.90"),
                                                                   Decimal("0.85")]))}  # fmt: skip
    data = tariff_data(draw(energies(tou=tou)), kinds=("residential", "non_residential"), **extra)
    return parse_tariff(data, code="generated")


@st.composite
def consumptions(draw: st.DrawFn, tariff: Tariff) -> Consumption:
    pf = draw(st.none() | st.decimals(min_value=Decimal("0.5"), max_value=1, places=3))
    if tariff.versions[0].time_of_use:
        return Consumption.of_registers({"peak": draw(kwh), "valley": draw(kwh)}, power_factor=pf)
    return Consumption.total(draw(kwh), power_factor=pf)


accounts = st.builds(
    AccountAttributes,
    customer_kind=st.sampled_from(list(CustomerKind)),
    household_size=st.none() | st.integers(min_value=1, max_value=8),
    ytd_kwh=st.decimals(min_value=0, max_value=6000, places=1),
)


def month_of(start: date) -> tuple[date, date]:
    first = start.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    return first, after - timedelta(days=1)


def sum_lines(bill: PricedBill) -> Decimal:
    return sum((line.amount for line in bill.lines), Decimal(0))


@FEW
@given(data=st.data(), tariff=tariffs(), account=accounts, start=starts,
       days=st.integers(min_value=1, max_value=62))  # fmt: skip
def test_total_equals_the_sum_of_the_lines_each_rounded_to_the_cent(
    data: st.DataObject, tariff: Tariff, account: AccountAttributes, start: date, days: int
) -> None:
    consumption = data.draw(consumptions(tariff))
    bill = price_period(tariff, start=start, end=start + timedelta(days=days - 1),
                        consumption=consumption, account=account)  # fmt: skip
    assert bill.total == sum_lines(bill)
    assert all(line.amount == line.amount.quantize(CENT) for line in bill.lines)


@FEW
@given(data=st.data(), tariff=tariffs(), account=accounts, start=starts)
def test_fast_path_equals_the_exact_reference(
    data: st.DataObject, tariff: Tariff, account: AccountAttributes, start: date
) -> None:
    first, last = month_of(start)
    consumption = data.draw(consumptions(tariff))
    fast = price_period(tariff, start=first, end=last, consumption=consumption, account=account)
    exact = price_period_exact(tariff, start=first, end=last, consumption=consumption,
                               account=account)  # fmt: skip
    assert fast == exact


@FEW
@given(tiers=block_tiers(priced=True), used=kwh, start=starts)
def test_fast_path_equals_a_straightforward_decimal_implementation(
    tiers: list[dict[str, Any]], used: Decimal, start: date
) -> None:
    tariff = parse_tariff(tariff_data({"blocks": {"tiers": tiers}}), code="blocks")
    first, last = month_of(start)
    bill = price_period(tariff, start=first, end=last, consumption=Consumption.total(used))
    expected = []
    low = Decimal(0)
    for index, tier in enumerate(tiers):
        high = tier.get("up_to")
        quantity = max(Decimal(0), (used if high is None else min(used, high)) - low)
        if index == 0 or quantity:
            amount = (quantity * tier["price"]).quantize(CENT, rounding=ROUND_HALF_UP)
            expected.append((quantity, tier["price"], amount))
        low = high if high is not None else low
    assert [(line.quantity, line.unit_price, line.amount) for line in bill.lines] == expected


@FEW
@given(data=st.data(), tariff=tariffs(), account=accounts, start=starts,
       more=st.decimals(min_value=0, max_value=500, places=2))  # fmt: skip
def test_more_kwh_never_costs_less_when_prices_are_not_negative(
    data: st.DataObject, tariff: Tariff, account: AccountAttributes, start: date, more: Decimal
) -> None:
    first, last = month_of(start)
    consumption = data.draw(consumptions(tariff))
    if consumption.registers is not None:
        registers = dict(consumption.registers)
        name = data.draw(st.sampled_from(sorted(registers)))
        registers[name] += more
        bigger = Consumption.of_registers(registers, power_factor=consumption.power_factor)
    else:
        bigger = Consumption.total(consumption.kwh + more, power_factor=consumption.power_factor)
    account = AccountAttributes(household_size=account.household_size, ytd_kwh=account.ytd_kwh)
    before = price_period(tariff, start=first, end=last, consumption=consumption, account=account)
    after = price_period(tariff, start=first, end=last, consumption=bigger, account=account)
    assert after.total >= before.total


@FEW
@given(data=st.data(), tariff=tariffs(tou=False), account=accounts, start=starts)
def test_block_quantities_add_up_to_the_consumption(
    data: st.DataObject, tariff: Tariff, account: AccountAttributes, start: date
) -> None:
    first, last = month_of(start)
    consumption = data.draw(consumptions(tariff))
    bill = price_period(tariff, start=first, end=last, consumption=consumption, account=account)
    blocks = [line.quantity for line in bill.lines if line.component.startswith("Energy")]
    assert sum(blocks, Decimal(0)) == consumption.kwh


@FEW
@given(data=st.data(), tariff=tariffs(tou=True), account=accounts, start=starts)
def test_surcharged_blocks_add_up_to_the_consumption_above_the_first_block(
    data: st.DataObject, tariff: Tariff, account: AccountAttributes, start: date
) -> None:
    first, last = month_of(start)
    consumption = data.draw(consumptions(tariff))
    bill = price_period(tariff, start=first, end=last, consumption=consumption, account=account)
    periods = [line.quantity for line in bill.lines if line.component.startswith("Energy")]
    assert sum(periods, Decimal(0)) == consumption.kwh
    season = tariff.versions[0].seasons[0]
    if season.limits and all(season.surcharges[1:]) and not tariff.versions[0].household_rules:
        above = [line.quantity for line in bill.lines if "surcharge" in line.component]
        low = season.limits[0] if season.limits else Decimal(0)
        ytd = account.ytd_kwh if tariff.versions[0].annual_blocks else Decimal(0)
        expected = max(Decimal(0), consumption.kwh + ytd - max(low, ytd))
        assert sum(above, Decimal(0)) == min(expected, consumption.kwh)


@FEW
@given(first=energies(tou=False), second=energies(tou=False), used=kwh,
       split=st.integers(min_value=1, max_value=29))  # fmt: skip
def test_period_across_two_versions_equals_the_prorated_parts(
    first: dict[str, Any], second: dict[str, Any], used: Decimal, split: int
) -> None:
    for energy in (first, second):
        energy["blocks"]["basis"] = "monthly"
    start, end = date(2026, 6, 1), date(2026, 6, 30)
    change = start + timedelta(days=split)
    versions = [{"effective_from": date(2020, 1, 1), "energy": first},
                {"effective_from": change, "energy": second}]  # fmt: skip
    both = parse_tariff(tariff_data(versions=versions), code="both")
    bill = price_period(both, start=start, end=end, consumption=Consumption.total(used))

    expected = []
    parts = [(first, start, change - timedelta(days=1)), (second, change, end)]
    for energy, part_start, part_end in parts:
        alone = parse_tariff(tariff_data(energy), code="alone")
        whole = price_period(alone, start=start, end=end, consumption=Consumption.total(used))
        share = Fraction((part_end - part_start).days + 1, 30)
        suffix = f" ({part_start:%m-%d}–{part_end:%m-%d})"
        for line in whole.lines:
            amount = round_money(share * Fraction(line.quantity) * Fraction(line.unit_price))
            expected.append((line.component + suffix, amount))
    assert [(line.component, line.amount) for line in bill.lines] == expected


@FEW
@given(energy=energies(tou=False), used=kwh, ytd=st.decimals(min_value=0, max_value=6000, places=1),
       share=st.fractions(min_value=0, max_value=1), start=starts)  # fmt: skip
def test_splitting_a_period_at_a_block_neutral_point_changes_nothing(
    energy: dict[str, Any], used: Decimal, ytd: Decimal, share: Fraction, start: date
) -> None:
    """Annual blocks carry the year to date from one part to the next, so any split point
    within a tariff year is block-neutral: the kWh in each block and the charges before
    rounding are the same whether the month is billed whole or in two parts."""
    energy["blocks"]["basis"] = "annual"
    tariff = parse_tariff(tariff_data(energy), code="annual")
    first_part = (used * Decimal(share.numerator) / Decimal(share.denominator)).quantize(CENT)
    second_part = used - first_part
    first, last = month_of(start)
    middle = first + timedelta(days=14)

    def energy_by_block(bill: PricedBill) -> dict[str, tuple[Decimal, Decimal]]:
        out: dict[str, tuple[Decimal, Decimal]] = {}
        for line in bill.lines:
            if line.component.startswith("Energy") and line.quantity:
                quantity, exact = out.get(line.component, (Decimal(0), Decimal(0)))
                out[line.component] = (quantity + line.quantity,
                                       exact + line.quantity * line.unit_price)  # fmt: skip
        return out

    whole = price_period(tariff, start=first, end=last, consumption=Consumption.total(used),
                         account=AccountAttributes(ytd_kwh=ytd))  # fmt: skip
    one = price_period(tariff, start=first, end=middle,
                       consumption=Consumption.total(first_part),
                       account=AccountAttributes(ytd_kwh=ytd))  # fmt: skip
    two = price_period(tariff, start=middle + timedelta(days=1), end=last,
                       consumption=Consumption.total(second_part),
                       account=AccountAttributes(ytd_kwh=ytd + first_part))  # fmt: skip
    combined: dict[str, tuple[Decimal, Decimal]] = {}
    for name, (quantity, exact) in [*energy_by_block(one).items(), *energy_by_block(two).items()]:
        had = combined.get(name, (Decimal(0), Decimal(0)))
        combined[name] = (had[0] + quantity, had[1] + exact)
    assert combined == energy_by_block(whole)
    # Rounded, the two bills differ from the whole by at most half a cent per line.
    lines = len(one.lines) + len(two.lines) + len(whole.lines)
    assert abs(one.total + two.total - whole.total) <= CENT / 2 * lines
