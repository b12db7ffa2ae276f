"""`wattdesk bench arrears`: the daily arrears ladder over N accounts on SQLite (about 10 % in
arrears), timed at N/4, N/2 and N to show its growth (wall and CPU time: the machine is
shared, and the ladder runs in this process), with the number of scheduler jobs (which must
not depend on N). Each size gets a fresh database, built with the bulk paths and written out
to disk before the ladder is timed (else the timed run paid for the build's writes)."""

from __future__ import annotations

import os
import random
import time as clock_time
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from billing_core.arrears.cases import CASE, LadderChunk
from billing_core.bills.tables import Bill
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Contact, Customer
from billing_core.db import create_db_engine
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert
from billing_core.db.migrate import upgrade
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.ledger.tables import LedgerEntry
from billing_core.notices.policy import load_notices_policy
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.settings import Settings
from scheduler.jobs import JobContext, Scheduler, ladder_run

NOW = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # 07:30 on Tuesday 8 December in Shanghai
TODAY = date(2026, 12, 8)
BUILD_CHUNK = 20_000
IN_ARREARS = 0.10
EIGHT, NINE_PM = time(8, 0), time(21, 0)
COLUMNS = {
    "customer": ("id", "name", "kind", "language", "household_size", "created_at"),
    "account": ("id", "number", "customer_id", "service_address", "reading_day",
                "billing_cycle_months", "status", "payment_terms_days", "opened_on"),
    "contact": ("customer_id", "channel", "address", "verified", "verified_at", "notify",
                "opted_out", "allowed_from", "allowed_until"),
    "bill": ("id", "account_id", "period_start", "period_end", "status", "kwh", "total",
             "currency", "estimated", "due_date", "issued_at", "created_at"),
    "ledger": ("account_id", "kind", "amount", "currency", "effective_on", "bill_id",
               "dedupe_key", "actor", "note", "created_at"),
    "case": ("account_id", "status", "stage", "ladder", "oldest_due", "amount_owed",
             "opened_at", "closed_at", "closed_reason"),
}  # fmt: skip


@dataclass(frozen=True)
class Timing:
    accounts: int
    in_arrears: int
    seconds: float
    cpu: float  # the process's CPU time (user and system) over the run
    report: LadderChunk

    @property
    def rate(self) -> float:
        return self.accounts / self.seconds if self.seconds else 0.0

    def per_account(self, cpu: bool = False) -> float:
        return (self.cpu if cpu else self.seconds) / self.accounts


def per_account_ratio(small: Timing, large: Timing, cpu: bool = False) -> float:
    """Time per account at `large` over that at `small`: 1.0 is linear growth."""
    base = small.per_account(cpu)
    return large.per_account(cpu) / base if base else 0.0


def fresh(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def build(engine: Engine, accounts: int, seed: int = 1) -> int:
    """`accounts` customers, each with an account, a verified SMS contact and one bill
    charged to the ledger; about 10 % owe it past its due date (1 to 60 days ago; half of
    those had an earlier case, so their ladder is the standard one), the others paid it.
    Returns how many are in arrears."""
    rng = random.Random(seed)
    tables = {name: table_of(model) for name, model in (
        ("customer", Customer), ("account", Account), ("contact", Contact), ("bill", Bill),
        ("ledger", LedgerEntry))}  # fmt: skip
    arrears = 0
    created = NOW - timedelta(days=400)
    with engine.begin() as connection:
        for start in range(1, accounts + 1, BUILD_CHUNK):
            ids = range(start, min(start + BUILD_CHUNK, accounts + 1))
            customers: list[tuple[Any, ...]] = []
            rows: list[tuple[Any, ...]] = []
            contacts: list[tuple[Any, ...]] = []
            bills: list[tuple[Any, ...]] = []
            ledger: list[tuple[Any, ...]] = []
            cases: list[tuple[Any, ...]] = []
            for i in ids:
                owes = rng.random() < IN_ARREARS
                arrears += owes
                due = TODAY - timedelta(days=rng.randint(1, 60) if owes else rng.randint(61, 90))
                issued = due - timedelta(days=15)
                total = Decimal(rng.randint(3000, 60000)).scaleb(-2)
                customers.append((i, f"customer {i}", "residential", "zh-CN", 1, created))
                rows.append((i, f"{i:010d}", i, "bench", 5, 1, "active", 15, date(2024, 1, 1)))
                contacts.append(
                    (i, "sms", f"+86139{i:08d}", True, created, True, False, EIGHT, NINE_PM)
                )
                bills.append(
                    (
                        i,
                        i,
                        due - timedelta(days=45),
                        issued,
                        "issued",
                        Decimal("100.000"),
                        total,
                        "CNY",
                        False,
                        due,
                        created,
                        created,
                    )
                )
                ledger.append(
                    (i, "charge", total, "CNY", issued, i, f"charge:bill:{i}", "bench", "", created)
                )
                if not owes:
                    ledger.append(
                        (
                            i,
                            "payment",
                            -total,
                            "CNY",
                            due - timedelta(days=2),
                            None,
                            f"bench:payment:{i}",
                            "bench",
                            "",
                            created,
                        )
                    )
                elif rng.random() < 0.5:  # an earlier case: the standard ladder
                    cases.append(
                        (
                            i,
                            "closed",
                            "stop",
                            "standard",
                            due - timedelta(days=120),
                            Decimal("50.00"),
                            NOW - timedelta(days=100),
                            NOW - timedelta(days=90),
                            "paid in full",
                        )
                    )
            for name, rows_of in (
                ("customer", customers),
                ("account", rows),
                ("contact", contacts),
                ("bill", bills),
                ("ledger", ledger),
            ):
                bulk_insert(connection, tables[name], COLUMNS[name], rows_of)
            bulk_insert(connection, CASE, COLUMNS["case"], cases)  # fmt: skip
        connection.exec_driver_sql("ANALYZE")
    settle(engine)
    return arrears


def settle(engine: Engine) -> None:
    """The build's pages moved from the WAL into the database file and written to disk: a
    checkpoint in the timed run (and its fsync) would otherwise write the whole build, a
    cost that grows with N and is not the ladder's."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()


def context(engine: Engine, settings: Settings) -> JobContext:
    return JobContext(
        engine=engine,
        clock=FixedClock(NOW),
        tz=settings.tz,
        payments_context=payment_context(settings, load_payments_policy(settings.policy_dir)),
        notices_policy=load_notices_policy(settings.policy_dir),
        late_fee_policy=load_late_fee_policy(settings.policy_dir),
    )


def time_run(path: Path, accounts: int, settings: Settings) -> Timing:
    engine = fresh(path)
    try:
        in_arrears = build(engine, accounts)
        job = context(engine, settings)
        rules = job.payments_context.arrears
        if rules is not None:
            rules.calendar(NOW)  # the holidays package's calendar, built once per process
        started, cpu = clock_time.perf_counter(), clock_time.process_time()
        report = ladder_run(job)
        cpu = clock_time.process_time() - cpu
        return Timing(accounts, in_arrears, clock_time.perf_counter() - started, cpu, report)
    finally:
        engine.dispose()


def scheduler_jobs(path: Path, settings: Settings) -> list[str]:
    """The ids of the jobs the scheduler registers (paused: nothing runs)."""
    engine = fresh(path)
    try:
        scheduler = Scheduler(context(engine, settings), None)
        scheduler.start(paused=True)
        try:
            return sorted(job.id for job in scheduler.scheduler.get_jobs())
        finally:
            scheduler.shutdown()
    finally:
        engine.dispose()


def rerun(path: Path, settings: Settings) -> tuple[float, float, LadderChunk]:
    """The same day's run again on the last database (nothing new to record): wall and CPU
    seconds, and what it did."""
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        started, cpu = clock_time.perf_counter(), clock_time.process_time()
        report = ladder_run(context(engine, settings))
        cpu = clock_time.process_time() - cpu
        return clock_time.perf_counter() - started, cpu, report
    finally:
        engine.dispose()
