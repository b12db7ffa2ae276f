"""The outbox dispatcher: claim due messages, send each through its channel's transport at no
more than the sender's rate, and record each result in its own committed transaction.

Transports are handed in (api/ chooses them from the settings): this package imports no
adapter. Several sender threads (each with its own claims and sessions) overlap the
provider's network round trips; several dispatcher processes may run against PostgreSQL
(claims skip each other's rows), each with its own rate limit (divide the provider's limit
between them).

A claimed row's lease is short (billing_core.outbox.claims.LEASE): if the dispatcher dies,
another sends its rows within that time. While this one works on its rows, a heartbeat thread
renews their leases every third of it, so a slow provider never lets another dispatcher take
a row this one is still sending; a row whose lease was lost all the same (the heartbeat could
not reach the database in time) is left to whoever claimed it since."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.unit_of_work import Retry
from billing_core.outbox.claims import LEASE, claim_batch, renew_leases
from billing_core.outbox.dispatch import record_result
from billing_core.outbox.retry import DEFAULT_RETRY, RetryPolicy
from billing_core.outbox.transport import Claimed, Outcome, SendResult, Transport

log = logging.getLogger("wattdesk.dispatcher")

# A result the database would not take (locked, a deadlock victim, a dropped connection:
# recording a result twice changes nothing) is tried again before it is given up.
RECORD_RETRY = Retry(attempts=5, backoff=0.05, disconnects=True)


class RateLimiter:
    """At most `rate` sends a second per sender, evenly spaced: each send takes the next slot,
    1/rate after the previous one (GCRA, the token bucket as a schedule). A sender that fell
    behind (a slow claim, a busy CPU) may catch up by at most `burst` seconds' worth of slots,
    so the long-run rate is the rate and no burst is ever longer than that. Thread-safe;
    `None` means no limit."""

    def __init__(
        self,
        rate: float | None,
        *,
        burst: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("the rate must be positive")
        self.interval = 1.0 / rate if rate else 0.0
        self.tolerance = max(burst, 0.0)
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}  # each sender's theoretical time of its next send
        self._lock = threading.Lock()

    def wait(self, sender: str) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._monotonic()
            # A new sender starts with its tolerance used up: no burst at the start.
            due = max(self._next.get(sender, now + self.tolerance), now)
            slot = max(now, due - self.tolerance)
            self._next[sender] = due + self.interval
        if slot > now:
            self._sleep(slot - now)


class Leases:
    """The claims a dispatcher holds and is working on, renewed by a heartbeat thread that
    runs while there are any (started by the first claim, ended when none is left)."""

    def __init__(
        self, *, engine: Engine, clock: Clock, lease: timedelta, interval: float | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.lease = lease
        # real seconds between renewals: three chances to renew before a lease runs out
        self.interval = interval if interval is not None else lease.total_seconds() / 3
        self._held: dict[int, int] = {}  # row id -> the attempt its claim counted
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, claimed: Sequence[Claimed]) -> None:
        with self._lock:
            self._held.update((message.id, message.attempts) for message in claimed)
            if self._thread is None and self._held:
                self._thread = threading.Thread(
                    target=self._beat, name="outbox-lease-heartbeat", daemon=True
                )
                self._thread.start()

    def done(self, message_id: int) -> None:
        """The row was recorded (or given up): its lease no longer needs renewing."""
        with self._lock:
            self._held.pop(message_id, None)
            self._lost.discard(message_id)

    def lost(self, message_id: int) -> bool:
        """Another dispatcher may have claimed the row since: it is not sent from here."""
        return message_id in self._lost

    def renew(self) -> set[int]:
        """Renew every held claim now, in a transaction of its own; returns the ids renewed."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return set()
        with self.engine.connect() as connection, Session(bind=connection) as session:
            renewed = RECORD_RETRY.call(_renew, self, session, held)
        lost = {message_id for message_id, _ in held} - renewed
        if lost:
            log.warning("the leases of %d claimed messages ran out before renewal: %s",
                        len(lost), sorted(lost)[:20])  # fmt: skip
        with self._lock:
            self._lost.update(message_id for message_id in lost if message_id in self._held)
        return renewed

    def _beat(self) -> None:
        while True:
            time.sleep(self.interval)
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
            try:
                self.renew()
            except Exception:  # the database away: the next beat tries again
                log.exception("renewing the outbox leases failed")


def _renew(leases: Leases, session: Session, held: list[tuple[int, int]]) -> set[int]:
    with _transaction(session):
        return renew_leases(session=session, now=leases.clock.now(), held=held, lease=leases.lease)


@dataclass
class DispatchReport:
    claimed: int = 0
    results: Counter[str] = field(default_factory=Counter)  # new status -> messages

    def add(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.results.update(other.results)


class Dispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        transports: Sequence[Transport],
        tz: ZoneInfo,
        batch: int = 100,
        rate_per_second: float | None = 10.0,
        senders: int = 1,
        lease: timedelta = LEASE,
        retry: RetryPolicy = DEFAULT_RETRY,
        heartbeat: float | None = None,
    ) -> None:
        """`heartbeat`: seconds between lease renewals (a third of the lease by default)."""
        self.engine = engine
        self.clock = clock
        self.transports = {t.channel: t for t in transports}
        self.tz = tz
        self.batch = batch
        self.senders = max(1, senders)
        self.lease = lease
        self.retry = retry
        self.limiter = RateLimiter(rate_per_second)
        self.leases = Leases(engine=engine, clock=clock, lease=lease, interval=heartbeat)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- one pass ------------------------------------------------------------------------

    def dispatch_once(self, session: Session | None = None) -> DispatchReport:
        """Claim one batch and send it, in the calling thread. A sending thread passes its
        own session (bound to one connection it keeps: no pool round trip per message);
        every claim and every result is still its own committed transaction."""
        if session is None:
            with self._session() as own:
                return self.dispatch_once(own)
        report = DispatchReport()
        with _transaction(session):
            claimed = claim_batch(
                session=session, clock=self.clock, limit=self.batch, tz=self.tz,
                channels=list(self.transports), lease=self.lease,
            )  # fmt: skip
        report.claimed = len(claimed)
        self.leases.hold(claimed)
        try:
            for message in claimed:
                report.results[self.send(message, session)] += 1
        finally:
            for message in claimed:
                self.leases.done(message.id)
        return report

    def send(self, message: Claimed, session: Session) -> str:
        """Send one claimed message and record the result; returns its new status."""
        transport = self.transports[message.channel]
        self.limiter.wait(transport.sender)
        if self.leases.lost(message.id):
            return "lease lost"  # another dispatcher may be sending it: not twice
        try:
            result = transport.send(message)
        except Exception as exc:  # a transport bug must not leave the row to its lease
            log.exception("transport %s failed on message %d", transport.channel, message.id)
            result = SendResult(Outcome.transient, error_code="error", detail=repr(exc)[:400])
        try:
            return self.record(message, result, session)
        finally:
            self.leases.done(message.id)

    def record(self, message: Claimed, result: SendResult, session: Session) -> str:
        try:
            return RECORD_RETRY.call(_record, self, message, result, session)
        except DBAPIError:
            # The row stays `sending`: after its lease it is sent again if no provider id
            # was stored (the documented at-least-once window).
            log.exception("could not record message %d (%s)", message.id, result)
            return "unrecorded"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with (
            self.engine.connect() as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def drain(self, *, stop: threading.Event | None = None) -> DispatchReport:
        """Send until nothing is due: `senders` threads, each claiming its own batches."""
        stop = stop or self._stop
        if self.senders == 1:
            return self._drain_one(stop)
        reports = [DispatchReport() for _ in range(self.senders)]

        def work(index: int) -> None:
            reports[index] = self._drain_one(stop)

        threads = [
            threading.Thread(target=work, args=(i,), name=f"dispatch-sender-{i}", daemon=True)
            for i in range(self.senders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = DispatchReport()
        for report in reports:
            total.add(report)
        return total

    def _drain_one(self, stop: threading.Event) -> DispatchReport:
        total = DispatchReport()
        with self._session() as session:
            while not stop.is_set():
                try:
                    report = self.dispatch_once(session)
                except DBAPIError:
                    log.exception("claiming outbox messages failed; retrying shortly")
                    stop.wait(1.0)
                    continue
                total.add(report)
                if report.claimed == 0:
                    break
        return total

    # --- in the background ---------------------------------------------------------------

    def run(self, interval: float) -> None:
        """Drain, wait `interval` seconds, repeat, until `stop()`."""
        while not self._stop.is_set():
            try:
                report = self.drain()
                if report.claimed:
                    log.info("dispatched %d: %s", report.claimed, dict(report.results))
            except Exception:
                log.exception("the dispatcher failed; it goes on")
            self._stop.wait(interval)

    def start(self, interval: float) -> threading.Thread:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run, args=(interval,), name="outbox-dispatcher", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def _record(dispatcher: Dispatcher, message: Claimed, result: SendResult, session: Session) -> str:
    """The result in a committed transaction of `session`'s (a module-level function: each
    record allocates no bound method or closure for the retry loop)."""
    with _transaction(session):
        return record_result(
            session=session, clock=dispatcher.clock, message=message, result=result,
            retry=dispatcher.retry,
        )  # fmt: skip


@contextmanager
def _transaction(session: Session) -> Iterator[None]:
    """Commit what the block did, or roll it back."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
