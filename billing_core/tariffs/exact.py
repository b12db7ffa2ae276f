"""The exact path of pricing: any number of segments, interval data and proportional
blocks, in fractions, each line rounded once (and the reference the fast path is held to)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from billing_core.customers.model import CustomerKind
from billing_core.tariffs.lines import (
    _CTX,
    _ONE,
    _ZERO,
    _block_names,
    _period_names,
    _power_factor_line,
    _quantity,
    _registers_in_order,
    _surcharge_names,
    round_money,
)
from billing_core.tariffs.model import (
    MINIMUM_TOP_UP,
    AccountAttributes,
    BillLine,
    ChargeBasis,
    Consumption,
    Interval,
    LineStyle,
    PricedBill,
    Tariff,
    TariffError,
)

if TYPE_CHECKING:
    from billing_core.tariffs.pricing import _Plan


def _split_intervals(
    tariff: Tariff, plan: _Plan, intervals: Sequence[Interval]
) -> list[list[Fraction]]:
    """kWh per segment and TOU period, each interval placed by its local start time."""
    zone = tariff.zone
    sums = [[Fraction(0)] * len(seg.version.periods) for seg in plan.segments]
    for index, interval in enumerate(intervals):
        local = interval.start.astimezone(zone)
        day = local.date()
        if day < plan.start or day > plan.end:
            raise TariffError(
                [
                    f"intervals.{index}.start: {interval.start.isoformat()} is outside the"
                    f" period {plan.start.isoformat()} to {plan.end.isoformat()}"
                ]
            )
        seg_index = 0
        for position, seg in enumerate(plan.segments):
            if seg.first <= day:
                seg_index = position
        version = plan.segments[seg_index].version
        sums[seg_index][version.period_at(local)] += Fraction(interval.kwh)
    return sums


def _segment_energy(tariff: Tariff, plan: _Plan, consumption: Consumption) -> list[list[Fraction]]:
    if consumption.intervals:
        return _split_intervals(tariff, plan, consumption.intervals)
    out = []
    for seg in plan.segments:
        share = Fraction(seg.days, plan.days)
        if seg.version.time_of_use:
            values = _registers_in_order(tariff, seg.version, consumption)
            out.append([Fraction(value) * share for value in values])
        else:
            out.append([Fraction(consumption.kwh) * share])
    return out


def place_in_blocks(
    limits: Sequence[Fraction], position: Fraction, kwh: Fraction
) -> list[Fraction]:
    """kWh of [position, position + kwh] that falls in each block; the last block is open."""
    quantities = []
    low = Fraction(0)
    end = position + kwh
    for limit in limits:
        quantities.append(max(Fraction(0), min(end, limit) - max(position, low)))
        low = limit
    quantities.append(max(Fraction(0), end - max(position, low)))
    return quantities


class _SegmentLines:
    """Collects the exactly computed lines of one segment, each rounded once."""

    def __init__(self, minor_unit: int, suffix: str) -> None:
        self.minor_unit = minor_unit
        self.suffix = suffix
        self.lines: list[BillLine] = []

    def add(self, name: str, quantity: Fraction, price: Decimal) -> None:
        amount = round_money(quantity * Fraction(price), self.minor_unit)
        self.lines.append(BillLine(name + self.suffix, _quantity(quantity), price, amount))

    def subtotal(self) -> Decimal:
        total = _ZERO
        for line in self.lines:
            total = _CTX.add(total, line.amount)
        return total


def _price_exact(
    tariff: Tariff, plan: _Plan, consumption: Consumption, account: AccountAttributes
) -> PricedBill:
    unit = tariff.minor_unit
    energy = _segment_energy(tariff, plan, consumption)
    ytd = Fraction(account.ytd_kwh)
    lines: list[BillLine] = []
    total = _ZERO
    several = len(plan.segments) > 1
    for seg, per_period in zip(plan.segments, energy, strict=True):
        version = seg.version
        season = version.seasons[seg.season_index]
        share = Fraction(seg.days, plan.days)
        out = _SegmentLines(unit, f" ({seg.first:%m-%d}–{seg.last:%m-%d})" if several else "")
        for charge in version.fixed_charges:
            per_month = charge.per is ChargeBasis.month
            out.add(charge.name, share if per_month else Fraction(seg.days), charge.amount)

        # Monthly block limits are prorated by days; annual ones are placed by year to date.
        if seg.new_tariff_year:
            ytd = Fraction(0)
        kwh = sum(per_period, Fraction(0))
        raise_by = Fraction(version.limit_raise_for(account.household_size))
        if version.annual_blocks:
            limits = [Fraction(limit) + raise_by for limit in season.limits]
            quantities = place_in_blocks(limits, ytd, kwh)
        else:
            limits = [(Fraction(limit) + raise_by) * share for limit in season.limits]
            quantities = place_in_blocks(limits, Fraction(0), kwh)
        ytd += kwh

        names = _block_names(version, season)
        style = version.line_style
        if style is LineStyle.blocks:
            for index, quantity in enumerate(quantities):
                if index == 0 or quantity:
                    out.add(names[0][index], quantity, season.prices[0][index])
        elif style is LineStyle.tou_surcharge:
            for name, quantity, price, used in zip(
                _period_names(version),
                per_period,
                version.period_prices,
                seg.periods_used,
                strict=True,
            ):
                if used or quantity:
                    out.add(name, quantity, price)
            surcharge_names = _surcharge_names(version, season)
            for index, quantity in enumerate(quantities):
                if season.surcharges[index] and quantity:
                    out.add(surcharge_names[index], quantity, season.surcharges[index])
        else:
            # SAM's convention: block limits apply to the month's total, and each period's
            # kWh is shared over the blocks in proportion to its part of that total.
            for period, period_kwh in enumerate(per_period):
                for index, block_kwh in enumerate(quantities):
                    if len(quantities) == 1:
                        quantity = period_kwh
                    elif kwh:
                        quantity = period_kwh * block_kwh / kwh
                    else:
                        quantity = Fraction(0)
                    if quantity or (index == 0 and seg.periods_used[period]):
                        out.add(names[period][index], quantity, season.prices[period][index])

        subtotal = out.subtotal()
        seg_total = subtotal
        minimum = version.minimum_charge
        if minimum is not None:
            factor = share if minimum.per is ChargeBasis.month else Fraction(seg.days)
            floor_amount = round_money(factor * Fraction(minimum.amount), unit)
            if subtotal < floor_amount:
                top_up = floor_amount - subtotal
                out.lines.append(BillLine(MINIMUM_TOP_UP + out.suffix, _ONE, top_up, top_up))
                seg_total = _CTX.add(seg_total, top_up)
        if (
            version.power_factor is not None
            and consumption.power_factor is not None
            and account.customer_kind == CustomerKind.non_residential
        ):
            line = _power_factor_line(
                version.power_factor, consumption.power_factor, subtotal, Decimal(1).scaleb(-unit)
            )
            out.lines.append(line._replace(component=line.component + out.suffix))
            seg_total = _CTX.add(seg_total, line.amount)
        lines.extend(out.lines)
        total = _CTX.add(total, seg_total)
    return PricedBill(tariff.currency, tuple(lines), total)
