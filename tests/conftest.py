"""Shared fixtures: databases (SQLite and PostgreSQL), sessions rolled back after each test,
a fixed clock, and settings.

Integration tests that take `engine` or `session` run once per database. PostgreSQL comes
from WATTDESK_TEST_POSTGRES_URL; when it is unreachable its tests are skipped loudly, except
with CI=true, where the run fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from typer.testing import CliRunner

from billing_core.clock import FixedClock
from billing_core.db import create_db_engine
from billing_core.db.migrate import upgrade
from billing_core.settings import Settings, load_settings

POSTGRES_URL = os.environ.get(
    "WATTDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"

_postgres_problem: str | None = None


def _probe_postgres() -> str | None:
    try:
        probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except OperationalError as exc:
        return str(exc.orig or exc).strip().splitlines()[0]
    return None


def pytest_configure(config: pytest.Config) -> None:
    global _postgres_problem
    _postgres_problem = _probe_postgres()
    if _postgres_problem and IN_CI:
        raise pytest.UsageError(
            f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable: {_postgres_problem}"
        )


def pytest_report_header(config: pytest.Config) -> str:
    if _postgres_problem:
        return f"!!! PostgreSQL UNREACHABLE ({_postgres_problem}): its tests are SKIPPED !!!"
    return f"PostgreSQL: {make_url(POSTGRES_URL).render_as_string(hide_password=True)}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_problem:
        terminalreporter.write_sep(
            "!", f"PostgreSQL unreachable, its tests were SKIPPED: {_postgres_problem}", red=True
        )


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test session (or one xdist worker); dropped after."""
    if _postgres_problem:
        pytest.skip(f"PostgreSQL unreachable: {_postgres_problem}")
    name = f"wattdesk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh_database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'wattdesk.sqlite3'}"
    else:
        yield from postgres_database()


@contextmanager
def migrated_database(kind: str, directory: Path) -> Iterator[Engine]:
    """A fresh, migrated database of `kind` (a file under `directory`, or a PostgreSQL
    database of its own), disposed and dropped on leaving."""
    urls = fresh_database_url(kind, directory)
    engine = create_db_engine(next(urls))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        urls.close()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="session")
def engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database per kind, shared by the session's tests."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("db")) as eng:
        yield eng


@pytest.fixture
def empty_engine(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    """An unmigrated, empty database of each kind, for one test."""
    urls = fresh_database_url(db_kind, tmp_path)
    eng = create_db_engine(next(urls))
    yield eng
    eng.dispose()
    urls.close()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; the code under
    test may commit (that releases a SAVEPOINT)."""
    connection = engine.connect()
    outer = connection.begin()
    db_session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # 10:00 in Asia/Shanghai


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path, _env_file=None)


def _reset_cli_caches() -> None:
    from api.cli import common
    from billing_core.bills.run import shutdown_workers

    shutdown_workers()  # bill-run workers hold connections to the test database
    if common.engine.cache_info().currsize:
        common.engine().dispose()
    common.engine.cache_clear()
    common.settings.cache_clear()


@pytest.fixture
def cli_database(db_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated database of each kind that the `wattdesk` CLI will use (through the
    environment, as an operator's shell would set it)."""
    urls = fresh_database_url(db_kind, tmp_path)
    url = next(urls)
    migrated = create_db_engine(url)
    upgrade(migrated)
    migrated.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WATTDESK_DATABASE_URL", url)
    monkeypatch.setenv("WATTDESK_DATA_DIR", str(tmp_path))
    _reset_cli_caches()
    yield url
    _reset_cli_caches()
    urls.close()


@pytest.fixture
def cli_env() -> CliRunner:
    return CliRunner()


@pytest.fixture
def fresh_engine(empty_engine: Engine) -> Engine:
    """A migrated database of each kind, for one test that commits (bill runs, seeds)."""
    upgrade(empty_engine)
    return empty_engine
