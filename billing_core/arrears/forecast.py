"""The daily weather forecast the arrears ladder heeds (docs/arrears.md, "The forecast"): a
CSV file `date,low_c,high_c` imported by `wattdesk arrears forecast import FILE` or the API,
stored one row per day (a day imported again is replaced), and read into the `ArrearsRules`
of the daily run and of an approval, where a day reaching the policy's
`sensitive.temperature` limits is treated as a sensitive period.

A file with any bad line stores nothing: every bad line is reported with its number and
reason (`ForecastRejected`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from billing_core.arrears.model import DailyForecast
from billing_core.arrears.rules import ArrearsRules
from billing_core.arrears.tables import ForecastDay
from billing_core.audit.service import record_change
from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert
from billing_core.errors import InvalidInput
from billing_core.importing import (
    ImportRefused,
    Rejection,
    check_header,
    csv_records,
    decimal_places,
)

FORECAST = table_of(ForecastDay)
COLUMNS = ("date", "low_c", "high_c")
# Beyond what any forecast for a place people live in says: a typo (e.g. Fahrenheit).
LOWEST_C, HIGHEST_C = Decimal(-70), Decimal(60)
MAX_DAYS = 366  # lines in one file
MAX_SOURCE = 200

__all__ = [
    "COLUMNS",
    "ForecastRejected",
    "ImportRefused",
    "ParsedForecast",
    "import_forecast",
    "load_forecast",
    "parse_forecast_csv",
    "with_forecast",
]


class ForecastRejected(InvalidInput):
    """A forecast file with bad lines: nothing was stored. `rejections` names each line."""

    def __init__(self, rejections: Sequence[Rejection]) -> None:
        self.rejections = tuple(rejections)
        lines = "\n".join(str(r) for r in self.rejections)
        count = len(self.rejections)
        super().__init__(
            f"the forecast has {count} bad line{'s' if count != 1 else ''}; "
            f"nothing was stored:\n{lines}"
        )


@dataclass(frozen=True)
class ParsedForecast:
    days: Mapping[date, DailyForecast]
    rejections: tuple[Rejection, ...] = ()


def _celsius(name: str, raw: str, problems: list[str]) -> Decimal | None:
    if not raw:
        problems.append(f"{name} is missing")
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        problems.append(f"{name} {raw[:40]!r} is not a number")
        return None
    if not value.is_finite():
        problems.append(f"{name} {raw[:40]!r} is not a number")
    elif decimal_places(value) > 1:
        problems.append(f"{name} {raw!r} has more than 1 decimal place")
    elif not LOWEST_C <= value <= HIGHEST_C:
        problems.append(f"{name} {raw!r} is not a temperature in °C ({LOWEST_C} to {HIGHEST_C})")
    else:
        return value.quantize(Decimal("0.1"))
    return None


def parse_forecast_csv(text: str) -> ParsedForecast:
    """A forecast from CSV text with the header `date,low_c,high_c` (any order; names not
    case-sensitive): one line per day, the date as YYYY-MM-DD and the day's lowest and
    highest temperature in °C (at most one decimal place, low not above high). Raises
    ImportRefused for a file that cannot be read at all (no header, unknown or missing
    columns); each bad line becomes a Rejection naming the line and the field."""

    def header(columns: Sequence[str]) -> None:
        check_header(columns, known=COLUMNS, required=COLUMNS)

    days: dict[date, DailyForecast] = {}
    first_line: dict[date, str] = {}
    rejections: list[Rejection] = []
    for record in csv_records(text, header):
        if isinstance(record, Rejection):
            rejections.append(record)
            continue
        problems: list[str] = []
        raw_day = record.fields["date"].strip()
        day: date | None = None
        if not raw_day:
            problems.append("date is missing")
        else:
            try:
                day = date.fromisoformat(raw_day)
            except ValueError:
                problems.append(f"date {raw_day[:40]!r} is not a date (YYYY-MM-DD)")
            else:
                if len(raw_day) != 10:
                    problems.append(f"date {raw_day[:40]!r} is not a date (YYYY-MM-DD)")
                    day = None
        raw_low, raw_high = record.fields["low_c"].strip(), record.fields["high_c"].strip()
        low = _celsius("low_c", raw_low, problems)
        high = _celsius("high_c", raw_high, problems)
        if low is not None and high is not None and low > high:
            problems.append(f"low_c {raw_low!r} is above high_c {raw_high!r}")
        if day is not None and day in first_line:
            problems.append(f"date {day} is already on {first_line[day]}")
        if problems or day is None or low is None or high is None:
            rejections.append(Rejection(record.where, "; ".join(problems), record.position))
            continue
        first_line[day] = record.where
        days[day] = DailyForecast(low_c=low, high_c=high)
    if len(days) + len(rejections) > MAX_DAYS:
        raise ImportRefused(f"the file has more than {MAX_DAYS} lines: import a year at most")
    return ParsedForecast(days, tuple(sorted(rejections, key=lambda r: r.position)))


def import_forecast(
    *,
    session: Session,
    clock: Clock,
    text: str,
    source: str,
    actor: str,
    rules: ArrearsRules | None = None,
) -> dict[str, Any]:
    """Store a forecast file's days, replacing those already imported for the same dates,
    audited as `actor`. Nothing is stored when the file is refused (ImportRefused) or has
    any bad line (ForecastRejected, every line named). Returns what was stored: the number
    of days, the first and last, and (given the rules) the days reaching the temperature
    limits."""
    parsed = parse_forecast_csv(text)
    if parsed.rejections:
        raise ForecastRejected(parsed.rejections)
    if not parsed.days:
        raise ImportRefused("the file has no forecast lines")
    now = clock.now()
    wanted = sorted(parsed.days)
    replaced = len(session.execute(select(FORECAST.c.id).where(FORECAST.c.day.in_(wanted))).all())
    session.execute(delete(FORECAST).where(FORECAST.c.day.in_(wanted)))
    bulk_insert(
        session.connection(), FORECAST,
        ("day", "low_c", "high_c", "source", "imported_at", "imported_by"),
        [(day, parsed.days[day].low_c, parsed.days[day].high_c, source[:MAX_SOURCE], now,
          actor[:100]) for day in wanted],
    )  # fmt: skip
    summary: dict[str, Any] = {
        "days": len(wanted),
        "replaced": replaced,
        "first": wanted[0].isoformat(),
        "last": wanted[-1].isoformat(),
    }
    if rules is not None:
        summary["extreme_days"] = [d.isoformat() for d in extreme_days(parsed.days, rules)]
    record_change(session=session, clock=clock, actor=actor, action="forecast.import",
                  entity="arrears_forecast", entity_id=source[:MAX_SOURCE] or "forecast",
                  before=None, after=summary)  # fmt: skip
    return summary


def extreme_days(days: Mapping[date, DailyForecast], rules: ArrearsRules) -> list[date]:
    """The days whose forecast reaches the ladder policy's temperature limits, in order."""
    limits = rules.ladder.sensitive.temperature
    if limits is None:
        return []
    return [
        day
        for day in sorted(days)
        if days[day].high_c >= limits.heat_at_or_above_c
        or days[day].low_c <= limits.cold_at_or_below_c
    ]


def load_forecast(session: Session, *, since: date) -> dict[date, DailyForecast]:
    """The imported forecast's days from `since` on."""
    return {
        row.day: DailyForecast(low_c=row.low_c, high_c=row.high_c)
        for row in session.execute(
            select(FORECAST.c.day, FORECAST.c.low_c, FORECAST.c.high_c).where(
                FORECAST.c.day >= since
            )
        )
    }


def with_forecast(session: Session, rules: ArrearsRules, now: datetime) -> ArrearsRules:
    """The rules with the imported forecast from yesterday (local) on added to theirs: what
    the daily run and an approval decide with. Without temperature limits in the policy,
    the rules as they are."""
    if rules.ladder.sensitive.temperature is None:
        return rules
    since = now.astimezone(rules.tz).date() - timedelta(days=1)
    loaded = load_forecast(session, since=since)
    return dataclasses.replace(rules, forecast={**rules.forecast, **loaded})
