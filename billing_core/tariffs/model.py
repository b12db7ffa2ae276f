"""Pure tariff pricing: compiled tariffs as plain values, and `price_period`, which turns the
consumption of a billing period into bill lines rounded half-up to the currency's minor unit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple, NoReturn
from zoneinfo import ZoneInfo

from billing_core.customers.model import CustomerKind
from billing_core.errors import InvalidInput, NotFound
from billing_core.tariffs.power_factor import PowerFactorTable, round_power_factor

# One context for every money operation (products, roundings, sums), so that a caller's
# thread-local context cannot change a bill; 40 digits hold any realistic product exactly.
_CTX = Context(prec=40, rounding=ROUND_HALF_UP)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_QUANTITY_PLACES = 3  # a prorated quantity that has no exact decimal is shown to 0.001

MINIMUM_TOP_UP = "Minimum charge top-up"
POWER_FACTOR_ADJUSTMENT = "Power factor adjustment"


class TariffError(InvalidInput):
    """A tariff file, or a request to price with it, is not acceptable.

    `problems` holds one `path.to.field: reason` line per problem found."""

    def __init__(self, problems: Sequence[str], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        head = f"tariff {source} is invalid" if source else "tariff problem"
        super().__init__(head + ":\n" + "\n".join(f"  {line}" for line in self.problems))


class UnknownTariff(NotFound):
    """No tariff with that code is loaded."""


class ChargeBasis(StrEnum):
    month = "month"  # once per billing period (a billing period is one month)
    day = "day"  # for each day of the billing period


class LineStyle(StrEnum):
    """How energy is shown on the bill."""

    blocks = "blocks"  # one line per block at the block's full price (no time of use)
    tou_surcharge = "tou_surcharge"  # one line per TOU period, plus block surcharge lines
    tou_matrix = "tou_matrix"  # one line per TOU period and block (URDB style)


@dataclass(frozen=True, slots=True)
class FixedCharge:
    name: str
    amount: Decimal
    per: ChargeBasis


@dataclass(frozen=True, slots=True)
class Season:
    """Block limits and prices for the months of one season.

    `limits` are the cumulative upper limits (kWh) of every block but the last, which is open.
    `prices[p][t]` is the full price of block t in TOU period p (one period without TOU).
    `surcharges[t]` is set for the `tou_surcharge` style: block t costs the period's price
    plus this surcharge."""

    name: str
    limits: tuple[Decimal, ...]
    prices: tuple[tuple[Decimal, ...], ...]
    surcharges: tuple[Decimal, ...] = ()


@dataclass(frozen=True, slots=True)
class TariffVersion:
    """One version of a tariff, in force from `effective_from` until the next version."""

    effective_from: date
    line_style: LineStyle
    periods: tuple[str, ...]  # TOU period names; ("",) without time of use
    period_prices: tuple[Decimal, ...]  # per TOU period, for the `tou_surcharge` style
    seasons: tuple[Season, ...]
    season_of_month: tuple[int, ...]  # 12 entries: month - 1 -> index into `seasons`
    annual_blocks: bool = False
    year_start: tuple[int, int] = (1, 1)  # (month, day) the tariff year starts
    # [weekend][month-1][hour] flattened (2 * 12 * 24) -> index into `periods`; () without TOU
    schedule: tuple[int, ...] = ()
    fixed_charges: tuple[FixedCharge, ...] = ()
    minimum_charge: FixedCharge | None = None
    power_factor: PowerFactorTable | None = None
    # (minimum persons, kWh added to every block limit), largest minimum first
    household_rules: tuple[tuple[int, Decimal], ...] = ()

    @property
    def time_of_use(self) -> bool:
        return self.line_style is not LineStyle.blocks

    def limit_raise_for(self, household_size: int | None) -> Decimal:
        if household_size is not None:
            for persons, extra in self.household_rules:
                if household_size >= persons:
                    return extra
        return _ZERO

    def periods_used_in(self, months: set[int]) -> tuple[bool, ...]:
        """For each TOU period: does the schedule use it in any of these months (1-12)?"""
        if not self.schedule:
            return (True,) * len(self.periods)
        used = {
            self.schedule[(weekend * 12 + month - 1) * 24 + hour]
            for weekend in (0, 1)
            for month in months
            for hour in range(24)
        }
        return tuple(index in used for index in range(len(self.periods)))

    def period_at(self, local: datetime) -> int:
        """TOU period of an interval starting at this local wall-clock time."""
        if not self.schedule:
            return 0
        weekend = 1 if local.weekday() >= 5 else 0
        return self.schedule[(weekend * 12 + local.month - 1) * 24 + local.hour]


@dataclass(frozen=True, slots=True)
class TariffSource:
    publisher: str
    date: date
    title: str = ""
    url: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Tariff:
    """A compiled tariff: every version as plain values, ready to price many bills."""

    code: str
    name: str
    currency: str
    minor_unit: int  # decimal places of the currency (2 for CNY and USD)
    timezone: str
    customer_kinds: tuple[CustomerKind, ...]
    versions: tuple[TariffVersion, ...]  # by effective date, oldest first
    source: TariffSource | None = None
    # Billing plans by (start, end): computed once, then reused by every bill of that period.
    _plans: dict[tuple[date, date], _Plan] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def version_on(self, day: date) -> TariffVersion:
        found: TariffVersion | None = None
        for version in self.versions:
            if version.effective_from <= day:
                found = version
            else:
                break
        if found is None:
            raise TariffError(
                [
                    f"{self.code}: no version in effect on {day.isoformat()}"
                    f" (first: {self.versions[0].effective_from.isoformat()})"
                ]
            )
        return found


# --- inputs and results ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """Energy used in one interval; `start` is timezone-aware and marks the interval start."""

    start: datetime
    kwh: Decimal


@dataclass(frozen=True, slots=True)
class Consumption:
    """What the meter says for the period: a total, TOU registers, or intervals.

    Build it with `total`, `of_registers` or `of_intervals`; `kwh` is always the total."""

    kwh: Decimal
    registers: Mapping[str, Decimal] | None = None
    intervals: tuple[Interval, ...] = ()
    power_factor: Decimal | None = None

    def __post_init__(self) -> None:
        if self.kwh < 0:
            raise TariffError([f"kwh: must not be negative (got {self.kwh})"])
        if self.registers is not None:
            for name, value in self.registers.items():
                if value < 0:
                    raise TariffError([f"registers.{name}: must not be negative (got {value})"])
            if sum(self.registers.values(), _ZERO) != self.kwh:
                raise TariffError(["kwh: must equal the sum of the registers"])
        if self.intervals and sum((row.kwh for row in self.intervals), _ZERO) != self.kwh:
            raise TariffError(["kwh: must equal the sum of the intervals"])
        for index, interval in enumerate(self.intervals):
            if interval.start.tzinfo is None or interval.start.utcoffset() is None:
                raise TariffError([f"intervals.{index}.start: must be timezone-aware"])
            if interval.kwh < 0:
                raise TariffError([f"intervals.{index}.kwh: must not be negative"])
        if self.power_factor is not None and not (0 <= self.power_factor <= 1):
            raise TariffError([f"power_factor: must be between 0 and 1 (got {self.power_factor})"])

    @classmethod
    def total(cls, kwh: Decimal | int, *, power_factor: Decimal | None = None) -> Consumption:
        return cls(kwh=Decimal(kwh), power_factor=power_factor)

    @classmethod
    def of_registers(
        cls, registers: Mapping[str, Decimal], *, power_factor: Decimal | None = None
    ) -> Consumption:
        values = {name: Decimal(value) for name, value in registers.items()}
        return cls(kwh=sum(values.values(), _ZERO), registers=values, power_factor=power_factor)

    @classmethod
    def of_intervals(
        cls, intervals: Sequence[Interval], *, power_factor: Decimal | None = None
    ) -> Consumption:
        rows = tuple(intervals)
        return cls(
            kwh=sum((row.kwh for row in rows), _ZERO), intervals=rows, power_factor=power_factor
        )


@dataclass(frozen=True, slots=True)
class AccountAttributes:
    customer_kind: CustomerKind = CustomerKind.residential
    household_size: int | None = None
    ytd_kwh: Decimal = _ZERO  # kWh used in the tariff year before the period (annual blocks)


NO_ATTRIBUTES = AccountAttributes()


class BillLine(NamedTuple):
    """One line of a bill. A NamedTuple rather than a frozen dataclass: it is immutable all
    the same, and it is built a million times a second in bill runs."""

    component: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class PricedBill(NamedTuple):
    currency: str
    lines: tuple[BillLine, ...]
    total: Decimal

    def as_json(self) -> dict[str, object]:
        """Amounts as decimal strings, never floats."""
        return {
            "currency": self.currency,
            "lines": [
                {
                    "component": line.component,
                    "quantity": str(line.quantity),
                    "unit_price": str(line.unit_price),
                    "amount": str(line.amount),
                }
                for line in self.lines
            ],
            "total": str(self.total),
        }


# --- billing plans: how a period splits over versions, seasons and tariff years ---------------


@dataclass(frozen=True, slots=True)
class _Segment:
    version: TariffVersion
    season_index: int
    first: date
    last: date
    days: int
    new_tariff_year: bool  # year-to-date consumption starts again at 0 here
    periods_used: tuple[bool, ...]  # TOU periods the schedule uses on these days


@dataclass(frozen=True, slots=True)
class _Plan:
    start: date
    end: date
    days: int
    segments: tuple[_Segment, ...]
    fast: _FastPlan | None


def _tariff_year(version: TariffVersion, day: date) -> int | None:
    if not version.annual_blocks:
        return None
    month, dom = version.year_start
    return day.year if (day.month, day.day) >= (month, dom) else day.year - 1


def _build_plan(tariff: Tariff, start: date, end: date) -> _Plan:
    if end < start:
        raise TariffError([f"period: end {end.isoformat()} is before start {start.isoformat()}"])
    days = (end - start).days + 1
    # Group the days of the period by (version, season, tariff year).
    groups: list[tuple[TariffVersion, int, int | None, date, int]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        version = tariff.version_on(day)
        season = version.season_of_month[day.month - 1]
        year = _tariff_year(version, day)
        if groups:
            last_version, last_season, last_year, first, count = groups[-1]
            if last_version is version and last_season == season and last_year == year:
                groups[-1] = (last_version, last_season, last_year, first, count + 1)
                continue
        groups.append((version, season, year, day, 1))
    segments = []
    previous_year: int | None = None
    for version, season, year, first, count in groups:
        months = {(first + timedelta(days=offset)).month for offset in range(count)}
        segments.append(
            _Segment(
                version=version,
                season_index=season,
                first=first,
                last=first + timedelta(days=count - 1),
                days=count,
                new_tariff_year=(
                    year is not None and previous_year is not None and year != previous_year
                ),
                periods_used=version.periods_used_in(months),
            )
        )
        previous_year = year
    fast = _FastPlan.build(tariff, segments[0], days) if len(segments) == 1 else None
    return _Plan(start=start, end=end, days=days, segments=tuple(segments), fast=fast)


def _plan_for(tariff: Tariff, start: date, end: date) -> _Plan:
    plans = tariff._plans
    plan = plans.get((start, end))
    if plan is None:
        if len(plans) > 4096:  # bounded: a bill run has a handful of distinct periods
            plans.clear()
        plan = plans[(start, end)] = _build_plan(tariff, start, end)
    return plan


# --- money ----------------------------------------------------------------------------------


def round_money(value: Decimal | Fraction, minor_unit: int = 2) -> Decimal:
    """Half-up (away from zero on a tie) to the currency's minor unit, exactly."""
    if isinstance(value, Decimal):
        return _CTX.quantize(value, Decimal(1).scaleb(-minor_unit))
    scaled = value * 10**minor_unit
    magnitude = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    units = magnitude if scaled >= 0 else -magnitude
    return Decimal(units).scaleb(-minor_unit)


def _quantity(value: Fraction) -> Decimal:
    """A quantity as a Decimal: exact where it has a finite decimal form, else to 0.001."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den == 1:
        places = max(twos, fives)
        return Decimal(value.numerator * 10**places // value.denominator).scaleb(-places)
    return round_money(value, _QUANTITY_PLACES)


# --- the fast path: one segment, no intervals -------------------------------------------------


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


def _block_names(version: TariffVersion, season: Season) -> tuple[tuple[str, ...], ...]:
    """Line names [period][block]."""
    blocks = len(season.limits) + 1
    suffix = f", {season.name}" if len(version.seasons) > 1 else ""
    names = []
    for period in version.periods:
        row = []
        for block in range(blocks):
            parts = ["Energy"]
            if period:
                parts.append(period)
            if blocks > 1:
                parts.append(f"block {block + 1}")
            row.append(" ".join(parts) + suffix)
        names.append(tuple(row))
    return tuple(names)


def _surcharge_names(version: TariffVersion, season: Season) -> tuple[str, ...]:
    suffix = f", {season.name}" if len(version.seasons) > 1 else ""
    return tuple(f"Block {i + 1} surcharge{suffix}" for i in range(len(season.limits) + 1))


def _period_names(version: TariffVersion) -> tuple[str, ...]:
    return tuple(f"Energy {period}" if period else "Energy" for period in version.periods)


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


def _power_factor_line(
    table: PowerFactorTable, measured: Decimal, base: Decimal, quantum: Decimal
) -> BillLine:
    """The adjustment applies to the fixed and energy charges (基本电费 + 电度电费)."""
    rate = _CTX.divide(table.percent_for(measured), _HUNDRED)
    amount = _CTX.quantize(_CTX.multiply(base, rate), quantum)
    name = f"{POWER_FACTOR_ADJUSTMENT} (PF {round_power_factor(measured)}, std {table.standard})"
    return BillLine(name, base, rate, amount)


def power_factor_adjustment(bill: PricedBill) -> Decimal | None:
    """The bill's power-factor adjustment (sum over its parts), or None if it has none."""
    total: Decimal | None = None
    for line in bill.lines:
        if line.component.startswith(POWER_FACTOR_ADJUSTMENT):
            total = _CTX.add(total or _ZERO, line.amount)
    return total


def _registers_in_order(
    tariff: Tariff, version: TariffVersion, consumption: Consumption
) -> list[Decimal]:
    registers = consumption.registers
    periods = version.periods
    if registers is None:
        raise TariffError(
            [
                f"consumption: {tariff.code} prices by time of use: give register kWh for"
                f" {', '.join(periods)}, or interval data"
            ]
        )
    try:
        values = [registers[name] for name in periods]
    except KeyError as exc:
        raise TariffError(
            [f"registers.{exc.args[0]}: missing; {tariff.code} needs {', '.join(periods)}"]
        ) from None
    if len(registers) != len(values):
        # A register the tariff has no period for may be read as zero; energy is never dropped.
        extra = sorted(name for name in registers if name not in periods and registers[name])
        if extra:
            raise TariffError(
                [
                    f"registers.{name}: {registers[name]} kWh, but {tariff.code} has no period"
                    f" {name!r} (periods: {', '.join(periods)})"
                    for name in extra
                ]
            )
    return values


# --- the exact path: any number of segments, intervals, proportional blocks ------------------


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


# --- the entry point -------------------------------------------------------------------------


def _refuse_kind(tariff: Tariff, account: AccountAttributes) -> NoReturn:
    kinds = ", ".join(tariff.customer_kinds)
    raise TariffError(
        [f"account: {tariff.code} is for {kinds} customers, not {account.customer_kind}"]
    )


def price_period(
    tariff: Tariff,
    *,
    start: date,
    end: date,
    consumption: Consumption,
    account: AccountAttributes = NO_ATTRIBUTES,
) -> PricedBill:
    """Price the consumption of the billing period `start`..`end` (both days included).

    A period that straddles tariff versions, seasons or tariff years is split by days: each
    part gets its share of the kWh (or the intervals that fall in it), of the monthly block
    limits and of the monthly charges."""
    if account.customer_kind not in tariff.customer_kinds:
        _refuse_kind(tariff, account)
    plan = _plan_for(tariff, start, end)
    fast = plan.fast
    if fast is not None and not consumption.intervals:
        return fast.price(fast, consumption, account)
    return _price_exact(tariff, plan, consumption, account)


def price_period_exact(
    tariff: Tariff,
    *,
    start: date,
    end: date,
    consumption: Consumption,
    account: AccountAttributes = NO_ATTRIBUTES,
) -> PricedBill:
    """The reference: the same bill computed with exact fractions throughout, never the fast
    path. Tests hold `price_period` to it."""
    if account.customer_kind not in tariff.customer_kinds:
        _refuse_kind(tariff, account)
    return _price_exact(tariff, _plan_for(tariff, start, end), consumption, account)
