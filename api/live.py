"""Live events to the staff console: one `LiveHub` per web process reads new `live_event`
rows and fans them out to the Server-Sent Events streams of `GET /api/v1/conversations/events`.

Events are rows (billing_core/live), so any process sees any other's: the hub wakes on
PostgreSQL's `NOTIFY wattdesk_live` (sent at the commit of every transaction that published;
one dedicated connection per process, reconnected when lost), and otherwise every
`poll_interval` (the only wake-up on SQLite, where several processes may share one file).
Each wake-up is one short read in a worker thread; no transaction is held while waiting.

A stream first sends every stored event after the client's last one (`Last-Event-ID`, else
`?after=N`, else none: live only), then what the hub reads. The hub delivers ids in order
and never past a missing one that may still commit (PostgreSQL: billing_core/live/service.py),
so a client's last id is a safe place to resume. A client that does not keep up (its backlog
passes `backlog`) is disconnected; its browser reconnects with its last id and catches up
from the database, while the others never wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Annotated, Any, NamedTuple

import anyio.to_thread
import psycopg
from fastapi import Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from api.auth import staff_router
from billing_core.app_services import services
from billing_core.live.service import LiveRow, events_after, ids_after, in_flight, latest_id

SHUTDOWN_WAIT = 2.0  # seconds the hub's tasks get to stop
log = logging.getLogger("wattdesk.live")

KEEPALIVE_SECONDS = 15.0
RETRY_MS = 1000  # the browser's wait before it reconnects
PAGE = 500  # events read at once
SQLITE_POLL = 0.1  # seconds: SQLite has no notifications
POSTGRES_POLL = 1.0  # seconds: only in case a notification was missed (a reconnect)
COALESCE = 0.01  # seconds between two reads: commits arriving together are read together
GAP_TIMEOUT = 30.0  # seconds a missing id is waited for at most (see `_deliverable`)
BACKLOG = 2000  # events a stream may have waiting before it is disconnected

Encoded = tuple[int, bytes]  # an event's id and its SSE text


def encode(row: LiveRow) -> Encoded:
    """The event as the stream sends it (encoded once for every client)."""
    data = {
        "id": row.id, "kind": row.kind, "conversation_id": row.conversation_id,
        "at": row.at.isoformat(), **row.payload,
    }  # fmt: skip
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return row.id, f"id: {row.id}\nevent: {row.kind}\ndata: {text}\n\n".encode()


@dataclass(eq=False)
class Subscription:
    """One stream's share of the hub: the events read since it subscribed (all with ids
    after `start`), until it takes them."""

    start: int
    backlog: int
    events: list[Encoded] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    ended: str | None = None  # why the stream must end (fell behind, server stopping)

    def offer(self, batch: list[Encoded]) -> None:
        if self.ended is not None:
            return
        if len(self.events) + len(batch) > self.backlog:
            self.end("fell behind")
            return
        self.events.extend(batch)
        self.ready.set()

    def end(self, why: str) -> None:
        self.ended, self.events = why, []
        self.ready.set()

    def take(self) -> list[Encoded]:
        taken, self.events = self.events, []
        self.ready.clear()
        return taken


class _Id(NamedTuple):
    """An event's id alone (`LiveHub._read` with no stream open)."""

    id: int


_Row = LiveRow | _Id


@dataclass
class _Gap:
    first: int  # the missing id
    seen_at: float
    waiting: frozenset[str] | None = None  # transactions that may still commit it


class LiveHub:
    """This process's reader of live events (see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        poll_interval: float | None = None,
        backlog: int = BACKLOG,
        gap_timeout: float = GAP_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.poll_interval = poll_interval or (POSTGRES_POLL if self.postgres else SQLITE_POLL)
        self.backlog = backlog
        self.gap_timeout = gap_timeout
        self.horizon = 0  # every event up to here has been handed to the subscribers
        self.subscriptions: set[Subscription] = set()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._gap: _Gap | None = None
        self._restore_signals: Callable[[], None] | None = None
        self.listening = False  # a LISTEN connection is up (PostgreSQL)

    # --- life -------------------------------------------------------------------------

    async def start(self) -> None:
        self._wake = asyncio.Event()
        try:
            self.horizon = await anyio.to_thread.run_sync(self._latest)
        except DBAPIError as exc:  # not migrated yet (/readyz says so): no event before 0
            log.warning("live events: the newest event id is unreadable (%s); from 0",
                        str(exc.orig or exc).splitlines()[0])  # fmt: skip
            self.horizon = 0
        self._tasks.append(asyncio.create_task(self._run(), name="live-hub"))
        if self.postgres:
            self._tasks.append(asyncio.create_task(self._listen(), name="live-listen"))
        self._restore_signals = _end_streams_on_exit_signals(self)

    async def aclose(self) -> None:
        if self._restore_signals is not None:
            self._restore_signals()
        self.end_streams("the server is stopping")
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: a LISTEN connection's notification stream was seen not to end on
            # cancel (a test module's app on PostgreSQL never stopped); stopping must not wait
            # on it for ever.
            _, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_WAIT)
            if pending:
                names = ", ".join(task.get_name() for task in pending)
                log.warning("live events: %s did not stop within %.0f s; left behind", names,
                            SHUTDOWN_WAIT)  # fmt: skip
        self._tasks.clear()

    def end_streams(self, why: str) -> None:
        for subscription in list(self.subscriptions):
            subscription.end(why)

    def poke(self) -> None:
        """Read now (something was just published)."""
        if self._wake is not None:
            self._wake.set()

    def subscribe(self) -> Subscription:
        subscription = Subscription(start=self.horizon, backlog=self.backlog)
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    # --- reading ----------------------------------------------------------------------

    def _latest(self) -> int:
        with Session(self.engine) as session:
            return latest_id(session)

    def _read(
        self, after: int, gap_pending: bool, whole: bool
    ) -> tuple[frozenset[str] | None, Sequence[_Row]]:
        """The rows after `after`, or only their ids when there is nobody to give them to
        (`whole` false: the horizon moves on, no payload is decoded or encoded)."""
        with Session(self.engine) as session:
            # who may still commit, asked before the rows are read (see `_deliverable`)
            flight = in_flight(session) if gap_pending else None
            if not whole:
                ids = ids_after(session, after_id=after, limit=PAGE)
                return flight, [_Id(event_id) for event_id in ids]
            return flight, events_after(session, after_id=after, limit=PAGE)

    async def _run(self) -> None:
        assert self._wake is not None
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            self._wake.clear()
            try:
                full = await self.read_once()
                failing = False
            except Exception:  # the database went away: try again at the next wake-up
                if not failing:  # once, not at every poll while it lasts
                    log.exception("reading live events failed; retrying until it works")
                failing, full = True, False
            if not full:
                await asyncio.sleep(COALESCE)

    async def read_once(self) -> bool:
        """Read what is new and hand it out; whether a whole page came (read again). With no
        stream open only the ids are read (a web process nobody watches spends nothing on
        the events); a stream that subscribed meanwhile gets them at the next read."""
        whole = bool(self.subscriptions)
        flight, rows = await anyio.to_thread.run_sync(
            self._read, self.horizon, self._gap is not None, whole
        )
        if not whole and self.subscriptions:  # its events after self.horizon: read them
            return True
        deliver = self._deliverable(rows, flight)
        if deliver:
            self.horizon = deliver[-1].id
            if whole:
                batch = [encode(row) for row in deliver if isinstance(row, LiveRow)]
                for subscription in list(self.subscriptions):
                    subscription.offer(batch)
        return len(rows) == PAGE and bool(deliver)

    def _deliverable(self, rows: Sequence[_Row], flight: frozenset[str] | None) -> list[_Row]:
        """The rows that follow the horizon without a gap. A missing id is skipped when it
        cannot appear any more: at once on SQLite (one writer: ids appear in order; a gap is
        a deleted row); on PostgreSQL once no transaction that was running after the gap was
        seen is still running (publish gives its transaction an id before it takes the
        event's, so the one holding the missing id was among them), or after `gap_timeout`."""
        deliver: list[_Row] = []
        expected = self.horizon + 1
        for row in rows:
            if row.id != expected and not self._skip_gap(expected, flight):
                break
            deliver.append(row)
            expected = row.id + 1
        if self._gap is not None and self._gap.first < expected:
            self._gap = None  # the missing id came
        return deliver

    def _skip_gap(self, missing: int, flight: frozenset[str] | None) -> bool:
        if not self.postgres:
            return True
        gap, now = self._gap, time.monotonic()
        if gap is None or gap.first != missing:
            self._gap = _Gap(missing, now)  # wait: the next read asks who is running
            return False
        if flight is not None:
            gap.waiting = flight if gap.waiting is None else gap.waiting & flight
        if (gap.waiting is not None and not gap.waiting) or now - gap.seen_at > self.gap_timeout:
            if gap.waiting:
                log.warning("live event %d still missing after %.0f s: skipped", missing,
                            now - gap.seen_at)  # fmt: skip
            self._gap = None
            return True
        return False

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; every notification wakes the reader. A lost
        connection is made again (and the reader reads at once: it may have missed some)."""
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute("LISTEN wattdesk_live")
                    self.listening = True
                    self.poke()
                    async for _ in conn.notifies():
                        self.poke()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live events: LISTEN connection lost (%s); reconnecting", exc)
            finally:
                self.listening = False
            await asyncio.sleep(1.0)


def _end_streams_on_exit_signals(hub: LiveHub) -> Callable[[], None] | None:
    """uvicorn waits for every response to end before it stops, and a stream never ends by
    itself: on SIGINT or SIGTERM the streams end first (browsers reconnect to another
    process), then the server's own handler runs."""
    if threading.current_thread() is not threading.main_thread():
        return None  # signals reach the main thread only (a server run in a thread)
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handler(number: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(hub.end_streams, "the server is stopping")
        earlier = previous.get(number)
        if callable(earlier):
            earlier(number, frame)

    for number in (signal.SIGINT, signal.SIGTERM):
        previous[number] = signal.getsignal(number)
        signal.signal(number, handler)

    def restore() -> None:
        for number, earlier in previous.items():
            if signal.getsignal(number) is handler:
                signal.signal(number, earlier)

    return restore


# --- the route ---------------------------------------------------------------------------

router = staff_router(prefix="/api/v1/conversations", tags=["conversations"])


def hub_of(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live
    return hub


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
async def conversation_events(
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Live events of every conversation (any staff role): those after the `Last-Event-ID`
    header, else after `?after=N`, else from now on; see docs/live.md for the kinds."""
    resume = after
    if last_event_id is not None and last_event_id.strip().isascii():
        with contextlib.suppress(ValueError):
            resume = max(0, int(last_event_id.strip()))
    hub = hub_of(request)
    subscription = hub.subscribe()
    engine = services(request).engine
    return StreamingResponse(
        _stream(hub, subscription, engine, resume),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _catch_up(engine: Engine, after: int, up_to: int) -> list[LiveRow]:
    with Session(engine) as session:
        return events_after(session, after_id=after, up_to=up_to, limit=PAGE)


async def _stream(
    hub: LiveHub, subscription: Subscription, engine: Engine, resume: int | None
) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        last = subscription.start if resume is None else resume
        while last < subscription.start:  # stored events, a page at a time
            rows = await anyio.to_thread.run_sync(_catch_up, engine, last, subscription.start)
            if not rows:
                break
            last = rows[-1].id
            yield b"".join(encode(row)[1] for row in rows)
        while True:
            try:
                await asyncio.wait_for(subscription.ready.wait(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if subscription.ended is not None:
                return  # the browser reconnects with its last id
            fresh = [(event_id, text) for event_id, text in subscription.take() if event_id > last]
            if fresh:
                last = fresh[-1][0]
                yield b"".join(text for _, text in fresh)
    finally:
        hub.unsubscribe(subscription)
