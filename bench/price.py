"""The pricing benchmark's parts: the two tariffs it prices, its timing helpers, and the Beijing
tiered tariff written out by hand as the baseline the engine is compared with."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

TIERED = "beijing-residential"
TOU_TIERED = "zhejiang-residential-tou"
POOL = 1000  # distinct consumptions, cycled: inputs are built before the clock starts
CENT = Decimal("0.01")


def month_periods(year: int) -> list[tuple[date, date]]:
    periods = []
    for month in range(1, 13):
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        periods.append((first, after - timedelta(days=1)))
    return periods


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def time_it(run: Callable[[], object]) -> float:
    begin = time.perf_counter()
    run()
    return time.perf_counter() - begin


HandLine = tuple[str, Decimal, Decimal, Decimal]


def hand_written_beijing(kwh: Decimal) -> tuple[list[HandLine], Decimal]:
    """The Beijing tiered tariff written out by hand, with the engine's rounding."""
    lines = []
    first = kwh if kwh < 240 else Decimal(240)
    amount = (first * Decimal("0.4883")).quantize(CENT, ROUND_HALF_UP)
    lines.append(("Energy block 1", first, Decimal("0.4883"), amount))
    total = amount
    if kwh > 240:
        second = (kwh if kwh < 400 else Decimal(400)) - 240
        amount = (second * Decimal("0.5383")).quantize(CENT, ROUND_HALF_UP)
        lines.append(("Energy block 2", second, Decimal("0.5383"), amount))
        total += amount
    if kwh > 400:
        third = kwh - 400
        amount = (third * Decimal("0.7883")).quantize(CENT, ROUND_HALF_UP)
        lines.append(("Energy block 3", third, Decimal("0.7883"), amount))
        total += amount
    return lines, total
