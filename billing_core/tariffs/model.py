"""Compiled tariffs as plain values, and what pricing takes and gives (consumption, account
attributes, bill lines); `pricing.price_period` turns the one into the other."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from billing_core.customers.model import CustomerKind
from billing_core.errors import InvalidInput, NotFound
from billing_core.tariffs.power_factor import PowerFactorTable

if TYPE_CHECKING:
    from billing_core.tariffs.pricing import _Plan

_ZERO = Decimal(0)

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
