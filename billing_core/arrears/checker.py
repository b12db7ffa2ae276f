"""An independent check of the humane rules (docs/domain.md §5) over what happened, not over
what the ladder decided: given a disconnection (when, to whom, after which notices, in which
state of the account) or a reconnection, the rules it broke. The simulator counts them for
every policy it runs (the naive one breaks many); the property tests check the ladder never
produces one.

It shares no code with the ladder (`model.py`): working days and the day before a holiday
are worked out here from the calendar's raw sets, windows and periods from the humane policy's
values (a festival's day from the `holidays` package, as the policy gives it), so a mistake in
the ladder is not repeated here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from billing_core.arrears.policy import (
    Festival,
    LadderPolicy,
    SensitivePeriod,
    festival_day,
    month_day,
)
from billing_core.calendar import WorkingCalendar


class Rule(StrEnum):
    """The humane rules a disconnection or reconnection can break."""

    hours = "disconnection outside the allowed hours"
    day_off = "disconnection on a weekend or public holiday"
    day_before_holiday = "disconnection on the day before a holiday"
    sensitive_customer = "disconnection of a sensitive customer"
    sensitive_period = "disconnection in a sensitive period"
    lenient_customer = "disconnection of a customer owed leniency"
    no_reminders = "disconnection without every reminder before it"
    formal_notice = "disconnection without the formal notice in time"
    final_notice = "disconnection without the final notice in time"
    stopped = "disconnection after a payment, arrangement or dispute"
    reconnection_late = "reconnection after the same working day"


@dataclass(frozen=True)
class Disconnection:
    """What the checker needs to know about one disconnection."""

    at: datetime
    customer_kind: str
    sensitive: bool  # the customer had a sensitivity flag
    lenient_eligible: bool  # good history, first arrears or a small amount
    reminders_given: int  # reminders and calls before the formal notice
    formal_notice_at: datetime | None
    final_notice_at: datetime | None
    stopped: bool  # paid in full, an active arrangement or an open dispute at the time


@dataclass(frozen=True)
class HardRules:
    """The humane rules' values, taken once from the humane (production) policy."""

    windows: tuple[tuple[time, time], ...]
    # Each sensitive period as the policy gives it: ("dates", first, last), ("yearly",
    # (month, day), (month, day)) or ("festival", festival, days before, days after).
    periods: tuple[tuple[object, ...], ...]
    notice_days: dict[str, int]
    final_notice_minutes: int
    reminders_needed: int
    working_day_ends: time
    small_amount: Decimal  # leniency's threshold

    @classmethod
    def from_policy(cls, policy: LadderPolicy) -> HardRules:
        if policy.simulation_only or policy.final_notice_minutes_before is None:
            raise ValueError("the hard rules come from the humane (production) policy")
        rows = [r.step.value for r in policy.ladders.standard]
        reminders = rows.index("formal_disconnection_notice") - rows.count("reminder_friendly")
        return cls(
            windows=tuple((w.start, w.until) for w in policy.disconnection.windows),
            periods=tuple(_period_spec(p) for p in policy.sensitive.periods),
            notice_days={
                "residential": policy.formal_notice_days.residential,
                "non_residential": policy.formal_notice_days.non_residential,
            },
            final_notice_minutes=policy.final_notice_minutes_before,
            reminders_needed=reminders,
            working_day_ends=policy.reconnection.working_day.until,
            small_amount=policy.leniency.small_amount_below if policy.leniency else Decimal(0),
        )


def _period_spec(period: SensitivePeriod) -> tuple[object, ...]:
    if period.every_year is not None:
        return ("yearly", month_day(period.every_year.start), month_day(period.every_year.to))
    if period.festival is not None:
        return ("festival", period.festival, period.days_before, period.days_after)
    return ("dates", period.start, period.to)


def _in_period(day: date, spec: tuple[object, ...]) -> bool:
    """Whether `day` falls in the sensitive period, worked out from its raw values."""
    kind = spec[0]
    if kind == "dates":
        first, last = spec[1], spec[2]
        assert isinstance(first, date) and isinstance(last, date)
        return first <= day <= last
    if kind == "yearly":
        first_md, last_md, today = spec[1], spec[2], (day.month, day.day)
        assert isinstance(first_md, tuple) and isinstance(last_md, tuple)
        if first_md <= last_md:
            return first_md <= today <= last_md
        return today >= first_md or today <= last_md  # across New Year
    festival, before, after = spec[1], spec[2], spec[3]
    assert isinstance(festival, Festival) and isinstance(before, int) and isinstance(after, int)
    for year in (day.year - 1, day.year, day.year + 1):
        feast = festival_day(festival, year)
        if feast is not None and -before <= (day - feast).days <= after:
            return True
    return False


def _working(day: date, calendar: WorkingCalendar) -> bool:
    if day in calendar.makeup_working_days:
        return True
    return day.weekday() < 5 and day not in calendar.public_holidays


def _eve_of_holiday(day: date, calendar: WorkingCalendar) -> bool:
    following = day + timedelta(days=1)
    for _ in range(30):
        if following in calendar.public_holidays:
            return True
        if _working(following, calendar):
            return False
        following += timedelta(days=1)
    return False


def disconnection_violations(
    event: Disconnection, *, rules: HardRules, calendar: WorkingCalendar, tz: tzinfo
) -> list[Rule]:
    """Every humane rule this disconnection broke (empty: none)."""
    local = event.at.astimezone(tz)
    day, clock = local.date(), local.time().replace(tzinfo=None)
    broken = []
    if not any(start <= clock < until for start, until in rules.windows):
        broken.append(Rule.hours)
    if not _working(day, calendar):
        broken.append(Rule.day_off)
    if _eve_of_holiday(day, calendar):
        broken.append(Rule.day_before_holiday)
    if event.sensitive:
        broken.append(Rule.sensitive_customer)
    if any(_in_period(day, spec) for spec in rules.periods):
        broken.append(Rule.sensitive_period)
    if event.lenient_eligible:
        broken.append(Rule.lenient_customer)
    if event.reminders_given < rules.reminders_needed:
        broken.append(Rule.no_reminders)
    notice = event.formal_notice_at
    days = rules.notice_days.get(event.customer_kind, max(rules.notice_days.values()))
    if notice is None or (day - notice.astimezone(tz).date()).days < days:
        broken.append(Rule.formal_notice)
    final = event.final_notice_at
    if final is None or event.at - final < timedelta(minutes=rules.final_notice_minutes):
        broken.append(Rule.final_notice)
    if event.stopped:
        broken.append(Rule.stopped)
    return broken


def reconnection_violations(
    *,
    paid_at: datetime,
    reconnected_at: datetime,
    rules: HardRules,
    calendar: WorkingCalendar,
    tz: tzinfo,
) -> list[Rule]:
    """A reconnection after payment must be done by the end of the working day it was paid on
    (the next working day's when paid after hours or on a day off)."""
    local = paid_at.astimezone(tz)
    day = local.date()
    if not (_working(day, calendar) and local.time().replace(tzinfo=None) < rules.working_day_ends):
        day += timedelta(days=1)
        while not _working(day, calendar):
            day += timedelta(days=1)
    deadline = datetime.combine(day, rules.working_day_ends, tzinfo=tz).astimezone(UTC)
    return [Rule.reconnection_late] if reconnected_at > deadline else []


def lenient_eligible(
    *, arrears_in_last_12_months: bool, past_episodes: int, owed: Decimal, small: Decimal
) -> bool:
    """Leniency as DOMAIN §5 words it, for the checker: good history, first arrears, small
    amount."""
    return not arrears_in_last_12_months or past_episodes == 0 or owed < small
