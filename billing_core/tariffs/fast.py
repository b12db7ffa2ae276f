"""The fast path of pricing: a period in one tariff segment, priced from registers or a
total with Decimal operations over limits, prices and names worked out once per period."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from billing_core.customers.model import CustomerKind
from billing_core.tariffs.lines import (
    _CTX,
    _ONE,
    _ZERO,
    _block_names,
    _period_names,
    _power_factor_line,
    _registers_in_order,
    _surcharge_names,
)
from billing_core.tariffs.model import (
    MINIMUM_TOP_UP,
    AccountAttributes,
    BillLine,
    ChargeBasis,
    Consumption,
    LineStyle,
    PricedBill,
    Tariff,
)

if TYPE_CHECKING:
    from billing_core.tariffs.pricing import _Segment

_new_tuple = tuple.__new__  # builds a NamedTuple without its Python-level __new__


class _FastPlan:
    """Everything about a one-segment period that does not depend on the bill (constant lines,
    block limits, prices and line names, and the pricing routine for the tariff's shape), so
    that a bill costs a handful of Decimal operations."""

    __slots__ = (
        "annual",
        "blocks",
        "currency",
        "fixed_lines",
        "fixed_total",
        "limits",
        "minimum",
        "needs_finish",
        "new_tariff_year",
        "period_lines",
        "price",
        "quantum",
        "surcharge_blocks",
        "tariff",
        "version",
    )

    def __init__(self, tariff: Tariff, segment: _Segment, days: int) -> None:
        version = segment.version
        season = version.seasons[segment.season_index]
        self.tariff = tariff
        self.currency = tariff.currency
        self.version = version
        self.quantum = Decimal(1).scaleb(-tariff.minor_unit)
        self.annual = version.annual_blocks
        self.new_tariff_year = segment.new_tariff_year
        lines = []
        for charge in version.fixed_charges:
            quantity = _ONE if charge.per is ChargeBasis.month else Decimal(days)
            amount = _CTX.quantize(_CTX.multiply(quantity, charge.amount), self.quantum)
            lines.append(BillLine(charge.name, quantity, charge.amount, amount))
        self.fixed_lines = tuple(lines)
        self.fixed_total = _ZERO
        for line in lines:
            self.fixed_total = _CTX.add(self.fixed_total, line.amount)
        minimum = version.minimum_charge
        self.minimum: Decimal | None = None
        if minimum is not None:
            factor = _ONE if minimum.per is ChargeBasis.month else Decimal(days)
            self.minimum = _CTX.quantize(_CTX.multiply(factor, minimum.amount), self.quantum)
        self.needs_finish = minimum is not None or version.power_factor is not None
        self.limits = season.limits
        names = _block_names(version, season)
        lows = (_ZERO, *season.limits)
        uppers: tuple[Decimal | None, ...] = (*season.limits, None)
        # (lower limit, upper limit or None, line name, price) per block, one period only
        self.blocks = tuple(zip(lows, uppers, names[0], season.prices[0], strict=True))
        # (line name, price, used this period) per TOU period: a period the schedule does not
        # use gets a line only if its register has kWh; (index, name, surcharge) per block
        self.period_lines = tuple(
            zip(
                _period_names(version),
                version.period_prices or [p[0] for p in season.prices],
                segment.periods_used,
                strict=True,
            )
        )
        self.surcharge_blocks = tuple(
            (index, name, surcharge)
            for index, (name, surcharge) in enumerate(
                zip(_surcharge_names(version, season), season.surcharges, strict=False)
            )
            if surcharge
        )
        if version.line_style is LineStyle.blocks:
            simple = not self.annual and not version.household_rules
            self.price = _price_blocks_monthly if simple else _price_blocks
        elif version.line_style is LineStyle.tou_surcharge:
            self.price = _price_tou_surcharge
        else:
            self.price = _price_tou_one_block

    @classmethod
    def build(cls, tariff: Tariff, segment: _Segment, days: int) -> _FastPlan | None:
        version = segment.version
        if (
            version.line_style is LineStyle.tou_matrix
            and version.seasons[segment.season_index].limits
        ):
            return None  # proportional block shares are fractions: priced exactly instead
        return cls(tariff, segment, days)


def _price_blocks_monthly(
    plan: _FastPlan, consumption: Consumption, account: AccountAttributes
) -> PricedBill:
    """Monthly blocks without time of use: the common residential bill."""
    quantize = _CTX.quantize
    multiply = _CTX.multiply
    add = _CTX.add
    quantum = plan.quantum
    kwh = consumption.kwh
    lines = [*plan.fixed_lines]
    subtotal = plan.fixed_total
    for low, upper, name, price in plan.blocks:
        if low:
            if kwh <= low:
                break
            quantity = (kwh if upper is None or kwh < upper else upper) - low
        else:
            quantity = kwh if upper is None or kwh < upper else upper
        amount = quantize(multiply(quantity, price), quantum)
        lines.append(_new_tuple(BillLine, (name, quantity, price, amount)))
        subtotal = add(subtotal, amount)
    if plan.needs_finish:
        return _finish(plan, lines, subtotal, consumption, account)
    return _new_tuple(PricedBill, (plan.currency, tuple(lines), subtotal))


def _block_quantities(plan: _FastPlan, kwh: Decimal, account: AccountAttributes) -> list[Decimal]:
    """kWh per block: [position, position + kwh], position being the year to date for annual
    blocks and 0 for monthly ones; household rules raise every limit."""
    limits = plan.limits
    version = plan.version
    if version.household_rules:
        raise_by = version.limit_raise_for(account.household_size)
        if raise_by:
            limits = tuple(limit + raise_by for limit in limits)
    if plan.annual and not plan.new_tariff_year:
        position = account.ytd_kwh
        end = position + kwh
    else:
        position = _ZERO
        end = kwh
    quantities = []
    low = _ZERO
    for limit in limits:
        quantity = (end if end < limit else limit) - (position if position > low else low)
        quantities.append(quantity if quantity > 0 else _ZERO)
        low = limit
    quantity = end - (position if position > low else low)
    quantities.append(quantity if quantity > 0 else _ZERO)
    return quantities


def _price_blocks(
    plan: _FastPlan, consumption: Consumption, account: AccountAttributes
) -> PricedBill:
    """Blocks without time of use, annual or with household rules."""
    quantize = _CTX.quantize
    multiply = _CTX.multiply
    add = _CTX.add
    quantum = plan.quantum
    lines = [*plan.fixed_lines]
    subtotal = plan.fixed_total
    quantities = _block_quantities(plan, consumption.kwh, account)
    for index, (quantity, (_low, _upper, name, price)) in enumerate(
        zip(quantities, plan.blocks, strict=True)
    ):
        if index == 0 or quantity:
            amount = quantize(multiply(quantity, price), quantum)
            lines.append(_new_tuple(BillLine, (name, quantity, price, amount)))
            subtotal = add(subtotal, amount)
    return _finish(plan, lines, subtotal, consumption, account)


def _price_tou_surcharge(
    plan: _FastPlan, consumption: Consumption, account: AccountAttributes
) -> PricedBill:
    """Time of use with block surcharges on top of the period prices (e.g. 峰谷 + 阶梯)."""
    lines, subtotal = _tou_period_lines(plan, consumption)
    if plan.surcharge_blocks:
        quantize, multiply, add, quantum = _CTX.quantize, _CTX.multiply, _CTX.add, plan.quantum
        quantities = _block_quantities(plan, consumption.kwh, account)
        for index, name, surcharge in plan.surcharge_blocks:
            quantity = quantities[index]
            if quantity:
                amount = quantize(multiply(quantity, surcharge), quantum)
                lines.append(_new_tuple(BillLine, (name, quantity, surcharge, amount)))
                subtotal = add(subtotal, amount)
    if plan.needs_finish:
        return _finish(plan, lines, subtotal, consumption, account)
    return _new_tuple(PricedBill, (plan.currency, tuple(lines), subtotal))


def _price_tou_one_block(
    plan: _FastPlan, consumption: Consumption, account: AccountAttributes
) -> PricedBill:
    """Time of use with a price per period and a single block."""
    lines, subtotal = _tou_period_lines(plan, consumption)
    return _finish(plan, lines, subtotal, consumption, account)


def _tou_period_lines(plan: _FastPlan, consumption: Consumption) -> tuple[list[BillLine], Decimal]:
    """The fixed lines and a line per TOU period (those in use, or with kWh), and their sum."""
    quantize, multiply, add, quantum = _CTX.quantize, _CTX.multiply, _CTX.add, plan.quantum
    lines = [*plan.fixed_lines]
    subtotal = plan.fixed_total
    registers = _registers_in_order(plan.tariff, plan.version, consumption)
    for quantity, (name, price, used) in zip(registers, plan.period_lines, strict=True):
        if used or quantity:
            amount = quantize(multiply(quantity, price), quantum)
            lines.append(_new_tuple(BillLine, (name, quantity, price, amount)))
            subtotal = add(subtotal, amount)
    return lines, subtotal


def _finish(
    plan: _FastPlan,
    lines: list[BillLine],
    subtotal: Decimal,
    consumption: Consumption,
    account: AccountAttributes,
) -> PricedBill:
    """Minimum charge and power-factor adjustment, both on the rounded fixed + energy lines."""
    total = subtotal
    minimum = plan.minimum
    if minimum is not None and subtotal < minimum:
        top_up = minimum - subtotal
        lines.append(BillLine(MINIMUM_TOP_UP, _ONE, top_up, top_up))
        total = _CTX.add(total, top_up)
    table = plan.version.power_factor
    if (
        table is not None
        and consumption.power_factor is not None
        and account.customer_kind == CustomerKind.non_residential
    ):
        line = _power_factor_line(table, consumption.power_factor, subtotal, plan.quantum)
        lines.append(line)
        total = _CTX.add(total, line.amount)
    return PricedBill(plan.currency, tuple(lines), total)
