"""The region's working-day calendar: weekends, public holidays and make-up working days (调休),
taken from the `holidays` package once and then answered from plain sets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import holidays as holidays_package

from billing_core.errors import InvalidInput

ONE_DAY = timedelta(days=1)

# Countries that move weekends to working days around holidays (调休) every year. For them a
# year with no make-up day in the package means the package does not know that year's
# arrangement yet (China's State Council publishes it each November; holidays 0.109 has China's
# up to 2026). Nothing is invented for such a year: it is reported by `years_without_makeup_days`
# so the operator sees that the calendar may be incomplete and upgrades the package.
_COUNTRIES_WITH_YEARLY_MAKEUP_DAYS = frozenset({"CN"})


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: built once, shared
class WorkingCalendar:
    """Working days for one country over a fixed set of years.

    A date is a working day unless it is a public holiday (including the days off a holiday
    arrangement moves, e.g. "day off substituted from 2025-09-28") or a weekend day; a weekend
    day is a working day when the arrangement makes it one (调休, e.g. Sunday 2025-09-28).
    Asking about a date outside the years it was built for is an error, not a guess.
    """

    country: str
    years: frozenset[int]
    public_holidays: Mapping[date, str]
    makeup_working_days: frozenset[date]
    weekend: frozenset[int]  # date.weekday() numbers: Monday is 0

    @classmethod
    def for_country(cls, country: str, years: Iterable[int]) -> WorkingCalendar:
        """Build from the `holidays` package (public category only: China's half-day
        holidays, such as Women's Day afternoon, do not close the utility)."""
        code, wanted = country.strip().upper(), frozenset(years)
        if not wanted:
            raise ValueError("a working calendar needs at least one year")
        try:
            source = holidays_package.country_holidays(code, years=sorted(wanted))
        except NotImplementedError:
            raise InvalidInput(
                f"the holidays package has no calendar for country {country!r} (e.g. CN)"
            ) from None
        # `weekend_workdays` is how the package marks make-up working days; it may also carry
        # dates of neighbouring years (an arrangement that crosses New Year), kept out here.
        makeup = frozenset(d for d in source.weekend_workdays if d.year in wanted)
        named = {d: str(name) for d, name in source.items() if d.year in wanted}
        return cls(
            country=code,
            years=wanted,
            public_holidays=MappingProxyType(named),
            makeup_working_days=makeup,
            weekend=frozenset(source.weekend),
        )

    def is_public_holiday(self, day: date) -> bool:
        self._check(day)
        return day in self.public_holidays

    def is_working_day(self, day: date) -> bool:
        self._check(day)
        if day.weekday() in self.weekend:
            return day in self.makeup_working_days
        return day not in self.public_holidays

    def is_day_before_holiday(self, day: date) -> bool:
        """True when the days off that start tomorrow include a public holiday.

        So the Friday before a holiday Monday counts, not only the eve itself: DOMAIN §5 forbids
        disconnection then, because supply cut that day would stay cut over the holiday."""
        following = day + ONE_DAY
        while not self.is_working_day(following):
            if self.is_public_holiday(following):
                return True
            following += ONE_DAY
        return False

    def working_days(self, month_start: date, month_end: date) -> list[date]:
        """The working days from month_start to month_end, both included."""
        return [d for d in _days(month_start, month_end) if self.is_working_day(d)]

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        following = day + ONE_DAY
        while not self.is_working_day(following):
            following += ONE_DAY
        return following

    def years_without_makeup_days(self) -> list[int]:
        """Years this calendar covers whose make-up working days the package does not know
        (only for countries that have some every year); empty when nothing is missing."""
        if self.country not in _COUNTRIES_WITH_YEARLY_MAKEUP_DAYS:
            return []
        known = {d.year for d in self.makeup_working_days}
        return sorted(self.years - known)

    def _check(self, day: date) -> None:
        if day.year not in self.years:
            covered = ", ".join(str(y) for y in sorted(self.years))
            raise ValueError(f"{day} is outside the calendar's years ({covered})")


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY
