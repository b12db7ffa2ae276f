"""The unit-of-work runner on each of its paths: a SQLite writer process, a SQLite writer
thread (group commit) and PostgreSQL in a worker thread. A unit that fails transiently runs
again and commits once; any other error is not retried; what `run` returns is committed."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from billing_core.db import create_db_engine
from billing_core.db.group_commit import GroupCommit
from billing_core.db.unit_of_work import (
    Retry,
    RunKind,
    UnitOfWorkRunner,
    retry_duplicates,
)
from billing_core.db.writer_process import WriterProcess
from billing_core.settings import load_settings
from tests.conftest import fresh_database_url

FAST = Retry(attempts=4, backoff=0.001)


@pytest.fixture(params=["process", "thread", "direct"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkRunner]:
    kind: RunKind = request.param
    urls = fresh_database_url("postgres" if kind == "direct" else "sqlite", tmp_path)
    engine = create_db_engine(next(urls))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE note (name VARCHAR(40) PRIMARY KEY)"))
    units = UnitOfWorkRunner(engine, kind=kind, retry=FAST)
    try:
        yield units
    finally:
        units.close()
        engine.dispose()
        urls.close()  # a PostgreSQL database is dropped


def names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT name FROM note ORDER BY name")).scalars())


def bump(counter: Path) -> int:
    """How many times this unit has run, across processes (the writer child's too)."""
    count = int(counter.read_text() or "0") + 1 if counter.exists() else 1
    counter.write_text(str(count))
    return count


# Units of work travel pickled to the writer process: module-level functions, arguments bound.
def insert_after_failures(session: Session, *, name: str, counter: str, failures: int) -> str:
    """Writes, then fails transiently `failures` times (the writes roll back each time)."""
    session.execute(text("INSERT INTO note (name) VALUES (:n)"), {"n": name})
    session.flush()
    if bump(Path(counter)) <= failures:
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))
    return name


def insert_then_fail(session: Session, *, name: str, counter: str) -> str:
    session.execute(text("INSERT INTO note (name) VALUES (:n)"), {"n": name})
    bump(Path(counter))
    raise ValueError("this unit is wrong")


def insert(session: Session, *, name: str) -> str:
    session.execute(text("INSERT INTO note (name) VALUES (:n)"), {"n": name})
    return name


def store_unmarked(session: Session, *, name: str, counter: str) -> str:
    """Stores `name` once: a repeat is "duplicate". Its first try misses a row another
    unit committed, as a race between its check and its insert would."""
    if bump(Path(counter)) > 1:
        seen = session.execute(text("SELECT name FROM note WHERE name = :n"), {"n": name})
        if seen.first() is not None:
            return "duplicate"
    session.execute(text("INSERT INTO note (name) VALUES (:n)"), {"n": name})
    return "stored"


store_once = retry_duplicates(store_unmarked)
store_once.__name__ = store_once.__qualname__ = "store_once"  # pickled by this name


def test_a_transient_failure_runs_again_and_commits_once(
    runner: UnitOfWorkRunner, tmp_path: Path
) -> None:
    counter = str(tmp_path / "tries")
    unit = functools.partial(insert_after_failures, name="a", counter=counter, failures=2)
    assert asyncio.run(runner.run(unit)) == "a"
    assert Path(counter).read_text() == "3"
    assert names(runner.engine) == ["a"]
    # and from a thread, as a scheduled job or a command would
    counter = str(tmp_path / "tries-sync")
    unit = functools.partial(insert_after_failures, name="b", counter=counter, failures=3)
    assert runner.run_sync(unit) == "b"
    assert Path(counter).read_text() == "4"
    assert names(runner.engine) == ["a", "b"]


def test_a_unit_that_keeps_failing_transiently_fails_after_the_attempts(
    runner: UnitOfWorkRunner, tmp_path: Path
) -> None:
    counter = str(tmp_path / "tries")
    unit = functools.partial(insert_after_failures, name="a", counter=counter, failures=99)
    with pytest.raises(OperationalError):
        asyncio.run(runner.run(unit))
    assert Path(counter).read_text() == str(FAST.attempts)
    assert names(runner.engine) == []


def test_an_error_that_is_not_transient_is_not_retried(
    runner: UnitOfWorkRunner, tmp_path: Path
) -> None:
    counter = str(tmp_path / "tries")
    with pytest.raises(ValueError, match="this unit is wrong"):
        asyncio.run(runner.run(functools.partial(insert_then_fail, name="a", counter=counter)))
    assert Path(counter).read_text() == "1"
    assert names(runner.engine) == []  # its write rolled back
    # an integrity error is real for a unit that did not ask otherwise
    asyncio.run(runner.run(functools.partial(insert, name="b")))
    with pytest.raises(IntegrityError):
        asyncio.run(runner.run(functools.partial(insert, name="b")))
    assert names(runner.engine) == ["b"]


def test_what_run_returns_is_committed(runner: UnitOfWorkRunner) -> None:
    """A caller acknowledges what is stored: when `run` returns, another connection sees
    the unit's writes."""

    async def each() -> list[list[str]]:
        seen = []
        for name in ("a", "b", "c"):
            await runner.run(functools.partial(insert, name=name))
            seen.append(names(runner.engine))
        return seen

    assert asyncio.run(each()) == [["a"], ["a", "b"], ["a", "b", "c"]]


def test_concurrent_units_each_get_their_own_result(runner: UnitOfWorkRunner) -> None:
    async def all_at_once() -> list[str]:
        return list(
            await asyncio.gather(
                *(runner.run(functools.partial(insert, name=f"n{i:02}")) for i in range(12))
            )
        )

    assert asyncio.run(all_at_once()) == [f"n{i:02}" for i in range(12)]
    assert names(runner.engine) == [f"n{i:02}" for i in range(12)]


def test_a_unit_marked_retry_duplicates_runs_again_and_sees_the_duplicate(
    runner: UnitOfWorkRunner, tmp_path: Path
) -> None:
    """Its IntegrityError (a concurrent insert of the same id committed first) is transient
    for it; an unmarked unit's is not."""
    asyncio.run(runner.run(functools.partial(insert, name="SM1")))
    counter = str(tmp_path / "tries")
    unit = functools.partial(store_once, name="SM1", counter=counter)
    assert asyncio.run(runner.run(unit)) == "duplicate"
    assert Path(counter).read_text() == "2"
    counter = str(tmp_path / "tries-unmarked")
    with pytest.raises(IntegrityError):
        asyncio.run(runner.run(functools.partial(store_unmarked, name="SM1", counter=counter)))
    assert Path(counter).read_text() == "1"
    assert names(runner.engine) == ["SM1"]


@pytest.mark.parametrize(
    ("writer", "database", "expected"),
    [
        ("process", "file", "process"),
        ("thread", "file", "thread"),
        ("process", "memory", "thread"),
    ],
)
def test_the_settings_choose_how_units_run_on_sqlite(
    tmp_path: Path, writer: str, database: str, expected: RunKind
) -> None:
    settings = load_settings(data_dir=tmp_path, _env_file=None, sqlite_writer=writer)
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}" if database == "file" else "sqlite://"
    engine = create_db_engine(url)
    runner = UnitOfWorkRunner.for_settings(settings, engine)
    try:
        assert runner.kind == expected
        assert asyncio.run(runner.run(select_one)) == 1
        kind = WriterProcess if expected == "process" else GroupCommit
        assert isinstance(runner.writer, kind)
    finally:
        runner.close()
        engine.dispose()
    assert runner.writer is None


def select_one(session: Session) -> int:
    return int(session.execute(text("SELECT 1")).scalar_one())
