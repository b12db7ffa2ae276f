"""How a unit of work runs, for every entry point (webhooks, console, scheduled jobs, commands):
the one definition of a transient failure, the one retry loop, and the runner chosen by settings.

A unit of work is `work(session) -> T`: it runs inside one transaction, which has committed
before its result is handed back (a webhook acknowledges only what is stored). It must be safe
to run again after a rollback, as any transaction body is: a transient failure runs it again.

`UnitOfWorkRunner.for_settings` picks how an async caller's units run:

- SQLite file, `sqlite_writer=process` (the default): a writer child process
  (`writer_process.py`), so that the writes use a core the event loop does not;
- SQLite otherwise (`sqlite_writer=thread`, or an in-memory database): one writer thread of
  this process that runs the units waiting several to a transaction (`group_commit.py`);
- PostgreSQL: each unit in a worker thread, in its own transaction (many at once).

SQLite lets one writer in, so on SQLite the units queue for that one writer either way.
A sync caller (a scheduled job, a command, a sync route) runs its unit in its own thread
(`run_sync`), with the same retries."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar, TypeVarTuple

import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from billing_core.db.engine import IMMEDIATE, SQLITE_BEGIN, session_scope
from billing_core.db.group_commit import GroupCommit
from billing_core.db.writer_process import WriterProcess, is_sqlite_file
from billing_core.settings import Settings

log = logging.getLogger("wattdesk.db.unit_of_work")
T = TypeVar("T")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")

Work = Callable[[Session], T]
RunKind = Literal["process", "thread", "direct"]

# PostgreSQL's SQLSTATEs for a transaction the server rolled back so that another could go on:
# a serialization failure and a deadlock victim. Run again, it usually succeeds.
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
_RETRYABLE_SQLSTATES = frozenset({SERIALIZATION_FAILURE, DEADLOCK_DETECTED})
_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")  # sqlite3's error names (and their variants)
# Every unit of work writes (or may): on SQLite it takes the write lock at BEGIN, so a unit
# that reads first waits its turn there rather than failing when it first writes.
WRITE = {SQLITE_BEGIN: IMMEDIATE}


class ConcurrentDuplicate(Exception):
    """A unit marked `retry_duplicates` inserted a provider's id (a MessageSid, an event id)
    that a concurrent unit committed first: run again, it finds the duplicate and says so."""


def is_transient(exc: BaseException, *, disconnects: bool = False) -> bool:
    """Whether running the whole unit of work again may well succeed: SQLite found the file
    locked (another process held the write lock past the busy timeout), PostgreSQL rolled it
    back as a serialization failure or a deadlock victim, or the unit said it met a concurrent
    duplicate (`ConcurrentDuplicate`). `disconnects`: a dropped database connection too, for
    units that do no harm when run twice (their commit may have gone through)."""
    if isinstance(exc, ConcurrentDuplicate):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if disconnects and exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in _RETRYABLE_SQLSTATES:
        return True
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str) and name.startswith(_SQLITE_BUSY):
        return True
    return "database is locked" in str(orig).lower()


def retry_duplicates(work: Callable[P, T]) -> Callable[P, T]:
    """Mark a unit of work that inserts a provider's id once (its unique key is the check
    for a repeat): an IntegrityError from a concurrent insert of the same id is transient
    for it. Other units do not retry integrity errors: theirs are real. Apply it to a
    module-level function, so that the unit still pickles (the writer process)."""

    @functools.wraps(work)
    def unit(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return work(*args, **kwargs)
        except IntegrityError as exc:
            raise ConcurrentDuplicate(str(exc.orig)) from exc

    return unit


@dataclass(frozen=True)
class Retry:
    """The retry loop: a call that fails transiently (`is_transient`) runs again after a
    pause of `backoff` seconds times the attempts so far (plus up to `jitter` seconds, so
    that callers that failed together do not retry together), `attempts` times in all."""

    attempts: int = 4
    backoff: float = 0.02
    jitter: float = 0.0
    disconnects: bool = False  # a dropped connection is transient (see `is_transient`)

    def transient(self, exc: BaseException) -> bool:
        return is_transient(exc, disconnects=self.disconnects)

    def call(self, fn: Callable[[*Ts], T], /, *args: *Ts) -> T:
        """`fn(*args)`, run again while it fails transiently (positional arguments only: a
        hot path's call allocates nothing more than their tuple)."""
        attempt = 1
        while True:
            try:
                return fn(*args)
            except Exception as exc:
                if attempt >= self.attempts or not self.transient(exc):
                    raise
                log.info("%s failed (%s), attempt %d of %d; running it again",
                         getattr(fn, "__qualname__", "a call"), type(exc).__name__, attempt,
                         self.attempts)  # fmt: skip
                pause = self.backoff * attempt
                if self.jitter:
                    pause += random.random() * self.jitter
                time.sleep(pause)
                attempt += 1

    def transaction(
        self, engine: Engine, work: Work[T], connection_options: dict[str, Any] | None = None
    ) -> T:
        """`work(session)` in a transaction of its own (its connection given
        `connection_options`), committed; the whole transaction runs again while it fails
        transiently."""
        return self.call(a_transaction, engine, work, connection_options or {})


def a_transaction(engine: Engine, work: Work[T], connection_options: dict[str, Any]) -> T:
    """`work(session)` in one transaction of its own, committed (not retried)."""
    with session_scope(engine) as session:
        if connection_options:
            session.connection(execution_options=connection_options)
        return work(session)


# Webhooks, the console and commands: a short pause, as a unit on SQLite's writer holds up
# the units queued behind it while it waits.
UNIT_RETRY = Retry(attempts=4, backoff=0.02)


class UnitOfWorkRunner:
    """Runs units of work for one engine as the settings say (the module's docstring):
    `await run(work)` from an event loop, `run_sync(work)` from a thread. Either returns
    `work(session)`'s result once its transaction has committed, or raises what the unit
    raised (after the retries, if it was transient). `start()` starts a writer process now
    rather than on the first unit; `aclose()` (or `close()` outside an event loop) stops the
    writer once what it has queued is done (the next unit would start a new one)."""

    def __init__(
        self,
        engine: Engine,
        *,
        kind: RunKind,
        retry: Retry = UNIT_RETRY,
        connection_options: dict[str, Any] | None = None,
        writer_setup: Callable[[], None] | None = None,
        writer_carried: Sequence[str] = (),
        writer_shared: Sequence[Any] = (),
    ) -> None:
        if kind != "direct" and engine.dialect.name != "sqlite":
            raise ValueError(f"a {kind} writer is for SQLite, not {engine.dialect.name}")
        if kind == "process" and not is_sqlite_file(engine):
            raise ValueError("a writer process needs a SQLite database file")
        self.engine = engine
        self.kind: RunKind = kind
        self.retry = retry
        self.connection_options = WRITE if connection_options is None else connection_options
        self.writer_setup = writer_setup
        self.writer_carried = tuple(writer_carried)
        self.writer_shared = tuple(writer_shared)
        self._writer: GroupCommit | WriterProcess | None = None

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        engine: Engine,
        *,
        retry: Retry = UNIT_RETRY,
        writer_setup: Callable[[], None] | None = None,
        writer_carried: Sequence[str] = (),
        writer_shared: Sequence[Any] = (),
    ) -> UnitOfWorkRunner:
        """The runner the settings ask for: on a SQLite file with `sqlite_writer=process`, a
        writer process (`writer_setup` runs first in it, its logging; `writer_carried` names
        the context variables each unit takes along, "module:name"; `writer_shared` the
        long-lived objects units take along, sent once: `WriterProcess`); on other SQLite
        databases a writer thread; elsewhere a worker thread per unit."""
        kind: RunKind
        if engine.dialect.name != "sqlite":
            kind = "direct"
        elif settings.sqlite_writer == "process" and is_sqlite_file(engine):
            kind = "process"
        else:
            kind = "thread"
        return cls(
            engine, kind=kind, retry=retry, writer_setup=writer_setup,
            writer_carried=writer_carried, writer_shared=writer_shared,
        )  # fmt: skip

    @property
    def writer(self) -> GroupCommit | WriterProcess | None:
        """The SQLite writer, once a unit has made it (None on PostgreSQL)."""
        return self._writer

    def run(self, work: Work[T]) -> Awaitable[T]:
        """Await `work(session)`'s committed result (from the event loop). A plain method
        returning the writer's own awaitable: no coroutine of its own per unit."""
        if self.kind == "direct":
            return anyio.to_thread.run_sync(self.run_sync, work)
        writer = self._writer or self._new_writer()
        return writer.run(work)

    def run_sync(self, work: Work[T]) -> T:
        """`work(session)`'s committed result, run in the calling thread."""
        return self.retry.transaction(self.engine, work, self.connection_options)

    async def start(self) -> None:
        """A writer process starts now, so that the first unit does not wait for it."""
        if self.kind == "process":
            writer = self._writer or self._new_writer()
            assert isinstance(writer, WriterProcess)
            await writer.start()

    async def aclose(self) -> None:
        """Stop the writer, if one was made, once what it has queued is done."""
        writer = self._writer
        if isinstance(writer, WriterProcess):
            await writer.aclose()
        self.close()

    def close(self) -> None:
        """`aclose()` from outside the event loop (or after it ended)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            log.info("unit-of-work writer: units of work %d, transactions %d",
                     writer.units, writer.batches)  # fmt: skip
            writer.close()

    def _new_writer(self) -> GroupCommit | WriterProcess:
        writer: GroupCommit | WriterProcess
        if self.kind == "process":
            writer = WriterProcess(
                self.engine, connection_options=self.connection_options, retry=self.retry,
                setup=self.writer_setup, carried=self.writer_carried,
                shared=self.writer_shared,
            )  # fmt: skip
        else:
            writer = GroupCommit(
                self.engine, connection_options=self.connection_options, retry=self.retry
            )
        self._writer = writer
        return writer
