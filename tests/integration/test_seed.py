"""Seeding a real database (SQLite, and PostgreSQL when reachable): counts, demo customers,
determinism, refusal of a second seed, all-or-nothing, and the `wattdesk seed` command."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from typer.testing import CliRunner

from billing_core.bills.model import BusinessChangeKind
from billing_core.clock import FixedClock
from billing_core.customers.tables import Customer
from billing_core.db import create_db_engine, session_scope
from billing_core.db.migrate import upgrade
from billing_core.seed import store
from billing_core.seed.demo import DEMO_CUSTOMERS, EMMA_BROWN, LI_NA, ensure_demo_customers
from billing_core.seed.model import TABLE_ORDER, Anomaly
from billing_core.seed.service import AlreadySeeded, seed_is_needed, seed_population

POSTGRES_URL = os.environ.get(
    "WATTDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
UNTIL = date(2026, 11, 26)
CUSTOMERS, MONTHS = 200, 13


@pytest.fixture(params=["sqlite", "postgres"])
def seed_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh, migrated database for one test: a SQLite file, or a PostgreSQL database
    created for the test and dropped after it (skipped when PostgreSQL is unreachable)."""
    if request.param == "sqlite":
        engine = create_db_engine(f"sqlite:///{tmp_path / 'seed.sqlite3'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    admin = create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"wattdesk_seed_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable: {str(exc.orig or exc).splitlines()[0]}")
    engine = create_db_engine(
        make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(session: Session, *, seed_value: int = 1) -> Any:
    return seed_population(
        session=session,
        customers=CUSTOMERS,
        months=MONTHS,
        seed=seed_value,
        until=UNTIL,
        clock=CLOCK,
    )


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return store.count_rows(connection)


def snapshot(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every seeded row, ordered by id."""
    return {
        name: [
            tuple(row)
            for row in connection.execute(
                select(store.seed_table(name)).order_by(store.seed_table(name).c.id)
            )
        ]
        for name in TABLE_ORDER
    }


def test_small_seed_stores_the_expected_rows_and_the_demo_customers(seed_engine: Engine) -> None:
    with session_scope(seed_engine) as session:
        assert seed_is_needed(session)
        report = seed(session)
    assert report.counts == counts(seed_engine)
    rows = report.counts
    planted = Counter(report.anomalies)
    assert rows["customer"] == CUSTOMERS + len(DEMO_CUSTOMERS)
    assert rows["account"] >= rows["customer"]
    # A replacement adds a meter, a tariff change an assignment, each change a row.
    assert rows["meter"] == rows["account"] + planted[Anomaly.meter_replacement]
    assert rows["tariff_assignment"] == rows["account"] + planted[Anomaly.tariff_change]
    changes = [Anomaly(kind.value) for kind in BusinessChangeKind]
    assert rows["business_change"] == sum(planted[kind] for kind in changes)
    assert all(planted[kind] > 0 for kind in changes)  # even one book holds each
    # Each meter has an opening reading and one a month, except a new meter (one reading).
    new_meters = planted[Anomaly.new_connection] + planted[Anomaly.meter_replacement]
    missing = planted[Anomaly.missing_reading]
    assert rows["meter_reading"] == rows["meter"] * (MONTHS + 1) - missing - new_meters * MONTHS
    assert rows["reading_book"] >= 2 and rows["contact"] > CUSTOMERS

    customer, contact = store.seed_table("customer"), store.seed_table("contact")
    account, reading = store.seed_table("account"), store.seed_table("meter_reading")
    meter, tariff = store.seed_table("meter"), store.seed_table("tariff_assignment")
    with seed_engine.connect() as connection:
        for demo in (LI_NA, EMMA_BROWN):
            found = connection.execute(
                select(
                    customer.c.name, customer.c.timezone, contact.c.verified, tariff.c.tariff_code
                )
                .join(contact, contact.c.customer_id == customer.c.id)
                .join(account, account.c.customer_id == customer.c.id)
                .join(tariff, tariff.c.account_id == account.c.id)
                .where(account.c.number == demo.account_number, contact.c.address == demo.phone)
            ).one()
            assert tuple(found) == (demo.name, demo.timezone, True, demo.tariff_code)
            readings = connection.execute(
                select(func.count())
                .select_from(reading)
                .join(meter, meter.c.id == reading.c.meter_id)
                .join(account, account.c.id == meter.c.account_id)
                .where(account.c.number == demo.account_number)
            ).scalar_one()
            assert readings == MONTHS + 1


def test_same_seed_gives_identical_data(seed_engine: Engine) -> None:
    with Session(seed_engine) as session:
        seed(session, seed_value=5)
        first = snapshot(session.connection())
        session.rollback()
        assert seed_is_needed(session)
        seed(session, seed_value=5)
        again = snapshot(session.connection())
        session.rollback()
        seed(session, seed_value=6)
        other = snapshot(session.connection())
        session.rollback()
    assert first == again
    assert first["meter_reading"] != other["meter_reading"]


def test_a_second_seed_is_refused(seed_engine: Engine) -> None:
    with session_scope(seed_engine) as session:
        seed(session)
    with session_scope(seed_engine) as session:
        assert not seed_is_needed(session)
        with pytest.raises(AlreadySeeded, match="already seeded"):
            seed(session)


def test_demo_customers_are_created_once(seed_engine: Engine) -> None:
    with session_scope(seed_engine) as session:
        assert ensure_demo_customers(session=session, clock=CLOCK) == list(DEMO_CUSTOMERS)
    with session_scope(seed_engine) as session:
        assert ensure_demo_customers(session=session, clock=CLOCK) == []
        assert not seed_is_needed(session)
    assert counts(seed_engine)["customer"] == len(DEMO_CUSTOMERS)


def test_a_failed_insert_mid_seed_leaves_no_rows(
    seed_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_insert = store.insert_batch

    def failing_insert(connection: Connection, table: Any, values: Any) -> None:
        calls["n"] += 1
        if calls["n"] > 25:  # after the demo customers and several population batches
            raise RuntimeError("disk full (simulated)")
        real_insert(connection, table, values)

    monkeypatch.setattr(store, "BATCH_ROWS", 500)
    monkeypatch.setattr(store, "insert_batch", failing_insert)
    with pytest.raises(RuntimeError, match="simulated"), session_scope(seed_engine) as session:
        seed(session)
    assert calls["n"] > 25
    assert set(counts(seed_engine).values()) == {0}


def test_ids_chosen_by_the_database_follow_the_seeded_ones(seed_engine: Engine) -> None:
    with session_scope(seed_engine) as session:
        report = seed(session)
    with session_scope(seed_engine) as session:
        added = Customer(name="新客户", created_at=CLOCK.now())
        session.add(added)
        session.flush()
        assert added.id == report.counts["customer"] + 1


# -- the command --------------------------------------------------------------------------------


@pytest.fixture
def cli_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from api.cli import common

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    migrated = create_db_engine(url)
    upgrade(migrated)
    migrated.dispose()
    monkeypatch.setenv("WATTDESK_DATABASE_URL", url)
    monkeypatch.setenv("WATTDESK_DATA_DIR", str(tmp_path))
    common.settings.cache_clear()
    common.engine.cache_clear()
    yield url
    if common.engine.cache_info().currsize:
        common.engine().dispose()
    common.settings.cache_clear()
    common.engine.cache_clear()


def run(*args: str) -> Any:
    from api.cli import app

    return CliRunner().invoke(app, ["seed", *args])


def test_seed_command_seeds_once_then_refuses(cli_sqlite: str) -> None:
    result = run("--customers", "30", "--months", "3", "--seed", "4", "--until", "2026-11-01")
    assert result.exit_code == 0, result.output
    assert "meter_reading" in result.output and "seeded 30 customers" in result.output
    again = run("--customers", "30", "--months", "3")
    assert again.exit_code == 2
    assert "already seeded" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--customers", "-1"], "--customers"),
        (["--months", "0"], "--months"),
        (["--months", "-2"], "--months"),
        (["--until", "2026-02-30"], "--until"),
    ],
)
def test_seed_command_refuses_bad_input_with_exit_2(
    cli_sqlite: str, args: list[str], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    engine = create_db_engine(cli_sqlite)
    assert counts(engine)["customer"] == 0
    engine.dispose()
