"""`wattdesk bench`: the benchmarks' commands (pricing, a bill cycle, the SMS webhook, the outbox
dispatcher, Telegram's dispatch), each printing its rates and ratios; the measuring parts are
beside this module."""

from __future__ import annotations

import math
import random
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Select, Table, func, select

from bench.machine import cpu_times, describe_steal
from bench.price import (
    POOL,
    TIERED,
    TOU_TIERED,
    hand_written_beijing,
    month_periods,
    per_second,
    time_it,
)
from billing_core.bills.run import DEFAULT_WORKERS
from billing_core.errors import WattdeskError
from billing_core.tariffs import (
    SHIPPED_TARIFFS_DIR,
    AccountAttributes,
    Consumption,
    Tariff,
    TariffCatalog,
    price_period,
)

if TYPE_CHECKING:
    from bench.sms_inbound import Report as InboundReport
    from billing_core.settings import Settings

# Its own consoles, as api.cli.common's: `bench` does not import the product's CLI (which
# registers this app).
console = Console()
err_console = Console(stderr=True)
EXIT_USAGE = 2

app = typer.Typer(help="Benchmarks, run on demand.", no_args_is_help=True)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    err_console.print(f"[bold red]error[/]: {message}")
    raise typer.Exit(code=code)


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
    periods = month_periods(2026)
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

    tiered_rate = per_second(count, time_it(engine_tiered))
    tou_rate = per_second(count, time_it(engine_tou))
    hand_rate = per_second(count, time_it(hand_tiered))
    ratio = tiered_rate / hand_rate
    console.print(f"bills per measurement: {count:,} (one core)")
    console.print(f"engine, tiered ({TIERED}): {tiered_rate:,.0f} bills/s")
    console.print(f"engine, TOU with tiers ({TOU_TIERED}): {tou_rate:,.0f} bills/s")
    console.print(f"hand-written loop, tiered ({TIERED}): {hand_rate:,.0f} bills/s")
    console.print(f"engine / hand-written (tiered): {ratio:.2f}")


BENCH_UNTIL = date(2026, 10, 28)  # the cycle billed: reading days 1..28 of October 2026


@app.command("bill-run")
def bill_run(
    accounts: Annotated[int, typer.Option(min=100, help="Accounts to seed and bill.")] = 100_000,
    database_url: Annotated[
        str | None, typer.Option(help="Default: a SQLite file under var/bench/.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1)] = 5000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Bill-run processes (default: one per core).")
    ] = DEFAULT_WORKERS,
) -> None:
    """Seed (or reuse) a population, bill one whole cycle of it (28 reading days) end to end,
    then bulk-insert the same bill and line rows bare in the same database; print bills/s for
    each and the ratio. Leaves the database without bills, ready to measure again."""
    from datetime import UTC, datetime

    from bench import bill_run as bench
    from billing_core.bills.model import ReviewThresholds
    from billing_core.bills.policy import load_review_policy
    from billing_core.clock import FixedClock
    from billing_core.customers.tables import Account
    from billing_core.db import create_db_engine, session_scope
    from billing_core.db.columns import table_of
    from billing_core.db.engine import BATCH_AUTOCHECKPOINT_PAGES
    from billing_core.db.migrate import upgrade
    from billing_core.seed.service import seed_population
    from billing_core.settings import load_settings

    config = load_settings()
    url = database_url or f"sqlite:///{config.data_dir}/bench/bill-run-{accounts}.sqlite3"
    # The bill run and the bare insert both write as the `wattdesk` commands do.
    engine = create_db_engine(url, sqlite_autocheckpoint=BATCH_AUTOCHECKPOINT_PAGES)
    upgrade(engine)
    clock = FixedClock(datetime(2026, 10, 29, 2, 0, tzinfo=UTC))
    account = table_of(Account)
    with engine.connect() as connection:
        existing = connection.execute(select_count(account)).scalar_one()
    if existing == 0:
        console.print(f"seeding {accounts:,} customers with 13 months of readings …")
        with session_scope(engine) as session:
            report = seed_population(
                session=session,
                customers=accounts,
                months=13,
                seed=1,
                until=BENCH_UNTIL,
                clock=clock,
                timezone=config.timezone,
            )
        console.print(f"seeded in {report.elapsed_seconds:.1f} s")
    else:
        console.print(f"reusing the {existing:,} accounts already in {engine.url.database}")
    try:
        bench.ensure_no_bills(engine)
        catalog = TariffCatalog.load(config.tariff_dir)
        thresholds = ReviewThresholds.from_policy(load_review_policy(config.policy_dir))
    except WattdeskError as exc:
        fail(escape(str(exc)))
        return
    dialect = engine.dialect.name
    cycle_start = cpu_times()
    cycle = bench.bill_one_cycle(
        engine=engine,
        clock=clock,
        last_day=BENCH_UNTIL,
        tz=config.tz,
        tariffs=catalog,
        thresholds=thresholds,
        chunk_size=chunk_size,
        workers=workers,
    )
    bills, lines = bench.stored_rows(engine)
    cycle_end = cpu_times()
    bench.delete_bills(engine)
    bare_start = cpu_times()
    bare_seconds = bench.bare_insert(engine=engine, bills=bills, lines=lines, chunk_size=chunk_size)
    bare_end = cpu_times()
    bench.delete_bills(engine)
    bare_rate = per_second(len(bills), bare_seconds)
    console.print(
        f"database: {dialect}; cycle {BENCH_UNTIL:%Y-%m}-01..28, chunk {chunk_size:,}, "
        f"{workers} worker{'s' if workers > 1 else ''}"
    )
    console.print(
        f"bill run, end to end: {cycle.bills:,} bills ({cycle.lines:,} lines, "
        f"{cycle.in_review:,} in review, {cycle.missed:,} missed, "
        f"{cycle.failed:,} failed) in {cycle.seconds:.2f} s = "
        f"{cycle.bills_per_second:,.0f} bills/s"
    )
    phases = ", ".join(f"{name} {t:.2f} s" for name, t in cycle.phase_seconds.items())
    console.print(f"  time by phase, summed over the workers' parts: {phases}")
    console.print(
        f"bare bulk insert of the same rows: {bare_seconds:.2f} s = {bare_rate:,.0f} bills/s"
    )
    console.print(f"bill run / bare insert: {cycle.bills_per_second / bare_rate:.2f}")
    for label, start, end in (("bill run", cycle_start, cycle_end),
                              ("bare insert", bare_start, bare_end)):  # fmt: skip
        steal = describe_steal(start, end)
        if steal is not None:
            console.print(f"{label}: {steal}")


def select_count(table: Table) -> Select[int]:
    return select(func.count()).select_from(table)


def _seeded_database(customers: int) -> tuple[str, Path, Settings, list[str]]:
    """The inbound benchmarks' fresh SQLite database under var/bench/, seeded with
    `customers` customers and the last cycle billed: its URL, the folder, the settings a
    server there runs with, and the verified numbers with a bill (none: the command fails)."""
    from bench import sms_inbound as bench_sms
    from billing_core.settings import load_settings

    bench_dir = (load_settings().data_dir / "bench").resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    url = bench_sms.fresh_database(bench_dir)
    console.print(f"seeding {customers:,} customers, billing the last cycle …")
    defaults = load_settings(data_dir=bench_dir, _env_file=None)  # what the server runs with
    phones = bench_sms.prepare_database(url, customers=customers, settings=defaults)
    if not phones:
        fail("the seeded database has no verified numbers with a bill")
    return url, bench_dir, defaults, phones


@app.command("sms-inbound")
def sms_inbound(
    requests: Annotated[int, typer.Option(min=100, help="Requests per measurement.")] = 3000,
    rate: Annotated[float, typer.Option(min=1, help="Fixed rate, requests/s.")] = 300,
    concurrency: Annotated[int, typer.Option(min=1, help="Connections.")] = 16,
    customers: Annotated[int, typer.Option(min=10, help="Customers to seed.")] = 300,
) -> None:
    """Seed a fresh SQLite database under var/bench/, start the app (uvicorn, one worker) on
    loopback, send REQUESTS signed 'BILL' webhooks from verified numbers at RATE/s (open
    loop), then as fast as CONCURRENCY connections get answers; the same for /healthz.
    Prints req/s, p50 and p99 for each, and BILL / healthz at saturation."""
    import asyncio

    from bench import sms_inbound as bench_sms

    started = time.perf_counter()
    url, bench_dir, _, phones = _seeded_database(customers)
    console.print(f"ready in {time.perf_counter() - started:.1f} s: {len(phones):,} verified "
                  "numbers with an issued bill")  # fmt: skip
    before = bench_sms.counts(url)
    log_path = bench_dir / "sms-inbound-server.log"
    with bench_sms.running_server(url, bench_dir, bench_sms.free_port(), log_path) as base_url:
        console.print(f"server: {base_url} (uvicorn, one worker, SQLite); log: {log_path}")
        report = asyncio.run(
            bench_sms.measure(
                base_url, phones, requests=requests, rate=rate, concurrency=concurrency
            )
        )
    print_inbound_report(
        report, (before, bench_sms.counts(url)), requests=requests, rate=rate,
        concurrency=concurrency, short="BILL", label="BILL webhook", sent_as="BILL webhooks",
        carried="replies carry a pay link",
    )  # fmt: skip


@app.command("telegram-inbound")
def telegram_inbound(
    requests: Annotated[int, typer.Option(min=100, help="Requests per measurement.")] = 3000,
    rate: Annotated[float, typer.Option(min=1, help="Fixed rate, requests/s.")] = 300,
    concurrency: Annotated[int, typer.Option(min=1, help="Connections.")] = 16,
    customers: Annotated[int, typer.Option(min=10, help="Customers to seed.")] = 300,
) -> None:
    """As sms-inbound, for Telegram: seed a fresh SQLite database under var/bench/ and link a
    chat to each billed customer, start the app (uvicorn, one worker, the bot on), send
    REQUESTS "/bill" updates to its webhook at RATE/s (open loop), then as fast as CONCURRENCY
    connections get answers; the same for /healthz. Prints req/s, p50 and p99 for each, and
    my bill / healthz at saturation."""
    import asyncio

    from bench import sms_inbound as bench_sms
    from bench import telegram_inbound as bench_tg

    started = time.perf_counter()
    url, bench_dir, _, phones = _seeded_database(customers)
    users = bench_tg.link_chats(url, phones)  # one a number: _seeded_database refused none
    console.print(f"ready in {time.perf_counter() - started:.1f} s: {len(users):,} linked "
                  "chats of customers with an issued bill")  # fmt: skip
    before = bench_sms.counts(url)
    log_path = bench_dir / "telegram-inbound-server.log"
    with bench_tg.running_server(url, bench_dir, bench_sms.free_port(), log_path) as base_url:
        console.print(f"server: {base_url} (uvicorn, one worker, SQLite); log: {log_path}")
        report = asyncio.run(
            bench_tg.measure(base_url, users, requests=requests, rate=rate, concurrency=concurrency)
        )
    print_inbound_report(
        report, (before, bench_sms.counts(url)), requests=requests, rate=rate,
        concurrency=concurrency, short="my bill", label="my bill update", sent_as="updates",
        carried="answers carry a pay-link button",
    )  # fmt: skip


@app.command("writer-unit")
def writer_unit(
    units: Annotated[int, typer.Option(min=100, help="Units a round and setting.")] = 1200,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds (alternated).")] = 3,
    batch: Annotated[list[int] | None, typer.Option(help="Units a transaction (repeat).")] = None,
    every: Annotated[
        list[int] | None, typer.Option(help="Units between checkpoints, 0: SQLite's (repeat).")
    ] = None,
    customers: Annotated[int, typer.Option(min=10, help="Customers to seed.")] = 300,
) -> None:
    """What a Telegram "my bill" answer costs the SQLite writer, in this process alone: seed
    telegram-inbound's database, then run its unit of work (BILL from a linked chat) BATCH to
    a transaction with a passive checkpoint EVERY so many units, as the writer process does,
    each setting in turn for ROUNDS rounds. Prints CPU µs a unit (median and each round) and
    each setting against the first. Defaults: 1 and 6 a transaction, checkpoints every 16
    units and every IDLE_CHECKPOINT_UNITS (the writer's)."""
    from bench import telegram_inbound as bench_tg
    from bench import writer_unit as bench_wu
    from billing_core.conversations.nlu import warm
    from billing_core.conversations.service import conversation_context
    from billing_core.db import create_db_engine
    from billing_core.db.writer_process import IDLE_CHECKPOINT_UNITS

    batches = batch or [1, 6]
    intervals = every or sorted({16, IDLE_CHECKPOINT_UNITS})
    if any(b < 1 or b > 64 for b in batches) or any(e < 0 for e in intervals):
        fail("--batch is 1 to 64 units, --every 0 or more")
    url, _, defaults, phones = _seeded_database(customers)
    users = bench_tg.link_chats(url, phones)  # one a number: _seeded_database refused none
    warm()
    engine = create_db_engine(url)
    settings = [bench_wu.Setting(b, e) for b in batches for e in intervals]
    console.print(f"{len(users):,} linked chats; {units:,} units a round and setting, "
                  f"{rounds} rounds, alternated")  # fmt: skip
    try:
        results = bench_wu.measure(
            engine, bench_wu.BillUnits(conversation_context(defaults), users), settings,
            count=units, rounds=rounds,
        )  # fmt: skip
    except RuntimeError as exc:
        fail(escape(str(exc)))
        return
    finally:
        engine.dispose()
    first = results[0].median
    for result in results:
        rounds_text = ", ".join(f"{cpu:,.0f}" for cpu in result.per_unit)
        console.print(
            f"{result.setting.label()}: [bold]{result.median:,.0f} µs[/] CPU a unit "
            f"(rounds {rounds_text}); ×{result.median / first:.2f} of the first; "
            f"{result.paid:,} of {result.units:,} answers carry a pay link"
        )


@app.command("console-live")
def console_live(
    seconds: Annotated[float, typer.Option(min=0.5, help="Seconds of webhooks.")] = 10,
    rate: Annotated[float, typer.Option(min=1, help="Inbound messages/s.")] = 200,
    clients: Annotated[int, typer.Option(min=1, max=500, help="SSE streams open.")] = 50,
    customers: Annotated[int, typer.Option(min=10, help="Customers to seed.")] = 300,
) -> None:
    """sms-inbound's fresh SQLite database and server, CLIENTS Server-Sent Events streams on
    /api/v1/conversations/events, and signed BILL webhooks at RATE/s for SECONDS: for every
    message, the time from the webhook's answer to its message.in event at every client
    (p50, p99, max), and the events lost; the webhooks' latency with no stream open first."""
    import asyncio

    from bench import console_live as bench_live
    from bench import sms_inbound as bench_sms

    url, bench_dir, _, phones = _seeded_database(customers)
    if len(phones) < rate * 0.5:
        fail("too few numbers: each must send at most one message every half second")
    auth = bench_live.add_agent(url)
    log_path = bench_dir / "console-live-server.log"
    with bench_sms.running_server(url, bench_dir, bench_sms.free_port(), log_path) as base_url:
        console.print(f"server: {base_url} (uvicorn, one worker, SQLite); log: {log_path}")
        report = asyncio.run(
            bench_live.measure(
                base_url, url, phones, auth, clients=clients, rate=rate, seconds=seconds
            )
        )
    p = bench_live.percentile
    for name, values in (("webhook, no stream open", report.webhook_alone_ms),
                         (f"webhook, {clients} streams open", report.webhook_ms)):  # fmt: skip
        console.print(f"{name}: {len(values):,} at {rate:,.0f}/s; p50 {p(values, 50):.1f} ms, "
                      f"p99 {p(values, 99):.1f} ms")  # fmt: skip
    lat = report.latencies_ms
    console.print(
        f"answer -> message.in at each of {clients} clients ({len(lat):,} deliveries): "
        f"p50 {p(lat, 50):.1f} ms, p99 {p(lat, 99):.1f} ms, max {max(lat, default=0):.1f} ms"
    )
    console.print(f"events lost: {report.lost:,} of {report.messages * clients:,}")
    if report.errors:
        console.print(f"stream errors: {sorted(set(report.errors))}")
    steal = describe_steal(*report.cpu)
    if steal is not None:
        console.print(steal)
    met = p(lat, 99) <= 500 and report.lost == 0
    console.print(f"goal: p99 ≤ 500 ms, none lost: {'met' if met else 'NOT met'}")


@app.command("dispatch")
def dispatch(
    messages: Annotated[int, typer.Option(min=1, help="Outbox messages to drain.")] = 100_000,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Rate limit R, SMS/s per sender (default: none).")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(min=1, max=32, help="Dispatcher processes (default: 2; 1 with --rate)."),
    ] = None,
    senders: Annotated[int, typer.Option(min=1, max=32, help="Sending threads each.")] = 1,
    batch: Annotated[int, typer.Option(min=1, help="Messages per claim.")] = 100,
    baseline: Annotated[
        int,
        typer.Option(
            min=0, help="Messages the baseline sends with no outbox (0: none; none with --rate)."
        ),
    ] = 20_000,
) -> None:
    """Fill a fresh SQLite outbox (under var/bench/) with MESSAGES pending replies and drain
    it with the dispatcher through the real twilio client to a fake Twilio API on loopback.
    Prints msgs/s, lost and duplicated messages, and with --rate the measured rate vs R.
    The baseline, in the same run: the same processes send through the same client with no
    outbox; the ratio is what claiming and recording each message costs."""
    import os

    from bench import dispatch as bench_dispatch
    from billing_core.settings import load_settings

    # A rate limit is per process: one process measures it without splitting R.
    processes = processes or (1 if rate else 2)
    bench_dir = (load_settings().data_dir / "bench").resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = bench_dispatch.run(
            path=bench_dir / f"dispatch-{messages}.sqlite3", messages=messages,
            processes=processes, senders=senders, rate=rate, batch=batch,
            baseline=0 if rate else baseline,
        )  # fmt: skip
    except RuntimeError as exc:
        fail(str(exc))
        return
    console.print(
        f"drained {result.messages:,} messages with {processes} dispatcher process(es) x "
        f"{senders} sending thread(s), batch {batch}, the twilio client to a fake API on loopback"
    )
    console.print(f"{result.seconds:.2f} s = {result.rate:,.0f} msgs/s")
    console.print(
        f"lost: {result.lost:,}   duplicates: {result.duplicates:,}   "
        f"(fake API accepted {result.accepted:,}; outbox rows sent with a provider id: "
        f"{result.sent_rows:,}, distinct provider ids {result.distinct_provider_ids:,}"
        + (f"; other rows {result.other_rows}" if result.other_rows else "")
        + ")"
    )
    per_message = (result.dispatcher_cpu + result.fake_cpu) / result.messages
    console.print(
        f"CPU per message: dispatchers {result.dispatcher_cpu / result.messages * 1000:.2f} ms, "
        f"fake Twilio API {result.fake_cpu / result.messages * 1000:.2f} ms "
        f"(on {os.cpu_count()} idle cores that bounds the rate at "
        f"{(os.cpu_count() or 1) / per_message:,.0f} msgs/s)"
    )
    if result.baseline_messages:
        console.print(
            f"baseline, the same client with no outbox: {result.baseline_messages:,} messages "
            f"in {result.baseline_seconds:.2f} s = {result.baseline_rate:,.0f} msgs/s; "
            f"ratio {result.ratio:.2f}"
        )
    if result.steal is not None:
        console.print(result.steal)
    if rate:
        deviation = (result.paced_rate - rate) / rate * 100
        console.print(
            f"rate limit R = {rate:g}/s: measured {result.paced_rate:,.2f}/s between the first "
            f"and last send ({deviation:+.2f} %), {result.rate:,.2f}/s overall"
        )
        met = abs(deviation) <= 5 and result.lost == 0 and result.duplicates == 0
        console.print(f"goal: within 5 % of R, none lost or twice: {'met' if met else 'NOT met'}")
    else:
        met = result.rate >= 1000 and result.lost == 0 and result.duplicates == 0
        console.print(
            f"goal: ≥ 1,000 msgs/s, none lost or twice: {'met' if met else 'NOT met'} "
            f"({result.rate:,.0f} msgs/s)"
        )


@app.command("telegram-dispatch")
def telegram_dispatch(
    count: Annotated[
        int,
        typer.Option(
            min=2,
            help="Chats: each gets a notice; in the first two thirds, one in 50 a second and "
            "one in 150 a third.",
        ),
    ] = 3000,
    rate: Annotated[
        float, typer.Option(min=1, help="The bot's rate limit, messages/s (Telegram: 30).")
    ] = 30.0,
    batch: Annotated[int, typer.Option(min=1, help="Messages per claim.")] = 100,
    senders: Annotated[
        int | None,
        typer.Option(min=1, max=32, help="Sending threads (default: one per 40 messages/s)."),
    ] = None,
    enforce_limits: Annotated[
        bool, typer.Option(help="The fake answers 429 to a message over Telegram's limits.")
    ] = False,
) -> None:
    """Fill a fresh SQLite outbox (under var/bench/) with bill notices to COUNT Telegram chats
    and drain it with the dispatcher through the real aiogram client to a fake Bot API on
    loopback (its own process) at RATE messages/s. Prints the measured rate against RATE
    (goal: within 5 %), lost and doubled notices (goal: none), and the closest two messages
    to one chat came (goal: never under 1 s), with the most messages in any one second."""
    from bench import telegram_dispatch as bench_telegram
    from billing_core.settings import load_settings

    # One thread's round trip (claim, send, record) takes a few milliseconds: a higher rate
    # needs more of them.
    senders = senders or max(1, math.ceil(rate / 40))
    bench_dir = (load_settings().data_dir / "bench").resolve()
    bench_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = bench_telegram.run(
            path=bench_dir / f"telegram-dispatch-{count}.sqlite3", chats=count, rate=rate,
            batch=batch, senders=senders, enforce_limits=enforce_limits,
        )  # fmt: skip
    except RuntimeError as exc:
        fail(str(exc))
        return
    console.print(
        f"drained {result.messages:,} notices to {result.chats:,} chats "
        f"({result.chats_with_more:,} with two or three) in {result.seconds:.1f} s: the aiogram "
        f"client, {senders} sending thread(s), batch {batch}, to a fake Bot API on loopback"
    )
    deviation = (result.paced_rate - rate) / rate * 100
    console.print(
        f"rate limit {rate:g}/s: measured {result.paced_rate:,.2f}/s between the first and last "
        f"message ({result.paced_rate / rate:.3f} of the limit, {deviation:+.2f} %); most in any "
        f"one second: {result.max_per_second}"
    )
    console.print(
        f"lost: {result.lost:,}   doubled: {result.duplicates:,}   (fake API accepted "
        f"{result.accepted:,}, refused {result.refused:,}; outbox rows delivered with a provider "
        f"id: {result.delivered_rows:,}, distinct provider ids {result.distinct_provider_ids:,}"
        + (f"; other rows {result.other_rows}" if result.other_rows else "")
        + ")"
    )
    closest = "n/a" if result.min_chat_gap is None else f"{result.min_chat_gap:.3f} s"
    console.print(
        f"two messages to one chat: closest {closest}, {result.chat_gaps_under_1s} under 1 s"
    )
    console.print(
        f"CPU per message: dispatcher {result.dispatcher_cpu / result.messages * 1000:.2f} ms, "
        f"fake Bot API {result.fake_cpu / result.messages * 1000:.2f} ms"
    )
    if result.steal is not None:
        console.print(result.steal)
    met = (
        abs(deviation) <= 5
        and result.lost == 0
        and result.duplicates == 0
        and result.chat_gaps_under_1s == 0
    )
    console.print(
        "goal: within 5 % of the limit, none lost or doubled, never two to one chat within "
        f"1 s: {'met' if met else 'NOT met'}"
    )


@app.command("arrears")
def arrears(
    accounts: Annotated[int, typer.Option(min=100, help="Accounts (about 10 % in arrears).")] = (
        1_000_000
    ),
    workdir: Annotated[Path, typer.Option(help="Where the SQLite databases go.")] = Path(
        "/tmp/wattdesk-bench-arrears"
    ),
) -> None:
    """The daily arrears ladder over N accounts on SQLite, timed at N/4, N/2 and N (fresh
    databases built with the bulk paths); prints per size the wall and CPU time and
    accounts/s, the time per account at N against N/4 (1.00: linear), the number of
    scheduler jobs, which does not depend on N, and the goal's verdict."""
    from bench import arrears as bench_arrears
    from billing_core.settings import load_settings

    settings = load_settings(_env_file=None)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "arrears.sqlite3"
    timings = []
    start = cpu_times()
    for size in (accounts // 4, accounts // 2, accounts):
        timing = bench_arrears.time_run(path, size, settings)
        timings.append(timing)
        report = timing.report
        console.print(
            f"{size:>10,} accounts ({timing.in_arrears:,} in arrears): {timing.seconds:6.2f} s, "
            f"CPU {timing.cpu:6.2f} s, {timing.rate:,.0f} accounts/s; cases opened "
            f"{report.opened:,}, steps {report.steps:,}, messages {report.messages:,}, tasks "
            f"{report.tasks:,}, work orders {report.orders:,}"
        )
    end = cpu_times()
    again, again_cpu, repeat = bench_arrears.rerun(path, settings)
    console.print(f"the same day again: {again:.2f} s, CPU {again_cpu:.2f} s, steps "
                  f"{repeat.steps:,}, messages {repeat.messages:,} (idempotent)")  # fmt: skip
    quarter, _, full = timings
    wall_ratio = bench_arrears.per_account_ratio(quarter, full)
    cpu_ratio = bench_arrears.per_account_ratio(quarter, full, cpu=True)
    console.print(f"time per account at N vs N/4: {wall_ratio:.2f} (wall), {cpu_ratio:.2f} (CPU); "
                  "linear growth is 1.00")  # fmt: skip
    steal = describe_steal(start, end)
    if steal is not None:
        console.print(steal)
    jobs = bench_arrears.scheduler_jobs(workdir / "jobs.sqlite3", settings)
    ladder_jobs = [j for j in jobs if j.startswith("arrears")]
    console.print(f"scheduler jobs: {len(jobs)} in all, {len(ladder_jobs)} for the ladder "
                  f"({', '.join(ladder_jobs)}), whatever N")  # fmt: skip
    fast = full.seconds <= 10
    linear = cpu_ratio <= LINEAR_TOLERANCE
    fixed = len(ladder_jobs) == 2
    console.print(
        f"goal (issue 18): {accounts:,} accounts in <= 10 s: {'met' if fast else 'NOT met'} "
        f"({full.seconds:.2f} s, CPU {full.cpu:.2f} s); linear: {'met' if linear else 'NOT met'}"
        f" (CPU per account x{cpu_ratio:.2f}, at most x{LINEAR_TOLERANCE:.2f}); scheduler jobs "
        f"independent of N: {'met' if fixed else 'NOT met'}"
    )


# The CPU time per account at N over that at N/4 that still counts as linear growth: the
# B-trees grow a level deeper and the caches hold a smaller share of a bigger database.
LINEAR_TOLERANCE = 1.15


@app.command("nlu")
def nlu(
    messages: Annotated[int, typer.Option(min=100, help="Recognitions to time.")] = 20_000,
) -> None:
    """Recognise MESSAGES customer texts (the team's held-out set, cycled) one at a time:
    messages/s, p50 and p99 of one recognition, and the classifier's build time at start.
    The baseline, in the same run: `normalise` alone over the same texts; the ratio is what
    the rules and the classifier cost on top of folding the text. Goal: p99 at most 1 ms."""
    from bench import nlu as bench_nlu

    result = bench_nlu.run(messages)
    full, folding = result.recognise, result.normalise
    console.print(f"classifier built in {result.build_s:.2f} s (once per process, at start)")
    for name, timing in (("recognise", full), ("normalise alone (baseline)", folding)):
        console.print(
            f"{name}: {timing.messages:,} messages, {timing.per_second:,.0f} msgs/s, "
            f"p50 {timing.p50_ms:.3f} ms, p99 {timing.p99_ms:.3f} ms"
        )
    ratio = full.per_second / folding.per_second if folding.per_second else 0.0
    console.print(f"ratio recognise/normalise: {ratio:.2f}")
    verdict = "met" if full.p99_ms <= 1.0 else "NOT met"
    console.print(f"goal p99 <= 1 ms per message: {verdict} ({full.p99_ms:.3f} ms)")


def print_inbound_report(
    report: InboundReport,
    counts: tuple[tuple[int, int], tuple[int, int]],
    *,
    requests: int,
    rate: float,
    concurrency: int,
    short: str,
    label: str,
    sent_as: str,
    carried: str,
) -> None:
    """What `bench sms-inbound` and `bench telegram-inbound` print: both measurements of the
    answering endpoint (`label`, `short` in the ratio) and of /healthz, the CPU steal, what
    was stored (`counts`: messages and pay links before and after) and the goals."""
    from bench import sms_inbound as bench_sms  # as the commands: loaded when they run

    before, after = counts
    messages, links = after[0] - before[0], after[1] - before[1]
    sent = (1 + len(report.ratios)) * requests + bench_sms.WARM_UP
    healthz = "/healthz".ljust(len(label))
    console.print(f"\nfixed rate {rate:,.0f} req/s (open loop, {concurrency} connections):")
    console.print("  " + bench_sms.describe(label, report.bill_fixed))
    console.print("  " + bench_sms.describe(healthz, report.trivial_fixed))
    console.print(f"saturation ({concurrency} connections, closed loop):")
    console.print("  " + bench_sms.describe(label, report.bill_saturated))
    console.print("  " + bench_sms.describe(healthz, report.trivial_saturated))
    ratio = report.ratio
    rounds = ", ".join(f"{each:.2f}" for each in report.ratios)
    console.print(f"ratio {short} / healthz, req/s at saturation: {ratio:.2f} (the median of "
                  f"{len(report.ratios)} rounds: {rounds}; the round shown above)")  # fmt: skip
    start, after_fixed, end = report.cpu
    for name, steal in ((f"{short} at a fixed rate", describe_steal(start, after_fixed)),
                        ("all four measurements", describe_steal(start, end))):  # fmt: skip
        if steal is not None:
            console.print(f"{name}: {steal}")
    with_link = report.bill_fixed.pay_links + report.bill_saturated.pay_links
    console.print(f"stored: {messages:,} conversation messages, {links:,} pay links for "
                  f"{sent:,} {sent_as}; {with_link:,} of {2 * requests:,} measured "
                  f"(fixed rate, median round) {carried}")  # fmt: skip
    p99 = report.bill_fixed.percentile(99)
    achieved = report.bill_fixed.rate
    console.print(
        f"goals: p99 ≤ 25 ms at {rate:,.0f} req/s: "
        f"{'met' if p99 <= 25 and achieved >= 0.97 * rate else 'NOT met'} "
        f"({p99:.1f} ms at {achieved:,.0f} req/s); ratio ≥ 0.4: "
        f"{'met' if ratio >= 0.4 else 'NOT met'} ({ratio:.2f})"
    )
