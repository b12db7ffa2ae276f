"""Seeding use cases: fill an empty database with the demo customers and a deterministic
synthetic population, inside the caller's transaction (all or nothing)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.errors import Conflict
from billing_core.seed.demo import ensure_demo_customers
from billing_core.seed.model import DEFAULT_TIMEZONE, SeedConfig
from billing_core.seed.population import SeedPopulation
from billing_core.seed.store import RowWriter, count_rows, next_ids, reset_sequences, seed_table


class AlreadySeeded(Conflict):
    """The database already holds customers; seeding is only for an empty one."""


@dataclass(frozen=True)
class SeedReport:
    customers: int
    months: int
    seed: int
    until: date
    counts: Mapping[str, int]  # rows per table after seeding
    anomalies: Mapping[str, int]  # planted anomalies by kind (see seed.model.Anomaly)
    elapsed_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.counts.values())


def seed_is_needed(session: Session) -> bool:
    """True while the database holds no customer at all."""
    customer = seed_table("customer")
    return session.connection().execute(select(customer.c.id).limit(1)).first() is None


def seed_population(
    *,
    session: Session,
    customers: int,
    months: int,
    seed: int,
    until: date | None,
    clock: Clock,
    timezone: str = DEFAULT_TIMEZONE,
    on_progress: Callable[[int], None] | None = None,
) -> SeedReport:
    """Create the demo customers and `customers` synthetic ones with `months` months of readings
    up to `until` (default: today in `timezone`). The same seed gives the same rows. Raises
    AlreadySeeded if customers exist; the caller's transaction makes it all or nothing.
    `on_progress` is called with the number of synthetic customers stored so far."""
    started = time.perf_counter()
    if until is None:
        until = clock.now().astimezone(ZoneInfo(timezone)).date()
    SeedConfig(customers=customers, months=months, seed=seed, until=until, timezone=timezone)
    session.flush()
    if not seed_is_needed(session):
        raise AlreadySeeded("database already seeded: it holds customers (seed an empty one)")

    ensure_demo_customers(
        session=session, clock=clock, months=months, until=until, timezone=timezone
    )
    connection = session.connection()
    population = SeedPopulation(
        SeedConfig(
            customers=customers,
            months=months,
            seed=seed,
            until=until,
            timezone=timezone,
            first_ids=next_ids(connection),
        )
    )

    def report_progress() -> None:
        if on_progress is not None:
            on_progress(population.customers_made)

    writer = RowWriter(connection, on_flush=report_progress)
    for row in population.rows():
        writer.add(row)
    writer.flush()
    reset_sequences(connection)
    # The planner's statistics, as a database in service has them (PostgreSQL's autovacuum
    # would take its time; SQLite has none until asked): queries right after a seed of
    # millions of rows are then planned as they would be later.
    connection.exec_driver_sql("ANALYZE")
    return SeedReport(
        customers=customers,
        months=months,
        seed=seed,
        until=until,
        counts=count_rows(connection),
        anomalies={str(kind): count for kind, count in population.anomalies.items()},
        elapsed_seconds=time.perf_counter() - started,
    )
