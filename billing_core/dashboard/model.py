"""Pure shaping of the dashboard's figures: percentiles of waits, local days and months,
ageing bucket labels and bounds. No database."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

ZERO = Decimal(0)
CENT = Decimal("0.01")


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank `p` percentile (0 < p ≤ 100) of `values`; None when there are none."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p is a percentage above 0")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def local_days(today: date, days: int) -> list[date]:
    """The `days` local days ending with `today`, oldest first."""
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def day_starts(days: Sequence[date], tz: ZoneInfo) -> list[datetime]:
    """The instant (UTC) each local day starts, and the start of the day after the last:
    the bounds a timestamp is counted into a day by (a day may be 23 or 25 hours)."""
    bounds = [*days, days[-1] + timedelta(days=1)]
    return [datetime.combine(d, time(0), tzinfo=tz).astimezone(UTC) for d in bounds]


def month_starts(today: date, months: int) -> list[date]:
    """The first days of the last `months` months (this one included), oldest first, and
    the first day of the next month: the bounds of each month."""
    first = today.replace(day=1)
    starts = []
    year, month = first.year, first.month
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    starts.reverse()
    last = starts[-1]
    after = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    return [*starts, after]


def ageing_labels(bounds: Sequence[int]) -> list[str]:
    """ "0–30", "31–60", "61–90", "90+" for bounds (30, 60, 90)."""
    labels, low = [], 0
    for high in bounds:
        labels.append(f"{low}–{high}")
        low = high + 1
    labels.append(f"{bounds[-1]}+")
    return labels


def rate(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole to four places (None when nothing was billed)."""
    if whole <= ZERO:
        return None
    return (part / whole).quantize(Decimal("0.0001"))
