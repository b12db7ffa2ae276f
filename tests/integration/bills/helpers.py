"""Shared set-up for bill-run tests: a seeded population and the objects a run needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.run import shutdown_workers
from billing_core.bills.tables import Bill, BillLine
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine, session_scope
from billing_core.db.columns import table_of
from billing_core.db.migrate import upgrade
from billing_core.seed.model import reading_dates
from billing_core.seed.service import seed_population
from billing_core.tariffs.catalog import TariffCatalog
from tests.conftest import fresh_database_url

TZ = ZoneInfo("Asia/Shanghai")
UNTIL = date(2026, 11, 26)
CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
TARIFFS = TariffCatalog.load()
THRESHOLDS = ReviewThresholds.from_policy(load_review_policy())


@contextmanager
def seeded_twins(db_kind: str, tmp_path: Path, customers: int) -> Iterator[tuple[Engine, Engine]]:
    """Two databases of the same kind seeded identically (one to run one way, one the other);
    dropped afterwards, once any bill-run workers holding connections to them are stopped."""
    generators = [fresh_database_url(db_kind, tmp_path / name) for name in ("a", "b")]
    engines = []
    for generator, name in zip(generators, ("a", "b"), strict=True):
        (tmp_path / name).mkdir()
        engine = create_db_engine(next(generator))
        upgrade(engine)
        seed(engine, customers=customers)
        engines.append(engine)
    try:
        yield engines[0], engines[1]
    finally:
        shutdown_workers()
        for engine, generator in zip(engines, generators, strict=True):
            engine.dispose()
            generator.close()


def seed(engine: Engine, customers: int, seed_value: int = 7) -> None:
    with session_scope(engine) as session:
        seed_population(
            session=session,
            customers=customers,
            months=13,
            seed=seed_value,
            until=UNTIL,
            clock=CLOCK,
            timezone="Asia/Shanghai",
        )


def busiest_reading_date(engine: Engine) -> date:
    """The latest date on or before UNTIL whose reading day has the most accounts."""
    account = table_of(Account)
    with engine.connect() as connection:
        day = connection.execute(
            select(account.c.reading_day)
            .group_by(account.c.reading_day)
            .order_by(func.count().desc(), account.c.reading_day)
            .limit(1)
        ).scalar_one()
    return UNTIL.replace(day=day) if day <= UNTIL.day else date(UNTIL.year, UNTIL.month - 1, day)


def cycle_reading_dates(engine: Engine, cycles_back: int = 0) -> list[date]:
    """The reading date of every reading day in use, `cycles_back` monthly cycles before the
    latest one on or before UNTIL (0: the latest), in date order."""
    account = table_of(Account)
    with engine.connect() as connection:
        days = connection.execute(select(account.c.reading_day).distinct()).scalars().all()
    return sorted(reading_dates(day, UNTIL, cycles_back)[0] for day in days)


def bills_snapshot(engine: Engine) -> tuple[list[tuple[object, ...]], Decimal]:
    """Every live bill as (account, period, status, kWh, total, line sum), and their sum."""
    bill, line = table_of(Bill), table_of(BillLine)
    with engine.connect() as connection:
        sums = dict(
            connection.execute(
                select(line.c.bill_id, func.sum(line.c.amount)).group_by(line.c.bill_id)
            ).all()
        )
        rows = connection.execute(
            select(
                bill.c.id,
                bill.c.account_id,
                bill.c.period_start,
                bill.c.period_end,
                bill.c.status,
                bill.c.kwh,
                bill.c.total,
            )
            .where(bill.c.status != "cancelled")
            .order_by(bill.c.account_id)
        ).all()
    snapshot = [
        (r.account_id, r.period_start, r.period_end, r.status, r.kwh, r.total, sums.get(r.id))
        for r in rows
    ]
    return snapshot, sum((r.total for r in rows), Decimal(0))
