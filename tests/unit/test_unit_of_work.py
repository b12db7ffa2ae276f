"""The one definition of a transient failure and the one retry loop
(billing_core.db.unit_of_work), without a running database."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError

from billing_core.db.unit_of_work import (
    ConcurrentDuplicate,
    Retry,
    is_transient,
    retry_duplicates,
)


class PgError(Exception):
    """A driver error as psycopg raises it: its SQLSTATE in `sqlstate`."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def wrapped(orig: Exception, kind: type[DBAPIError] = OperationalError) -> DBAPIError:
    return kind("UPDATE x", {}, orig)


def busy_error(tmp_path: Path) -> sqlite3.OperationalError:
    """A real SQLITE_BUSY: a second writer that does not wait for the first."""
    path = tmp_path / "busy.sqlite3"
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        first.execute("CREATE TABLE t (x)")
        first.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as caught:
            second.execute("BEGIN IMMEDIATE")
        return caught.value
    finally:
        first.close()
        second.close()


def test_a_locked_sqlite_database_is_transient(tmp_path: Path) -> None:
    real = busy_error(tmp_path)
    assert is_transient(wrapped(real))
    # as the tests build it: only the message says so
    assert is_transient(wrapped(sqlite3.OperationalError("database is locked")))


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_postgres_serialization_failure_or_deadlock_victim_is_transient(sqlstate: str) -> None:
    assert is_transient(wrapped(PgError("could not serialize access", sqlstate)))


@pytest.mark.parametrize(
    "error",
    [
        wrapped(PgError("duplicate key value", "23505"), IntegrityError),
        wrapped(sqlite3.IntegrityError("UNIQUE constraint failed: x.y"), IntegrityError),
        wrapped(PgError("syntax error", "42601"), ProgrammingError),
        wrapped(sqlite3.OperationalError("no such table: x")),
        ValueError("a bug"),
        RuntimeError("database is locked"),  # the words alone, not from the database
    ],
    ids=["pg-unique", "sqlite-unique", "syntax", "no-table", "value", "runtime"],
)
def test_other_errors_are_not_transient(error: BaseException) -> None:
    assert not is_transient(error)
    assert not is_transient(error, disconnects=True)


def test_a_concurrent_duplicate_is_transient_only_where_the_unit_said_so() -> None:
    assert is_transient(ConcurrentDuplicate("MessageSid SM1"))


def test_a_dropped_connection_is_transient_only_when_asked() -> None:
    dropped = DBAPIError("SELECT 1", {}, PgError("server closed the connection", "08006"),
                         connection_invalidated=True)  # fmt: skip
    assert not is_transient(dropped)
    assert is_transient(dropped, disconnects=True)
    assert Retry(disconnects=True).transient(dropped)


@retry_duplicates
def insert_once(session: Any, *, fail_with: Exception | None = None) -> str:
    """A unit that inserts a provider id."""
    if fail_with is not None:
        raise fail_with
    return "stored"


def test_a_unit_marked_retry_duplicates_turns_its_integrity_error_transient() -> None:
    duplicate = wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), IntegrityError)
    with pytest.raises(ConcurrentDuplicate) as caught:
        insert_once(None, fail_with=duplicate)
    assert caught.value.__cause__ is duplicate
    assert is_transient(caught.value)
    with pytest.raises(ValueError):  # anything else goes through as it is
        insert_once(None, fail_with=ValueError("bad"))
    assert insert_once(None) == "stored"
    # still the module's function to pickle (the writer process), with its name and doc
    assert pickle.loads(pickle.dumps(insert_once)) is insert_once
    assert (
        insert_once.__name__ == "insert_once"
        and insert_once.__doc__ == "A unit that inserts a provider id."
    )
    assert pickle.loads(pickle.dumps(ConcurrentDuplicate("x"))).args == ("x",)


class Flaky:
    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, value: str) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return value


def test_the_loop_runs_a_transient_failure_again_until_it_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("billing_core.db.unit_of_work.time.sleep", pauses.append)
    locked = wrapped(sqlite3.OperationalError("database is locked"))
    flaky = Flaky([locked, locked, locked])
    assert Retry(attempts=4, backoff=0.5).call(flaky, "done") == "done"
    assert flaky.calls == 4
    assert pauses == [0.5, 1.0, 1.5]  # backoff times the attempts so far


def test_the_loop_gives_up_after_its_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("billing_core.db.unit_of_work.time.sleep", lambda _s: None)
    locked = wrapped(sqlite3.OperationalError("database is locked"))
    flaky = Flaky([locked] * 5)
    with pytest.raises(OperationalError):
        Retry(attempts=3).call(flaky, "never")
    assert flaky.calls == 3


def test_the_loop_does_not_retry_what_is_not_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("billing_core.db.unit_of_work.time.sleep", pauses.append)
    flaky = Flaky([ValueError("a bug")])
    with pytest.raises(ValueError):
        Retry(attempts=5).call(flaky, "never")
    assert (flaky.calls, pauses) == (1, [])


def test_jitter_adds_at_most_its_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []
    monkeypatch.setattr("billing_core.db.unit_of_work.time.sleep", pauses.append)
    locked = wrapped(sqlite3.OperationalError("database is locked"))
    Retry(attempts=3, backoff=0.1, jitter=0.1).call(Flaky([locked, locked]), "x")
    assert 0.1 <= pauses[0] <= 0.2 and 0.2 <= pauses[1] <= 0.3


def test_a_retry_policy_pickles() -> None:
    """The writer process is sent its retry policy."""
    policy = Retry(attempts=2, backoff=0.01, disconnects=True)
    assert pickle.loads(pickle.dumps(policy)) == policy
