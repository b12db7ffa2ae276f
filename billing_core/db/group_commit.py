"""Group commit: short units of work from an event loop, run on one thread, several to a
transaction.

SQLite lets one writer in at a time, so a web process's webhook transactions run one after
another anyway. Run each on its own, and every one pays for a hand-off to a pool thread and
back, a session, BEGIN and COMMIT (the commit writes its pages to the WAL): that overhead
was as large as the work of answering an SMS itself. Here one writer thread takes every
unit of work waiting when it is free and runs them in turn in one transaction, then hands
each caller its own result.

What each caller gets is what it would get alone: the units of a batch run one after the
other and see each other's writes, as consecutive transactions would; none returns before
the transaction holding its writes has committed. If any of them raises, or the commit
fails, the whole batch is rolled back and every unit of it runs again alone, in its own
transaction (run again while it fails transiently: the `retry` given, the unit-of-work
module's), so one bad message costs only itself. A unit of work must therefore be safe to run
again after a rollback, as any transaction body is."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.db.engine import session_scope

log = logging.getLogger("wattdesk.db.group_commit")
T = TypeVar("T")

Work = Callable[[Session], T]
# The writer thread ends after this long without work.
IDLE_SECONDS = 10.0


class Retrying(Protocol):
    """How a unit that ran alone is run again while it fails transiently
    (`billing_core.db.unit_of_work.Retry`: the one retry loop)."""

    def transaction(
        self, engine: Engine, work: Work[T], connection_options: dict[str, Any] | None = None
    ) -> T: ...


class BatchUnit(Protocol):
    """A unit of work as `GroupCommit.run_batch` runs it and leaves its outcome."""

    result: Any
    error: BaseException | None
    settled: bool  # its result is committed, or its error final

    def run(self, session: Session) -> Any: ...


@dataclass(eq=False)
class _Unit(Generic[T]):
    work: Work[T]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]
    result: Any = None
    error: BaseException | None = None
    settled: bool = False  # its result is committed, or its error final

    def run(self, session: Session) -> T:
        """The work, in its caller's context variables."""
        return self.context.run(self.work, session)


class GroupCommit:
    """One writer thread for `engine`, started on first use; `await run(work)` runs
    `work(session)` there, in a transaction shared with the other units waiting (at most
    `max_batch`), and returns its result once that transaction has committed.

    `connection_options` are the execution options of each transaction's connection (on
    SQLite, `BEGIN IMMEDIATE`: the transaction holds the write lock from its start and
    waits for it, under the busy timeout, when another process writes). A unit that ran
    alone and failed transiently runs again as `retry` says (None: it is not retried)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 32,
        connection_options: dict[str, Any] | None = None,
        retry: Retrying | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.connection_options = connection_options or {}
        self.retry = retry
        self._queue: queue.SimpleQueue[_Unit[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # what the writer has done, for operators and tests: (transactions, units)
        self.batches = 0
        self.units = 0

    async def run(self, work: Work[T]) -> T:
        """`work(session)`'s result, after the transaction it ran in has committed (its
        exception, if it failed alone). It runs in this caller's context variables (its log
        lines carry the request's id)."""
        loop = asyncio.get_running_loop()
        unit: _Unit[T] = _Unit(work, contextvars.copy_context(), loop, loop.create_future())
        with self._lock:
            if self._closed:
                raise RuntimeError("this group commit is closed")
            self._queue.put(unit)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="wattdesk-group-commit", daemon=True
                )
                self._thread.start()
        return await unit.future

    def close(self, timeout: float = 30.0) -> None:
        """Stop the writer once the units already queued are done."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _serve(self) -> None:
        """The writer: batches until it is closed, or idle for `IDLE_SECONDS` (a process
        that stopped receiving keeps no thread; the next unit starts one again)."""
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            if first is None:
                return
            batch: list[_Unit[Any]] = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stop = True
                    break
                batch.append(unit)
            try:
                self.run_batch(batch)
            except BaseException as exc:  # the writer and its callers go on
                log.exception("the group-commit writer failed a batch of %d", len(batch))
                for unit in batch:
                    if not unit.settled:
                        unit.error = exc
            _settle(batch)
            if stop:
                return

    def run_batch(self, batch: Sequence[BatchUnit]) -> None:
        """Run the units in one transaction, or, if that fails, each alone (retried while
        `retry` says): each unit is left with its result or its error."""
        self.batches += 1
        self.units += len(batch)
        if len(batch) > 1:
            try:
                with session_scope(self.engine) as session:
                    session.connection(execution_options=self.connection_options)
                    for unit in batch:
                        unit.result = unit.run(session)
                for unit in batch:
                    unit.settled = True
                return
            except Exception as exc:  # every unit runs again alone
                log.info("a batch of %d units rolled back (%s); running each alone",
                         len(batch), type(exc).__name__)  # fmt: skip
        alone = self.retry.transaction if self.retry is not None else _once
        for unit in batch:
            try:
                unit.result = alone(self.engine, unit.run, self.connection_options)
                unit.error = None
            except Exception as exc:  # handed to the caller
                unit.result, unit.error = None, exc
            unit.settled = True


def _once(engine: Engine, work: Work[T], connection_options: dict[str, Any] | None = None) -> T:
    """`work(session)` in a transaction of its own, not retried."""
    with session_scope(engine) as session:
        session.connection(execution_options=connection_options or {})
        return work(session)


def _settle(batch: list[_Unit[Any]]) -> None:
    """Hand each caller its result, with one wake-up of each event loop for the batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Unit[Any]]] = {}
    for unit in batch:
        by_loop.setdefault(unit.loop, []).append(unit)
    for loop, units in by_loop.items():
        with suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_in_loop, units)


def _settle_in_loop(units: list[_Unit[Any]]) -> None:
    for unit in units:
        if unit.future.done():  # the caller was cancelled (its client went away)
            continue
        if unit.error is not None:
            unit.future.set_exception(unit.error)
        else:
            unit.future.set_result(unit.result)
