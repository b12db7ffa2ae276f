"""`wattdesk bench`: measure the tariff engine on one core against a hand-written pricing loop."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from api.cli.common import console, fail
from billing_core.errors import WattdeskError
from billing_core.tariffs import (
    SHIPPED_TARIFFS_DIR,
    AccountAttributes,
    Consumption,
    Tariff,
    TariffCatalog,
    price_period,
)

app = typer.Typer(help="Benchmarks, run on demand.", no_args_is_help=True)

TIERED = "beijing-residential"
TOU_TIERED = "zhejiang-residential-tou"
POOL = 1000  # distinct consumptions, cycled: inputs are built before the clock starts
CENT = Decimal("0.01")


def _months(year: int) -> list[tuple[date, date]]:
    periods = []
    for month in range(1, 13):
        first = date(year, month, 1)
        after = date(year + month // 12, month % 12 + 1, 1)
        periods.append((first, after - timedelta(days=1)))
    return periods


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _time(run: Callable[[], object]) -> float:
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


@app.command("price")
def price(
    count: Annotated[int, typer.Option(min=1, help="Bills per measurement.")] = 1_000_000,
    tariffs_dir: Annotated[Path, typer.Option(help="Where the tariffs are.")] = (
        SHIPPED_TARIFFS_DIR
    ),
) -> None:
    """Price COUNT monthly residential bills, tiered and TOU with tiers, and a hand-written loop
    over the same tiered tariff; print bills/s and the engine / hand-written ratio."""
    try:
        catalog = TariffCatalog.load(tariffs_dir)
        tiered: Tariff = catalog.get(TIERED)
        tou: Tariff = catalog.get(TOU_TIERED)
    except WattdeskError as exc:  # a bad tariff file, or one of the two missing
        fail(escape(str(exc)))
        return

    rng = random.Random(20261001)
    periods = _months(2026)
    kwh_values = [Decimal(rng.randint(30, 900)) for _ in range(POOL)]
    totals = [Consumption.total(kwh) for kwh in kwh_values]
    registers = []
    accounts = []
    for _ in range(POOL):
        peak = Decimal(rng.randint(20, 500))
        valley = Decimal(rng.randint(10, 400))
        registers.append(Consumption.of_registers({"peak": peak, "valley": valley}))
        accounts.append(AccountAttributes(ytd_kwh=Decimal(rng.randint(0, 6000))))

    # The engine and the hand-written loop must agree before either is timed.
    for index in range(POOL):
        start, end = periods[index % 12]
        bill = price_period(tiered, start=start, end=end, consumption=totals[index])
        lines, total = hand_written_beijing(kwh_values[index])
        if bill.total != total or [tuple(line) for line in bill.lines] != lines:
            fail(f"engine and hand-written loop disagree for {kwh_values[index]} kWh")

    def engine_tiered() -> None:
        for i in range(count):
            start, end = periods[i % 12]
            price_period(tiered, start=start, end=end, consumption=totals[i % POOL])

    def engine_tou() -> None:
        for i in range(count):
            start, end = periods[i % 12]
            j = i % POOL
            price_period(tou, start=start, end=end, consumption=registers[j], account=accounts[j])

    def hand_tiered() -> None:
        for i in range(count):
            hand_written_beijing(kwh_values[i % POOL])

    tiered_rate = _rate(count, _time(engine_tiered))
    tou_rate = _rate(count, _time(engine_tou))
    hand_rate = _rate(count, _time(hand_tiered))
    ratio = tiered_rate / hand_rate
    console.print(f"bills per measurement: {count:,} (one core)")
    console.print(f"engine, tiered ({TIERED}): {tiered_rate:,.0f} bills/s")
    console.print(f"engine, TOU with tiers ({TOU_TIERED}): {tou_rate:,.0f} bills/s")
    console.print(f"hand-written loop, tiered ({TIERED}): {hand_rate:,.0f} bills/s")
    console.print(f"engine / hand-written (tiered): {ratio:.2f}")
