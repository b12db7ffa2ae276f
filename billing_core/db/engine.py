"""Engines and the unit of work. Services never commit: the caller's `session_scope` does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

# For batch jobs on SQLite (bill runs, imports): the write-ahead log is copied back into the
# database once it holds this many pages (40 MB of 4 KiB pages) rather than SQLite's 1,000.
# A job that commits chunk after chunk rewrites the same index and table-tail pages in each;
# every checkpoint copies (and syncs) each page once however often it was rewritten since
# the last, so fewer, larger checkpoints copy far less, and a bill run spends much less of
# its time in commits. The web app's engine keeps SQLite's default (short checkpoints; the
# webhook writer also checkpoints while idle); `wattdesk demo` serves with the commands'
# engine.
BATCH_AUTOCHECKPOINT_PAGES = 10_000


def create_db_engine(
    url: str, *, sqlite_autocheckpoint: int | None = None, **kwargs: Any
) -> Engine:
    """An engine for SQLite (the embedded default) or PostgreSQL. `sqlite_autocheckpoint`:
    the WAL size in pages at which a SQLite commit checkpoints (None: SQLite's 1,000)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if sqlite_autocheckpoint is not None:
            pages = int(sqlite_autocheckpoint)

            def autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={pages}")

            event.listen(engine, "connect", autocheckpoint)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that
    # SAVEPOINTs and rollbacks behave as on PostgreSQL (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Execution option: how a SQLite transaction begins. "IMMEDIATE" takes the write lock at
# BEGIN, so a unit of work that reads before it writes waits its turn there (under the busy
# timeout) instead of failing with "database is locked" when it first writes after another
# writer committed. Give it to the session's first connection:
# `session.connection(execution_options={SQLITE_BEGIN: IMMEDIATE})`; other databases ignore it.
SQLITE_BEGIN = "sqlite_begin"
IMMEDIATE = "IMMEDIATE"


def _sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get(SQLITE_BEGIN) == IMMEDIATE:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit if the block finishes, roll back if it raises. `write`: the
    unit writes after it reads, so on SQLite it begins IMMEDIATE (see SQLITE_BEGIN)."""
    with Session(engine, expire_on_commit=False) as session:
        if write:
            session.connection(execution_options={SQLITE_BEGIN: IMMEDIATE})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
