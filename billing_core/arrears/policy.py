"""The arrears ladder policy (电费回收): the ladder's steps and their day offsets, leniency,
sensitive customers and periods, the hours a disconnection may be planned in and the
reconnection target, loaded from `policies/arrears.yaml` (docs/arrears.md).

A policy that relaxes a humane rule (disconnection at any hour or day, no leniency, no
sensitive customers, no final notice) is only valid with `simulation_only: true`, and
`load_arrears_policy` refuses such a policy: the simulator's naive ladder is one, production
never runs one."""

from __future__ import annotations

import functools
from datetime import date, time, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

import holidays
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from billing_core.policies import DEFAULT_POLICY_DIR, PolicyError, load_policy

Money = Annotated[Decimal, Field(ge=0, decimal_places=2)]


class Step(StrEnum):
    """What the ladder may decide. The first five (and `review_task`) are rows of a ladder in
    the policy; the rest follow from the account's state."""

    reminder_friendly = "reminder_friendly"  # before the due date, with the pay link
    overdue_notice = "overdue_notice"  # "your bill is now overdue", pay link, how to get help
    second_reminder_with_arrangement_offer = "second_reminder_with_arrangement_offer"  # 缓缴/分期
    call_task = "call_task"  # a different form: an agent calls (a console task, no message)
    formal_disconnection_notice = "formal_disconnection_notice"  # names the planned date
    disconnection_work_order = "disconnection_work_order"  # proposed; a person must approve it
    final_notice = "final_notice"  # 30 minutes before the approved time
    reconnection_order = "reconnection_order"  # at once after payment, target same working day
    review_task = "review_task"  # a person decides (sensitive, lenient ladder's end, …)
    stop = "stop"  # the ladder stops: cancel any pending work order or final notice
    # Recorded by the daily run, not decided by the ladder: a customer's request for an
    # arrangement nobody acted on in the collections policy's days became a call task and
    # the ladder resumed.
    arrangement_request_expired = "arrangement_request_expired"


# The steps that send the customer a message (the rest are tasks or orders for staff).
MESSAGE_STEPS = frozenset(
    {
        Step.reminder_friendly,
        Step.overdue_notice,
        Step.second_reminder_with_arrangement_offer,
        Step.formal_disconnection_notice,
        Step.final_notice,
    }
)
# Steps that may be rows of a ladder, and those a lenient ladder may not have.
LADDER_ROW_STEPS = frozenset(
    {
        Step.reminder_friendly,
        Step.overdue_notice,
        Step.second_reminder_with_arrangement_offer,
        Step.call_task,
        Step.formal_disconnection_notice,
        Step.disconnection_work_order,
        Step.review_task,
    }
)
DISCONNECTION_STEPS = frozenset({Step.formal_disconnection_notice, Step.disconnection_work_order})


class LadderRow(BaseModel):
    """One step of a ladder: taken `days` after the due date of the oldest open bill (negative:
    before it), or after the day the ladder resumed (a missed instalment, a closed dispute)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: Step
    days: Annotated[int, Field(ge=-30, le=365)]


class Ladders(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    standard: Annotated[tuple[LadderRow, ...], Field(min_length=1)]
    # The softer, longer ladder for lenient cases: no disconnection step in it. None: no
    # leniency (only the simulator's naive policy).
    lenient: tuple[LadderRow, ...] | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Self:
        for name, rows in (("standard", self.standard), ("lenient", self.lenient or ())):
            steps = [row.step for row in rows]
            if len(set(steps)) != len(steps):
                raise ValueError(f"ladders.{name}: a step appears twice")
            if not set(steps) <= LADDER_ROW_STEPS:
                wrong = sorted(set(steps) - LADDER_ROW_STEPS)
                raise ValueError(f"ladders.{name}: {', '.join(wrong)} cannot be a ladder row")
            if [row.days for row in rows] != sorted(row.days for row in rows):
                raise ValueError(f"ladders.{name}: rows must be in the order of their days")
        standard = [row.step for row in self.standard]
        order = Step.disconnection_work_order
        notice = Step.formal_disconnection_notice
        if order in standard and (
            notice not in standard or standard.index(notice) > standard.index(order)
        ):
            raise ValueError("ladders.standard: the work order needs a formal notice before it")
        if self.lenient is not None and DISCONNECTION_STEPS & {row.step for row in self.lenient}:
            raise ValueError("ladders.lenient: a lenient ladder has no disconnection step")
        return self


class Window(BaseModel):
    """Local wall-clock hours [from, until). Equal times mean any time of the day."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: time = Field(alias="from")
    until: time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.until < self.start:
            raise ValueError("a window may not cross midnight")
        return self

    @property
    def any_time(self) -> bool:
        return self.start == self.until


class NoticeDays(BaseModel):
    """Days between the formal disconnection notice and the planned date, by customer kind
    (DOMAIN §5: 3–7 days; 7 for residential customers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    residential: Annotated[int, Field(ge=3, le=7)] = 7
    non_residential: Annotated[int, Field(ge=3, le=7)] = 3

    def for_kind(self, customer_kind: str) -> int:
        return self.residential if customer_kind == "residential" else self.non_residential


class Disconnection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # When a disconnection may be planned or approved (local time): not at midday, not after
    # 17:00.
    windows: Annotated[tuple[Window, ...], Field(min_length=1)]
    working_days_only: bool = True
    not_day_before_holiday: bool = True
    # How far past the earliest date the ladder looks for an allowed slot before it hands the
    # case to a person instead.
    search_days: Annotated[int, Field(ge=1, le=120)] = 30


class Reconnection(BaseModel):
    """After payment a reconnection order is raised at once; its target is the end of the
    working day (today's when raised inside working hours, else the next working day's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    working_day: Window


class Leniency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # "No arrears in the last N months": the caller computes the state's flag over this span.
    good_history_months: Annotated[int, Field(ge=1, le=60)] = 12
    small_amount_below: Money = Decimal("50.00")
    first_arrears: bool = True


class Festival(StrEnum):
    """Festivals of the Chinese lunisolar calendar a sensitive period may follow every year:
    their date each year comes from the `holidays` package (China's public holidays)."""

    spring_festival = "spring_festival"  # 春节, the lunar new year's day
    dragon_boat = "dragon_boat"  # 端午节, the 5th day of the 5th lunar month
    mid_autumn = "mid_autumn"  # 中秋节, the 15th day of the 8th lunar month


# How the `holidays` package names each festival's day in China's holidays (in en_US).
_FESTIVAL_NAMES = {
    Festival.spring_festival: "Chinese New Year (Spring Festival)",
    Festival.dragon_boat: "Dragon Boat Festival",
    Festival.mid_autumn: "Mid-Autumn Festival",
}


@functools.lru_cache(maxsize=512)
def festival_day(festival: Festival, year: int) -> date | None:
    """The festival's (first) day in `year`, from the `holidays` package; None for a year
    the package cannot compute."""
    try:
        found = holidays.country_holidays("CN", years=year, language="en_US")
    except (NotImplementedError, ValueError, OverflowError):
        return None
    wanted = _FESTIVAL_NAMES[festival]
    days = [d for d, names in found.items() if d.year == year and wanted in names.split("; ")]
    return min(days, default=None)


MonthDay = Annotated[str, Field(pattern=r"^\d{2}-\d{2}$")]


def month_day(text: str) -> tuple[int, int]:
    month, day = (int(part) for part in text.split("-"))
    return month, day


class EveryYear(BaseModel):
    """The same month-day range every year ("MM-DD", both days included); `to` before `from`
    crosses New Year (e.g. 12-20 to 01-05)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: MonthDay = Field(alias="from")
    to: MonthDay

    @model_validator(mode="after")
    def _real_days(self) -> Self:
        for text in (self.start, self.to):
            if text == "02-29":
                raise ValueError("02-29 is not in every year: use 02-28 or 03-01")
            try:
                date(2001, *month_day(text))
            except ValueError:
                raise ValueError(f"{text!r} is not a month and day (MM-DD)") from None
        return self

    def ranges(self, year: int) -> list[tuple[date, date]]:
        """The ranges starting in `year` - 1 and `year` (the first may reach into `year`)."""
        wraps = month_day(self.to) < month_day(self.start)
        return [
            (date(y, *month_day(self.start)), date(y + wraps, *month_day(self.to)))
            for y in (year - 1, year)
        ]


class SensitivePeriod(BaseModel):
    """A range of days (both included) in which no disconnection is planned, in one of three
    forms: fixed dates (`from`, `to`), the same month-days every year (`every_year`), or
    days around a lunar festival every year (`festival`, `days_before`, `days_after`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    start: date | None = Field(default=None, alias="from")
    to: date | None = None  # included
    every_year: EveryYear | None = None
    festival: Festival | None = None
    days_before: Annotated[int, Field(ge=0, le=60)] = 0
    days_after: Annotated[int, Field(ge=0, le=60)] = 0

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        dated = self.start is not None or self.to is not None
        forms = [dated, self.every_year is not None, self.festival is not None]
        if sum(forms) != 1:
            raise ValueError(
                f"sensitive period {self.name!r}: give exactly one of from/to, every_year, festival"
            )
        if dated and (self.start is None or self.to is None):
            raise ValueError(f"sensitive period {self.name!r}: from and to are both needed")
        if self.start is not None and self.to is not None and self.to < self.start:
            raise ValueError(f"sensitive period {self.name!r} ends before it starts")
        if self.festival is None and (self.days_before or self.days_after):
            raise ValueError(
                f"sensitive period {self.name!r}: days_before and days_after go with festival"
            )
        return self

    def ranges(self, year: int) -> list[tuple[date, date]]:
        """Its ranges that may cover a day of `year` (some may not: the caller compares)."""
        if self.start is not None and self.to is not None:
            return [(self.start, self.to)]
        if self.every_year is not None:
            return self.every_year.ranges(year)
        assert self.festival is not None
        found = []
        for y in (year - 1, year, year + 1):
            day = festival_day(self.festival, y)
            if day is not None:
                found.append(
                    (day - timedelta(days=self.days_before), day + timedelta(days=self.days_after))
                )
        return found


class Temperature(BaseModel):
    """Applied only where a daily forecast has been imported for the day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heat_at_or_above_c: Decimal = Decimal(35)
    cold_at_or_below_c: Decimal = Decimal(-5)


class Sensitive(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Customer sensitivity flags (customer_sensitivity.kind) never put forward automatically.
    customer_kinds: frozenset[str] = frozenset()
    periods: tuple[SensitivePeriod, ...] = ()
    temperature: Temperature | None = None
    # By year: (first day, last day, name) of every period covering a day of that year,
    # worked out once (the ladder asks for every account and every day it searches).
    _by_year: dict[int, tuple[tuple[date, date, str], ...]] = PrivateAttr(default_factory=dict)

    def _fields(self) -> tuple[object, ...]:
        return (self.customer_kinds, self.periods, self.temperature)

    # Compared and hashed by its fields only, not by what `_by_year` has worked out so far.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sensitive):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def period_on(self, day: date) -> str | None:
        """The name of the first period (in the policy's order) covering `day`, if any."""
        spans = self._by_year.get(day.year)
        if spans is None:
            first, last = date(day.year, 1, 1), date(day.year, 12, 31)
            spans = tuple(
                (start, end, period.name)
                for period in self.periods
                for start, end in period.ranges(day.year)
                if start <= last and end >= first
            )
            self._by_year[day.year] = spans
        for start, end, name in spans:
            if start <= day <= end:
                return name
        return None


class LadderPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    simulation_only: bool = False
    ladders: Ladders
    # No two ladder steps that message or call the customer on fewer days apart than this
    # (an account that enters the ladder late does not get three reminders in one day).
    min_days_between_steps: Annotated[int, Field(ge=0, le=30)] = 2
    formal_notice_days: NoticeDays = NoticeDays()
    final_notice_minutes_before: Annotated[int, Field(ge=5, le=1440)] | None = 30
    message_hours: Window
    disconnection: Disconnection
    reconnection: Reconnection
    leniency: Leniency | None = None
    sensitive: Sensitive = Sensitive()

    @model_validator(mode="after")
    def _humane_unless_simulation(self) -> Self:
        if self.simulation_only:
            return self
        relaxed = []
        if any(w.any_time for w in self.disconnection.windows):
            relaxed.append("disconnection.windows allow any time")
        if not self.disconnection.working_days_only:
            relaxed.append("disconnection.working_days_only is false")
        if not self.disconnection.not_day_before_holiday:
            relaxed.append("disconnection.not_day_before_holiday is false")
        if self.leniency is None or self.ladders.lenient is None:
            relaxed.append("no leniency (leniency and ladders.lenient are needed)")
        if not self.sensitive.customer_kinds:
            relaxed.append("sensitive.customer_kinds is empty")
        if self.final_notice_minutes_before is None:
            relaxed.append("no final notice")
        if relaxed:
            raise ValueError(
                "a policy that relaxes humane rules needs simulation_only: true ("
                + "; ".join(relaxed)
                + ")"
            )
        return self

    def ladder(self, lenient: bool) -> tuple[LadderRow, ...]:
        if lenient and self.ladders.lenient is not None:
            return self.ladders.lenient
        return self.ladders.standard


def load_arrears_policy(directory: Path = DEFAULT_POLICY_DIR) -> LadderPolicy:
    """The production ladder: `policies/arrears.yaml`; a simulation-only policy is refused."""
    policy = load_policy("arrears", LadderPolicy, directory)
    if policy.simulation_only:
        raise PolicyError(f"{directory / 'arrears.yaml'}: a simulation-only policy cannot run")
    return policy


def load_ladder_policy_file(path: Path) -> LadderPolicy:
    """Any ladder policy file (the simulator's `--policy FILE`), simulation-only ones too."""
    if path.suffix != ".yaml":
        raise PolicyError(f"{path}: a policy file's name ends in .yaml")
    return load_policy(path.stem, LadderPolicy, path.parent)
