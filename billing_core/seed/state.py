"""The seed generator's state and its plain helpers: meters as generated, quotas of planted
events, ids, reading days and calendars, names, addresses and phones."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from billing_core.seed.model import (
    CN_FICTION_LAST,
    CN_SYNTHETIC_FIRST,
    RATE_CAPACITY_CHANGE,
    RATE_LAST_CHILD_EXCEEDS_PARENT,
    RATE_LAST_POWER_FACTOR_DROP,
    RATE_LAST_TOU_DRIFT,
    RATE_METER_FAULT,
    RATE_METER_PARAMETER_CHANGE,
    RATE_METER_REPLACEMENT,
    RATE_NEW_CONNECTION,
    RATE_TARIFF_CHANGE,
    TABLE_ORDER,
    US_AREA_CODES,
    US_FICTION_LINES,
    Anomaly,
    ReadingBookRow,
    SeedConfig,
    e164,
    period_factors,
    reading_dates,
)
from billing_core.seed.regions import (
    _US,
    FIRST_NAMES,
    GIVEN,
    LAST_NAMES,
    ROADS,
    STREETS,
    SURNAMES,
    Region,
)

# ---------------------------------------------------------------------------------------------
# Generation


@dataclass
class _Meter:
    """What the reading generator needs to know about one meter."""

    id: int
    account_id: int
    tou: bool
    digits: int
    multiplier: int
    installed_on: date
    parent_meter_id: int | None
    source: str
    reader_id: str | None
    day_starts: list[datetime]  # 09:00 local on each reading date, in UTC
    anomalies: bool
    rollover: bool
    reactive: bool = False  # non-residential: a reactive-energy (kvarh) register too
    flat_register: bool = True  # False: peak and valley only (the flat register stays 0)
    book_id: int | None = None  # for the per-book quotas of planted events; None: none
    timezone: str | None = None  # the customer's, None for the utility's
    # A new meter (a new connection, or a replacement): its registers start near zero and are
    # stored as its initial values; it has no opening reading.
    new: bool = False
    removed_on: date | None = None
    plain_from: int | None = None  # readings from this index on are never missing or estimated


WHOLE_POPULATION = 0  # a quota key that is no book's id: one count for the whole population


class _Quota:
    """Plants one kind of event in every `every`-th candidate of a book, the book's first
    candidate included: an exact rate, deterministic, and at least one in every book that has a
    candidate, so that even a small population exercises every review rule. A candidate that
    is owed an event but cannot take it (it already carries another) leaves it to the next.
    Keyed by WHOLE_POPULATION instead of a book id, it counts over the whole population."""

    def __init__(self, rate: float) -> None:
        self.every = max(1, round(1 / rate))
        self._seen: Counter[int] = Counter()
        self._owed: Counter[int] = Counter()

    def offer(self, book_id: int) -> bool:
        """Count one more candidate in the book; True when the book is owed an event."""
        if self._seen[book_id] % self.every == 0:
            self._owed[book_id] += 1
        self._seen[book_id] += 1
        return self._owed[book_id] > 0

    def take(self, book_id: int) -> None:
        self._owed[book_id] -= 1

    def pick(self, book_id: int) -> bool:
        """Offer and, when owed, take at once."""
        if self.offer(book_id):
            self.take(book_id)
            return True
        return False


class _SeedState:
    """The generator's state (its random stream, id counters, calendars and quotas) and what
    every part of it asks of that state: ids, reading days, names, addresses, phones."""

    def __init__(self, config: SeedConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.tz = ZoneInfo(config.timezone)
        self.anomalies: Counter[str] = Counter()
        self.customers_made = 0
        self._next_id = {table: config.first_ids.get(table, 1) for table in TABLE_ORDER}
        self._account_seq = 0
        self._cn_phone_seq = 0
        self._us_phone_seq = 0
        self._telegram_seq = 0
        self._books: list[ReadingBookRow] = []
        self._dates: dict[int, list[date]] = {}
        self._factors: dict[tuple[int, tuple[float, ...]], list[float]] = {}
        self._day_starts: dict[tuple[int, str], list[datetime]] = {}
        self._quotas = {
            Anomaly.new_connection: _Quota(RATE_NEW_CONNECTION),
            Anomaly.meter_replacement: _Quota(RATE_METER_REPLACEMENT),
            Anomaly.meter_fault: _Quota(RATE_METER_FAULT),
            Anomaly.capacity_change: _Quota(RATE_CAPACITY_CHANGE),
            Anomaly.meter_parameter_change: _Quota(RATE_METER_PARAMETER_CHANGE),
            Anomaly.tariff_change: _Quota(RATE_TARIFF_CHANGE),
            Anomaly.tou_drift: _Quota(RATE_LAST_TOU_DRIFT),
            Anomaly.power_factor_drop: _Quota(RATE_LAST_POWER_FACTOR_DROP),
            Anomaly.child_exceeds_parent: _Quota(RATE_LAST_CHILD_EXCEEDS_PARENT),
        }
        # Readings and contacts made for a new connection must not be later than `until`.
        self._until_start = datetime.combine(config.until, time(0, 0), self.tz).astimezone(UTC)

    # -- ids and calendars --------------------------------------------------------------------

    def _take_id(self, table: str) -> int:
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    def dates_for(self, reading_day: int) -> list[date]:
        dates = self._dates.get(reading_day)
        if dates is None:
            dates = reading_dates(reading_day, self.config.until, self.config.months)
            self._dates[reading_day] = dates
        return dates

    def _factors_for(self, reading_day: int, season: tuple[float, ...]) -> list[float]:
        key = (reading_day, season)
        factors = self._factors.get(key)
        if factors is None:
            factors = period_factors(self.dates_for(reading_day), season)
            self._factors[key] = factors
        return factors

    def _starts_for(self, reading_day: int, timezone: str | None) -> list[datetime]:
        # No DST change falls between 09:00 and 17:00 in these zones, so 09:00 local + minutes
        # is exact in UTC.
        name = timezone or self.config.timezone
        key = (reading_day, name)
        starts = self._day_starts.get(key)
        if starts is None:
            zone = ZoneInfo(name)
            starts = [
                datetime.combine(day, time(9, 0), zone).astimezone(UTC)
                for day in self.dates_for(reading_day)
            ]
            self._day_starts[key] = starts
        return starts

    def _local_instant(self, day: date, at: time, timezone: str | None) -> datetime:
        zone = ZoneInfo(timezone) if timezone else self.tz
        return datetime.combine(day, at, zone).astimezone(UTC)

    def _by_until(self, instant: datetime) -> datetime:
        """No later than the start of `until` (a new connection's contacts are recent)."""
        return min(instant, self._until_start)

    def _last_period(self, reading_day: int) -> tuple[date, date]:
        """The latest period of a reading day: (previous reading date, last reading date)."""
        dates = self.dates_for(reading_day)
        return dates[-2], dates[-1]

    def _day_in_last_period(self, reading_day: int, *, days_before_reading: int = 1) -> date:
        """A day after the previous reading date and at least `days_before_reading` days
        before the last one."""
        start, end = self._last_period(reading_day)
        return start + timedelta(days=self.rng.randint(1, (end - start).days - days_before_reading))

    # -- names, addresses, phones -------------------------------------------------------------

    def _chinese_name(self) -> str:
        rng = self.rng
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
        return rng.choice(SURNAMES) + given

    def _english_name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _cn_address(self, region: Region, *, residential: bool) -> str:
        rng = self.rng
        city, districts = rng.choice(region.cities)
        street = f"{city}{rng.choice(districts)}{rng.choice(ROADS)}{rng.randint(1, 300)}号"
        if residential:
            return (
                f"{street}{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元"
                f"{rng.randint(1, 33)}{rng.randint(1, 8):02d}室"
            )
        return f"{street}{rng.randint(1, 5)}层{rng.randint(1, 40)}号铺"

    def _us_address(self) -> str:
        rng = self.rng
        city, zips = rng.choice(_US)
        return (
            f"{rng.randint(10, 9999)} {rng.choice(STREETS)} St, Apt {rng.randint(1, 40)}, "
            f"{city} {rng.choice(zips)}"
        )

    def _cn_phone(self) -> str:
        span = CN_FICTION_LAST - CN_SYNTHETIC_FIRST + 1
        number = CN_SYNTHETIC_FIRST + self._cn_phone_seq % span  # shared numbers past the span
        self._cn_phone_seq += 1
        return e164(f"+86{number}")

    def _us_phone(self) -> str:
        sequence = self._us_phone_seq
        self._us_phone_seq += 1
        area = US_AREA_CODES[(sequence // len(US_FICTION_LINES)) % len(US_AREA_CODES)]
        line = US_FICTION_LINES[sequence % len(US_FICTION_LINES)]
        return e164(f"+1{area}555{line:04d}")
