"""SQLite's begin mode (billing_core.db.engine): a unit of work given SQLITE_BEGIN=IMMEDIATE
takes the write lock at BEGIN, so two that read and then write take turns instead of one
failing with "database is locked"; a unit of work without it still begins deferred, and
reads while another holds the write lock. And the WAL size at which each engine's commits
checkpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from billing_core.db import create_db_engine, session_scope


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'begin.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    yield engine
    engine.dispose()


def _read_then_write(
    engine: Engine, write: bool, read: threading.Event, go: threading.Event
) -> None:
    with session_scope(engine, write=write) as session:
        n = session.execute(text("SELECT n FROM counter")).scalar_one()
        read.set()
        go.wait(5)
        session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})


def test_two_immediate_units_of_work_that_read_then_write_take_turns(
    sqlite_engine: Engine,
) -> None:
    errors: list[BaseException] = []

    def unit(read: threading.Event, go: threading.Event) -> None:
        try:
            _read_then_write(sqlite_engine, True, read, go)
        except BaseException as exc:  # pragma: no cover - what the test would report
            errors.append(exc)

    first_read, first_go = threading.Event(), threading.Event()
    first = threading.Thread(target=unit, args=(first_read, first_go))
    first.start()
    assert first_read.wait(5)
    # The first holds the write lock: the second waits at BEGIN (the busy timeout)...
    second_read, second_go = threading.Event(), threading.Event()
    second_go.set()
    second = threading.Thread(target=unit, args=(second_read, second_go))
    second.start()
    assert not second_read.wait(0.3)
    first_go.set()  # ...until the first commits; then it reads what the first wrote.
    first.join(10)
    second.join(10)
    assert errors == []
    with sqlite_engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counter")).scalar_one() == 2


def test_deferred_units_of_work_that_read_then_write_collide(sqlite_engine: Engine) -> None:
    """What IMMEDIATE prevents: the second writer's snapshot is stale once the first commits,
    and SQLite refuses its write at once, whatever the busy timeout."""
    reads = [threading.Event(), threading.Event()]
    go = threading.Event()
    errors: list[BaseException] = []

    def unit(read: threading.Event) -> None:
        try:
            _read_then_write(sqlite_engine, False, read, go)
        except OperationalError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=unit, args=(read,)) for read in reads]
    for thread in threads:
        thread.start()
    assert all(read.wait(5) for read in reads)
    go.set()
    for thread in threads:
        thread.join(40)
    assert len(errors) == 1 and "database is locked" in str(errors[0])


def test_a_unit_of_work_without_the_option_reads_while_a_writer_holds_the_lock(
    sqlite_engine: Engine,
) -> None:
    with session_scope(sqlite_engine, write=True) as writer:  # holds the write lock from BEGIN
        writer.execute(text("UPDATE counter SET n = 7"))
        with session_scope(sqlite_engine) as reader:  # begins deferred: no wait
            assert reader.execute(text("SELECT n FROM counter")).scalar_one() == 0


def test_a_batch_engine_checkpoints_at_its_own_wal_size_and_others_at_sqlites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import common
    from billing_core.db.engine import BATCH_AUTOCHECKPOINT_PAGES

    url = f"sqlite:///{tmp_path / 'checkpoint.sqlite3'}"
    for engine, pages in (
        (create_db_engine(url, sqlite_autocheckpoint=BATCH_AUTOCHECKPOINT_PAGES), 10_000),
        (create_db_engine(url), 1000),
    ):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == pages
        engine.dispose()
    monkeypatch.setenv("WATTDESK_DATABASE_URL", url)
    common.settings.cache_clear()
    common.engine.cache_clear()
    try:
        with common.engine().connect() as connection:  # the commands' engine is a batch one
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    finally:
        common.engine().dispose()
        common.engine.cache_clear()
        common.settings.cache_clear()


def _holds_write_lock(engine: Engine, session: Session) -> bool:
    """Whether `session`, having read, keeps every other writer out."""
    import sqlite3

    session.execute(text("SELECT n FROM counter")).scalar_one()
    database = engine.url.database
    assert database is not None
    other = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE counter SET n = n + 1")
        other.execute("COMMIT")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()


@pytest.mark.parametrize(("method", "holds_lock"), [("POST", True), ("GET", False)])
def test_a_request_that_may_write_holds_sqlites_write_lock_from_its_start(
    sqlite_engine: Engine, method: str, holds_lock: bool
) -> None:
    """So that reading and then writing cannot fail because another writer committed in
    between (a checkout page failed so, with the scheduler writing beside it)."""
    from starlette.requests import Request

    from api.deps import get_session

    request = Request({"type": "http", "method": method, "headers": [], "query_string": b""})
    units = get_session(request, sqlite_engine)
    assert _holds_write_lock(sqlite_engine, next(units)) is holds_lock
    with pytest.raises(StopIteration):
        next(units)


@pytest.mark.parametrize(("write", "holds_lock"), [(None, True), (False, False)])
def test_a_command_that_writes_holds_sqlites_write_lock_from_its_start(
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    write: bool | None,
    holds_lock: bool,
) -> None:
    """`wattdesk payments link` read the account, then failed to replace the active link
    with "database is locked" because the running server committed in between."""
    from api.cli import common

    monkeypatch.setattr(common, "engine", lambda: sqlite_engine)
    units = common.unit_of_work() if write is None else common.unit_of_work(write=write)
    with units as session:
        assert _holds_write_lock(sqlite_engine, session) is holds_lock


def test_a_commands_unit_run_by_run_unit_holds_the_lock_and_is_retried_when_locked(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run_unit` begins as `unit_of_work` does (a unit that writes holds the write lock
    from its start), and runs a unit the database turned away again (the one retry loop of
    billing_core.db.unit_of_work)."""
    import sqlite3

    from api.cli import common

    monkeypatch.setattr(common, "engine", lambda: sqlite_engine)
    tries: list[bool] = []

    def unit(session: Session) -> int:
        tries.append(_holds_write_lock(sqlite_engine, session))
        session.execute(text("UPDATE counter SET n = n + 1"))
        if len(tries) == 1:
            raise OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
        return int(session.execute(text("SELECT n FROM counter")).scalar_one())

    assert common.run_unit(unit) == 1  # the first try's update rolled back
    assert tries == [True, True]
