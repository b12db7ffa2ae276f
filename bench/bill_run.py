"""The bill-run benchmark's measuring parts: a whole cycle of bill runs, and, as the baseline,
a bare bulk insert of the same bill and line rows into the same database.

The benchmark works only on a database without bills (it refuses others) and removes what it
stored before it returns, so the same seeded database can be measured again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session

from billing_core.bills.model import ReviewThresholds
from billing_core.bills.run import BillRunSummary, TariffLookup, run_bills
from billing_core.bills.run.store import BILL_COLUMNS, LINE_COLUMNS
from billing_core.bills.tables import Bill, BillLine, BillRun, ReviewItem
from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert, reserve_ids
from billing_core.errors import Conflict
from billing_core.events.tables import DomainEvent
from billing_core.ledger.tables import LedgerEntry

BILL, LINE, REVIEW, RUN, EVENT, LEDGER = (
    table_of(Bill),
    table_of(BillLine),
    table_of(ReviewItem),
    table_of(BillRun),
    table_of(DomainEvent),
    table_of(LedgerEntry),
)


@dataclass
class CycleResult:
    days: int
    bills: int
    lines: int
    in_review: int
    missed: int
    failed: int
    seconds: float
    phase_seconds: dict[str, float]

    @property
    def bills_per_second(self) -> float:
        return self.bills / self.seconds if self.seconds else 0.0


def ensure_no_bills(engine: Engine) -> None:
    with engine.connect() as connection:
        if connection.execute(select(func.count()).select_from(BILL)).scalar_one():
            raise Conflict(
                "the benchmark needs a database without bills (it deletes what it stores); "
                "give it a fresh --database-url"
            )


def bill_one_cycle(
    *,
    engine: Engine,
    clock: Clock,
    last_day: date,
    tz: ZoneInfo,
    tariffs: TariffLookup,
    thresholds: ReviewThresholds,
    chunk_size: int,
    workers: int = 1,
    on_day: Callable[[BillRunSummary], None] | None = None,
) -> CycleResult:
    """Bill runs for the 28 reading days up to `last_day`: every account once."""
    result = CycleResult(
        days=0, bills=0, lines=0, in_review=0, missed=0, failed=0, seconds=0, phase_seconds={}
    )
    for back in range(27, -1, -1):
        summary = run_bills(
            engine=engine,
            clock=clock,
            run_date=last_day - timedelta(days=back),
            tz=tz,
            tariffs=tariffs,
            thresholds=thresholds,
            chunk_size=chunk_size,
            workers=workers,
        )
        result.days += 1
        result.bills += summary.issued + summary.in_review
        result.in_review += summary.in_review
        result.missed += len(summary.missed)
        result.failed += len(summary.failed)
        result.seconds += summary.seconds
        for phase, seconds in summary.phase_seconds.items():
            result.phase_seconds[phase] = result.phase_seconds.get(phase, 0.0) + seconds
        if on_day:
            on_day(summary)
    with engine.connect() as connection:
        result.lines = connection.execute(select(func.count()).select_from(LINE)).scalar_one()
    return result


def stored_rows(engine: Engine) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """The bills and their lines as plain rows (without ids), in bill order."""
    with engine.connect() as connection:
        bills = [dict(row._mapping) for row in connection.execute(select(BILL).order_by(BILL.c.id))]
        lines_by_bill: dict[int, list[dict[str, Any]]] = {}
        for row in connection.execute(select(LINE).order_by(LINE.c.bill_id, LINE.c.position)):
            values = dict(row._mapping)
            lines_by_bill.setdefault(values.pop("bill_id"), []).append(values)
    lines = []
    for bill in bills:
        bill_id = bill.pop("id")
        bill["bill_run_id"] = None
        lines.append(
            [
                {k: v for k, v in line.items() if k != "id"}
                for line in lines_by_bill.get(bill_id, [])
            ]
        )
    return bills, lines


def delete_bills(engine: Engine) -> None:
    """Delete what a measurement stored. On PostgreSQL the emptied tables are vacuumed too:
    their dead rows slowed the next measurement (a third run on the same database read its
    bills past 800,000 dead index entries: 5,700 bills/s against 7,300 on a fresh one)."""
    tables = (LEDGER, EVENT, REVIEW, LINE, BILL, RUN)
    with Session(engine) as session, session.begin():
        for table in tables:
            session.execute(delete(table))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM ANALYZE {', '.join(t.name for t in tables)}")


def bare_insert(
    *,
    engine: Engine,
    bills: list[dict[str, Any]],
    lines: list[list[dict[str, Any]]],
    chunk_size: int,
) -> float:
    """The baseline: the same bill and line rows stored the way the run stores them (ids
    reserved, then the bills and their lines with one executemany each, one transaction per
    chunk), and nothing else."""
    bill_rows = [tuple(bill[name] for name in BILL_COLUMNS[1:]) for bill in bills]
    line_rows = [[tuple(line[name] for name in LINE_COLUMNS[1:]) for line in ls] for ls in lines]
    started = time.perf_counter()
    for start in range(0, len(bill_rows), chunk_size):
        chunk = bill_rows[start : start + chunk_size]
        with Session(engine) as session, session.begin():
            connection = session.connection()
            ids = reserve_ids(connection, BILL, len(chunk))
            bulk_insert(
                connection,
                BILL,
                BILL_COLUMNS,
                [(bill_id, *row) for bill_id, row in zip(ids, chunk, strict=True)],
            )
            bulk_insert(
                connection,
                LINE,
                LINE_COLUMNS,
                [
                    (bill_id, *line)
                    for bill_id, bill_lines in zip(
                        ids, line_rows[start : start + chunk_size], strict=True
                    )
                    for line in bill_lines
                ],
            )
    return time.perf_counter() - started
