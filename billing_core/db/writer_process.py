"""Group commit in a process of its own: a web process's SQLite writes on another core.

SQLite lets one writer in, and `GroupCommit` already runs a web process's short units of work
one after another on one thread, several to a transaction. But that thread shares the
process's GIL with the event loop: the loop parses, checks and answers requests while the
writer runs the units, and under load each waits for the other, so a web process answering
SMS used one core of a machine's two. `WriterProcess` runs the same batches in a child
process (started with the interpreter, `python -m billing_core.db.writer_process`, so it
imports only what its units need): the event loop hands it each unit of work over a socket
and gets the unit's result back once the transaction holding its writes has committed.

What a caller gets is what `GroupCommit` gives (the batches are run by its `run_batch`): a
unit's result after its transaction committed, or the error it raised alone. Units of work
travel pickled, so they must be picklable (a module-level function, or a `functools.partial`
of one, with picklable arguments), and so must what they return. Context variables do not
travel by themselves: `carried` names those the child sets for each unit (the request id of
the log lines). Long-lived immutable objects that many units take along (the conversation
layer's context: its policies, about 5.5 KB and 110 µs to pickle, as long again to unpickle)
can be given as `shared`: they travel once, when the child starts, and each unit refers to
them by number. The child also checkpoints the database's write-ahead log when it is idle,
rather than in the middle of a commit (`IDLE_CHECKPOINT_UNITS`). If the child dies, every
unit it had not answered fails with `WriterGone` (whether its transaction committed is
unknown: the caller's retry must be idempotent, as Twilio's are against the message's
unique id), and the next unit starts a new child."""

from __future__ import annotations

import asyncio
import contextvars
import copyreg
import gc
import importlib
import io
import logging
import pickle
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.db.engine import create_db_engine
from billing_core.db.group_commit import GroupCommit, Retrying

log = logging.getLogger("wattdesk.db.writer_process")
T = TypeVar("T")

Work = Callable[[Session], T]
# The child takes what has queued (at most this many) for one transaction.
MAX_BATCH = 32
# SQLite copies its write-ahead log back into the database (a checkpoint) in the commit that
# takes the log past 1,000 pages: a stall in whichever webhook's commit crosses it, the
# slowest webhooks' wait. The child checkpoints whenever nothing is waiting and this many
# units have committed since its last one (a short checkpoint of a small log), so the log
# rarely gets that long; when the child is never idle, SQLite's own checkpoint still bounds
# it as before. Not much more often than that: a checkpoint copies each page once however
# often units rewrote it since the last (the conversation's, the indexes' last pages), so
# many short checkpoints cost far more in all than a few longer ones (docs/performance.md).
# 48 answers one to a transaction write about 700 pages, under SQLite's 1,000.
IDLE_CHECKPOINT_UNITS = 48
START_SECONDS = 60.0  # the child must say it is ready within this
_HEADER = struct.Struct("!i")  # multiprocessing.Connection's frame: a length, then the bytes
_STOP = b""  # a frame with nothing in it: finish what has come, then exit


def is_sqlite_file(engine: Engine) -> bool:
    """Whether `engine` is a SQLite database file (another process can open it)."""
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


class WriterGone(RuntimeError):
    """The writer process ended before answering this unit of work."""


@dataclass(frozen=True)
class WriterConfig:
    """What the child needs, sent as its first frame."""

    url: str
    connection_options: dict[str, Any] = field(default_factory=dict)
    retry: Retrying | None = None  # how a unit that failed alone runs again (it pickles)
    max_batch: int = MAX_BATCH
    setup: Callable[[], None] | None = None  # run first in the child (its logging)
    carried: tuple[str, ...] = ()  # "module:name" of context variables each unit carries
    idle_checkpoint_units: int = IDLE_CHECKPOINT_UNITS  # 0: SQLite's own checkpoints only
    shared: tuple[Any, ...] = ()  # objects units refer to by number (`_Shared`)


class WriterProcess:
    """A child process that runs `work(session)` units for `engine`'s database in batches;
    `await run(work)` from one event loop. Started on first use (or by `await start()`),
    stopped by `close()`."""

    def __init__(
        self,
        engine: Engine,
        *,
        connection_options: dict[str, Any] | None = None,
        retry: Retrying | None = None,
        max_batch: int = MAX_BATCH,
        setup: Callable[[], None] | None = None,
        carried: Sequence[str] = (),
        idle_checkpoint_units: int = IDLE_CHECKPOINT_UNITS,
        shared: Sequence[Any] = (),
    ) -> None:
        self.engine = engine
        self.config = WriterConfig(
            url=engine.url.render_as_string(hide_password=False),
            connection_options=connection_options or {},
            retry=retry, max_batch=max_batch, setup=setup,
            carried=tuple(carried), idle_checkpoint_units=idle_checkpoint_units,
            shared=tuple(shared),
        )  # fmt: skip
        self._carried = [_context_var(name) for name in self.config.carried]
        self._dumps = _Shared(self.config.shared).dumps
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._starting: asyncio.Lock | None = None
        # The event loop that talks to the child (the one that started it): units from
        # another loop are handed to it (a test's second client; uvicorn has one loop).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # what the writer has done, for operators and tests: (transactions, units)
        self.batches = 0
        self.units = 0
        self.starts = 0

    async def start(self) -> None:
        """Start the child now, unless it is running (it starts on first use otherwise)."""
        if self._closed:
            raise RuntimeError("this writer process is closed")
        if (home := self._elsewhere()) is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.start(), home))
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._writer is not None:
                return
            if self._process is not None:  # one that ended (or went mute): reaped
                await loop.run_in_executor(None, _reap, self._process, 5.0)
            process, mine = await loop.run_in_executor(None, _spawn, self.config)
            reader, writer = await asyncio.open_connection(sock=mine)
            try:
                ready = await asyncio.wait_for(_read_frame(reader), START_SECONDS)
            except (TimeoutError, asyncio.IncompleteReadError) as exc:
                ready = repr(exc).encode()
            if ready != b"ready":  # stopped, not left running beside the next one
                writer.close()
                process.kill()
                await loop.run_in_executor(None, process.wait)
                raise WriterGone(f"the writer process did not start: {ready!r}")
            self._process, self._socket, self._writer = process, mine, writer
            self._reader_task = loop.create_task(self._read(reader, writer))
            self.starts += 1
            log.info("writer process %d started for %s", process.pid, self.engine.url.database)

    async def run(self, work: Work[T]) -> T:
        """`work(session)`'s result, once the transaction it ran in has committed (its
        exception, if it failed alone)."""
        if (home := self._elsewhere()) is not None:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.run(work), home))
        if self._writer is None:
            await self.start()
        assert self._writer is not None
        unit_id = self._next_id
        self._next_id += 1
        values = tuple(var.get() for var in self._carried)
        frame = self._dumps((unit_id, work, values))
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[unit_id] = future
        self._writer.write(_HEADER.pack(len(frame)) + frame)
        return await future

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The child's answers, one frame a batch, until it ends; then whatever it did not
        answer fails, and the next unit starts a new child."""
        try:
            while True:
                answers = pickle.loads(await _read_frame(reader))
                self.batches += 1
                self.units += len(answers)
                for unit_id, ok, value in answers:
                    future = self._pending.pop(unit_id, None)
                    if future is None or future.done():  # its caller went away
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            gone = WriterGone("the writer process ended before answering")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(gone)
            if self._pending and not self._closed:
                log.error("the writer process ended with %d units unanswered",
                          len(self._pending))  # fmt: skip
            self._pending.clear()

    async def aclose(self, timeout: float = 30.0) -> None:
        """Let the child finish what it was sent, and wait for it to exit."""
        if (home := self._elsewhere()) is not None:
            coroutine = self.aclose(timeout)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, home))
            return
        self._closed = True
        process, writer, reader_task = self._process, self._writer, self._reader_task
        if writer is not None and not writer.is_closing():
            writer.write(_HEADER.pack(0))  # _STOP
            with suppress(ConnectionError):
                await writer.drain()
        if process is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, _reap, process, timeout)
        if reader_task is not None:
            await reader_task
        self._process = None

    def close(self, timeout: float = 30.0) -> None:
        """From outside the event loop (or after it ended): close this end of the socket,
        so that the child finishes the batch it holds and exits, and wait for it."""
        self._closed = True
        self._stop_child(timeout)

    def _elsewhere(self) -> asyncio.AbstractEventLoop | None:
        """The loop that talks to the child, when it is another one, still running."""
        home = self._loop
        if home is None or home is asyncio.get_running_loop():
            return None
        if home.is_closed() or not home.is_running():  # it ended: this loop takes over
            self._stop_child(timeout=30.0)
            return None
        return home

    def _stop_child(self, timeout: float) -> None:
        process, mine = self._process, self._socket
        self._process = self._socket = self._writer = self._reader_task = None
        self._loop = self._starting = None
        self._pending.clear()
        if mine is not None:
            with suppress(OSError):
                mine.shutdown(socket.SHUT_RDWR)
        if process is not None:
            _reap(process, timeout)


def _reap(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for the child to exit, killing it after `timeout` seconds."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("the writer process %d did not exit in %.0f s: killed", process.pid, timeout)
        process.kill()
        process.wait()


def _spawn(config: WriterConfig) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """The child, with one end of a socket pair as its fd, sent its config."""
    mine, theirs = socket.socketpair()
    with theirs:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            # Ctrl-C in a terminal reaches the whole process group: the parent decides when
            # the writer stops (it finishes what it was sent first).
            start_new_session=True,
        )
    payload = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)
    mine.sendall(_HEADER.pack(len(payload)) + payload)
    mine.setblocking(False)
    return process, mine


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return await reader.readexactly(size) if size else _STOP


class _Shared:
    """Pickles units of work with the shared objects (`WriterConfig.shared`) left out: each
    one pickles as its number (`_shared_object`), looked up in the child, which was given
    them when it started. Other objects of the same types pickle as usual."""

    def __init__(self, shared: Sequence[Any]) -> None:
        self.numbers = {id(obj): number for number, obj in enumerate(shared)}
        self.shared = tuple(shared)  # kept alive: their ids stay theirs
        self.table: dict[type, Callable[[Any], Any]] = dict(copyreg.dispatch_table)
        for obj in shared:
            self.table[type(obj)] = self._reduce

    def _reduce(self, obj: Any) -> Any:
        number = self.numbers.get(id(obj))
        if number is not None and self.shared[number] is obj:
            return _shared_object, (number,)
        return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    def dumps(self, obj: Any) -> bytes:
        if not self.shared:
            return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = self.table
        pickler.dump(obj)
        return buffer.getvalue()


_SHARED: tuple[Any, ...] = ()  # in the child: its config's shared objects


def _shared_object(number: int) -> Any:
    return _SHARED[number]


def _context_var(name: str) -> contextvars.ContextVar[Any]:
    module, _, attribute = name.partition(":")
    var = getattr(importlib.import_module(module), attribute)
    if not isinstance(var, contextvars.ContextVar):
        raise TypeError(f"{name} is not a context variable")
    return var


# --- the child -------------------------------------------------------------------------------


@dataclass(eq=False)
class _ChildUnit:
    id: int
    work: Work[Any]
    values: tuple[Any, ...]
    variables: list[contextvars.ContextVar[Any]]
    result: Any = None
    error: BaseException | None = None
    settled: bool = False

    def run(self, session: Session) -> Any:
        context = contextvars.Context()
        for var, value in zip(self.variables, self.values, strict=True):
            context.run(var.set, value)
        return context.run(self.work, session)


def _serve(connection: Connection) -> None:
    config: WriterConfig = pickle.loads(connection.recv_bytes())
    # The units name `_shared_object` in this module as imported (the child runs as
    # __main__, so that is a second copy of it, which unpickling the config imported).
    sys.modules[type(config).__module__]._SHARED = config.shared  # type: ignore[attr-defined]
    if config.setup is not None:
        config.setup()
    variables = [_context_var(name) for name in config.carried]
    engine = create_db_engine(config.url)
    committer = GroupCommit(
        engine, max_batch=config.max_batch, connection_options=config.connection_options,
        retry=config.retry,
    )  # fmt: skip
    # What start-up made (modules, the shared objects, what the setup loaded: the
    # recogniser) lives as long as the child: left out of the collector's passes, as the
    # web process leaves its own (api/app.py's lifespan).
    gc.collect()
    gc.freeze()
    connection.send_bytes(b"ready")
    stop = False
    since_checkpoint = 0
    try:
        while not stop:
            try:
                frames = [connection.recv_bytes()]
                while len(frames) < config.max_batch and connection.poll(0):
                    frames.append(connection.recv_bytes())
            except EOFError:  # the parent is gone
                return
            batch: list[_ChildUnit] = []
            for frame in frames:
                if frame == _STOP:
                    stop = True
                    continue
                unit_id, work, values = pickle.loads(frame)
                batch.append(_ChildUnit(unit_id, work, values, variables))
            if batch:
                committer.run_batch(batch)
                connection.send_bytes(_answers(batch))
                since_checkpoint += len(batch)
            if (
                config.idle_checkpoint_units
                and since_checkpoint >= config.idle_checkpoint_units
                and not connection.poll(0)
            ):
                checkpoint(engine)
                since_checkpoint = 0
    finally:  # its counts are the web process's to log (UnitOfWorkRunner.close)
        engine.dispose()


def checkpoint(engine: Engine) -> None:
    """A PASSIVE checkpoint (it waits for no one) outside any transaction: the driver's
    connection itself, which the engine leaves in autocommit."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # type: ignore[union-attr]
    except Exception:  # the disk, a locked file: the next commits are no worse for it
        log.warning("the writer process's checkpoint failed", exc_info=True)
    finally:
        raw.close()


def _answers(batch: list[_ChildUnit]) -> bytes:
    answers = []
    for unit in batch:
        if unit.error is None:
            answers.append((unit.id, True, unit.result))
        else:
            answers.append((unit.id, False, _picklable(unit.error)))
    try:
        return pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a result that does not pickle: an error for its caller
        log.exception("a batch's results do not pickle")
        failed = RuntimeError(f"the writer process could not send a result back: {exc!r}")
        return pickle.dumps([(unit.id, False, failed) for unit in batch])


def _picklable(error: BaseException) -> BaseException:
    """The error itself when it survives pickling, else a RuntimeError that says what it was."""
    try:
        pickle.loads(pickle.dumps(error, protocol=pickle.HIGHEST_PROTOCOL))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(int(sys.argv[1]))
    try:
        _serve(connection)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
