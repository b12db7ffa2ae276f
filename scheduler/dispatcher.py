"""The outbox dispatcher: claim due messages, send each through its channel's transport at no
more than the sender's rate (each channel its own: Twilio's and Telegram's differ), never two
to one recipient closer than its channel allows (Telegram: one a second per chat), and record
each result in its own committed transaction. Each drain first moves messages on a channel the
deployment does not deliver to the customer's next channel (billing_core.outbox.fallback).

Transports are handed in (api/ chooses them from the settings): this package imports no
adapter. Several sender threads (each with its own claims and sessions) overlap the
provider's network round trips; several dispatcher processes may run against PostgreSQL
(claims skip each other's rows), each with its own rate limit (divide the provider's limit
between them) and its own per-recipient spacing (two processes may send to one chat less
than a second apart; Telegram then answers 429 with `retry_after`, which is honoured).

A claimed row's lease is short (billing_core.outbox.claims.LEASE): if the dispatcher dies,
another sends its rows within that time. While this one works on its rows (a message waiting
for its recipient's spacing included), a heartbeat thread renews their leases every third of
it, so a slow provider never lets another dispatcher take a row this one is still sending; a
row whose lease was lost all the same (the heartbeat could not reach the database in time) is
left to whoever claimed it since.

Each send's outcome is counted in memory per channel (attempts, failures) and written as a
send tally about once a minute (`flush_tally`, one row per channel): the delivery watch
(billing_core/health) sums the tallies of every dispatcher process in its window."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.unit_of_work import Retry
from billing_core.health.model import Tally
from billing_core.health.service import record_delivery_tally
from billing_core.outbox.claims import LEASE, claim_batch, renew_leases
from billing_core.outbox.dispatch import put_back, record_result
from billing_core.outbox.fallback import REROUTED, reroute_stranded
from billing_core.outbox.model import UNDELIVERABLE
from billing_core.outbox.retry import DEFAULT_RETRY, RetryPolicy
from billing_core.outbox.transport import Claimed, Outcome, SendResult, Transport
from billing_core.outbox.windows import CONTACT_DEFAULT, SendWindow

log = logging.getLogger("wattdesk.dispatcher")

# A result the database would not take (locked, a deadlock victim, a dropped connection:
# recording a result twice changes nothing) is tried again before it is given up.
RECORD_RETRY = Retry(attempts=5, backoff=0.05, disconnects=True)


# Outcomes a send tally counts as failed: the provider or the network would not take the
# message. An opt-out or a blocked chat is the recipient's doing, not the channel's.
FAILED = frozenset({Outcome.transient, Outcome.permanent})
TALLY_EVERY = 60.0  # seconds between send tallies written by a running dispatcher

BURST = 0.25  # seconds' worth of sends a sender that fell behind may catch up


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
        burst: float = BURST,
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


Recipient = tuple[str, str]  # channel, address


class RecipientSpacing:
    """At least an interval between the end of one send to a recipient and the start of the
    next. Counted from the end of the send, so the provider sees two messages at least that
    far apart however long the first request took. Thread-safe, per process."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._busy: set[Recipient] = set()  # a send to it is in flight
        self._free_at: dict[Recipient, float] = {}
        self._prune_at = 1024
        self._lock = threading.Lock()

    def take(self, recipient: Recipient) -> float | None:
        """0.0: the recipient may be sent to now, and is reserved until `release`; else the
        seconds until it may be (nothing reserved), or None while a send to it is in flight."""
        with self._lock:
            if recipient in self._busy:
                return None
            wait = self._free_at.get(recipient, 0.0) - self._monotonic()
            if wait > 0:
                return wait
            self._busy.add(recipient)
            return 0.0

    def release(self, recipient: Recipient, interval: float) -> None:
        """The send to `recipient` ended: the next may start `interval` seconds from now."""
        with self._lock:
            self._busy.discard(recipient)
            now = self._monotonic()
            self._free_at[recipient] = now + interval
            if len(self._free_at) > self._prune_at:  # forget recipients free again
                self._free_at = {r: at for r, at in self._free_at.items() if at > now}
                self._prune_at = max(1024, 2 * len(self._free_at))


# A message whose recipient another thread is still sending to waits this long for that send
# to end before it is put back for a later pass.
BUSY_WAIT = 5.0


@dataclass
class DispatchReport:
    claimed: int = 0
    results: Counter[str] = field(default_factory=Counter)  # new status -> messages

    def add(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.results.update(other.results)


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
        channel_rates: Mapping[str, float | None] | None = None,
        deliverable: Collection[str] | None = None,
        senders: int = 1,
        lease: timedelta = LEASE,
        retry: RetryPolicy = DEFAULT_RETRY,
        heartbeat: float | None = None,
        tally_every: float = TALLY_EVERY,
        send_window: SendWindow = CONTACT_DEFAULT,
    ) -> None:
        """`rate_per_second` per sender, unless `channel_rates` gives a channel its own;
        `deliverable`: the channels the deployment delivers (from the settings; by default
        this dispatcher's own): a message on any other goes by the customer's next channel,
        while one on a channel another dispatcher carries is left to it. `heartbeat`: seconds
        between lease renewals (a third of the lease by default). `send_window`: the policy's
        default hours (policies/outbox.yaml) for recipients who have not chosen their own."""
        self.engine = engine
        self.send_window = send_window
        self.clock = clock
        self.transports = {t.channel: t for t in transports}
        self.tz = tz
        self.batch = batch
        self.senders = max(1, senders)
        self.lease = lease
        self.retry = retry
        self.leases = Leases(engine=engine, clock=clock, lease=lease, interval=heartbeat)
        rates = dict(channel_rates or {})
        self.limiters = {
            channel: RateLimiter(
                rates.get(channel, rate_per_second), burst=getattr(t, "rate_burst", BURST)
            )
            for channel, t in self.transports.items()
        }
        self.deliverable = frozenset(deliverable or ()) | frozenset(self.transports)
        # The least time between two messages to one recipient, for channels that have one.
        self.spacing = {
            channel: float(interval)
            for channel, t in self.transports.items()
            if (interval := getattr(t, "recipient_interval", 0.0))
        }
        self.recipients = RecipientSpacing()
        self.tally_every = tally_every
        self._tally = Tally(started_at=clock.now())
        self._tally_lock = threading.Lock()
        self._tallied_at = time.monotonic()
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
        report, waiting = self._pass(session, [])
        for message in waiting:
            report.results[self._send_spaced(message, session)] += 1
        return report

    def _pass(
        self, session: Session, carried: list[Claimed]
    ) -> tuple[DispatchReport, list[Claimed]]:
        """Claim a batch and send it; returns the claimed messages whose recipient is not
        free yet (Telegram: a chat sent to less than a second ago). Those wait while the rest
        go, and go as soon as their recipient is free, in their order; `carried` are such
        messages from the sender's previous batch, so the sender never idles while anything
        else may go."""
        report = DispatchReport()
        with _transaction(session):
            claimed = claim_batch(
                session=session, clock=self.clock, limit=self.batch, tz=self.tz,
                channels=list(self.transports), lease=self.lease,
                default_window=self.send_window,
            )  # fmt: skip
        report.claimed = len(claimed)
        # Held until each is recorded (`send`) or put back: a message waiting for its
        # recipient's spacing keeps its lease too.
        self.leases.hold(claimed)
        waiting = list(carried)
        try:
            self._send_batch(claimed, waiting, session, report)
        except BaseException:
            for message in (*claimed, *waiting):
                self.leases.done(message.id)
            raise
        return report, waiting

    def _send_batch(
        self, claimed: list[Claimed], waiting: list[Claimed], session: Session,
        report: DispatchReport,
    ) -> None:  # fmt: skip
        for message in claimed:
            if waiting:
                self._send_free(waiting, session, report)
            interval = self.spacing.get(message.channel)
            if not interval:
                report.results[self.send(message, session)] += 1
                continue
            recipient = (message.channel, message.recipient)
            if any(w.recipient == message.recipient and w.channel == message.channel
                   for w in waiting) or self.recipients.take(recipient) != 0.0:  # fmt: skip
                waiting.append(message)
                continue
            report.results[self._send_reserved(message, session, recipient, interval)] += 1
        if waiting:
            self._send_free(waiting, session, report)

    def _send_free(self, waiting: list[Claimed], session: Session, report: DispatchReport) -> None:
        """Send, in order, the waiting messages whose recipient is free now (only the first
        waiting message of each recipient may go); remove them from `waiting`."""
        blocked: set[Recipient] = set()
        for message in list(waiting):
            recipient = (message.channel, message.recipient)
            if recipient in blocked:
                continue
            if self.recipients.take(recipient) != 0.0:
                blocked.add(recipient)
                continue
            waiting.remove(message)
            interval = self.spacing[message.channel]
            report.results[self._send_reserved(message, session, recipient, interval)] += 1

    def _send_reserved(
        self, message: Claimed, session: Session, recipient: Recipient, interval: float
    ) -> str:
        try:
            return self.send(message, session)
        finally:
            self.recipients.release(recipient, interval)

    def _send_spaced(self, message: Claimed, session: Session) -> str:
        """Send once the recipient is free: wait out its interval, or another thread's send
        to it (up to BUSY_WAIT; then the message is put back, due a little later)."""
        recipient = (message.channel, message.recipient)
        interval = self.spacing[message.channel]
        deadline = time.monotonic() + BUSY_WAIT
        while True:
            wait = self.recipients.take(recipient)
            if wait == 0.0:
                return self._send_reserved(message, session, recipient, interval)
            if wait is None and time.monotonic() > deadline:
                with _transaction(session):
                    put_back(
                        session=session, clock=self.clock, message=message,
                        until=self.clock.now() + timedelta(seconds=interval),
                    )  # fmt: skip
                self.leases.done(message.id)
                return "pending"
            time.sleep(0.01 if wait is None else wait)

    def send(self, message: Claimed, session: Session) -> str:
        """Send one claimed message and record the result; returns its new status."""
        if self.leases.lost(message.id):
            self.leases.done(message.id)
            return "lease lost"  # another dispatcher may be sending it: not twice
        transport = self.transports[message.channel]
        self.limiters[message.channel].wait(transport.sender)
        try:
            result = transport.send(message)
        except Exception as exc:  # a transport bug must not leave the row to its lease
            log.exception("transport %s failed on message %d", transport.channel, message.id)
            result = SendResult(Outcome.transient, error_code="error", detail=repr(exc)[:400])
        with self._tally_lock:
            self._tally.count(message.channel, result.outcome in FAILED)
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

    def flush_tally(self) -> int:
        """Write the send outcomes counted since the last flush (a row per channel that had
        any); returns the rows written. Kept for the next flush if the database refuses."""
        with self._tally_lock:
            tally, self._tally = self._tally, Tally(started_at=self.clock.now())
        self._tallied_at = time.monotonic()
        if not tally.counts:
            return 0
        try:
            with self._session() as session, _transaction(session):
                return record_delivery_tally(
                    session=session, started_at=tally.started_at, ended_at=self.clock.now(),
                    tallies=tally.as_mapping(),
                )  # fmt: skip
        except DBAPIError:
            log.exception("could not write the send tally; it is kept for the next one")
            with self._tally_lock:
                for channel, (attempts, failures) in tally.counts.items():
                    kept = self._tally.counts.setdefault(channel, [0, 0])
                    kept[0] += attempts
                    kept[1] += failures
                self._tally.started_at = tally.started_at
            return 0

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with (
            self.engine.connect() as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def reroute(self) -> DispatchReport:
        """Move every pending message on a channel the deployment does not deliver to the
        customer's next channel, or make it undeliverable (one transaction per batch)."""
        report = DispatchReport()
        with self._session() as session:
            while True:
                with _transaction(session):
                    done = reroute_stranded(
                        session=session, clock=self.clock, deliverable=self.deliverable,
                        limit=self.batch,
                    )  # fmt: skip
                if done.rerouted:
                    report.results[REROUTED] += done.rerouted
                if done.undeliverable:
                    report.results[UNDELIVERABLE] += done.undeliverable
                if done.looked_at < self.batch:
                    return report

    def drain(self, *, stop: threading.Event | None = None) -> DispatchReport:
        """Send until nothing is due: `senders` threads, each claiming its own batches, after
        moving the messages no transport of the deployment carries (`reroute`)."""
        stop = stop or self._stop
        try:
            rerouted = self.reroute()
        except DBAPIError:
            log.exception("rerouting stranded outbox messages failed; the next drain retries")
            rerouted = DispatchReport()
        if self.senders == 1:
            total = self._drain_one(stop)
            total.add(rerouted)
            return total
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
        total = rerouted
        for report in reports:
            total.add(report)
        return total

    def _drain_one(self, stop: threading.Event) -> DispatchReport:
        total = DispatchReport()
        waiting: list[Claimed] = []  # claimed, their recipient not free yet
        with self._session() as session:
            while not stop.is_set():
                try:
                    report, waiting = self._pass(session, waiting)
                except DBAPIError:
                    log.exception("claiming outbox messages failed; retrying shortly")
                    stop.wait(1.0)
                    continue
                total.add(report)
                if report.claimed == 0:
                    break
            # Nothing else is due (or the dispatcher is stopping): the last ones wait out
            # their recipient's interval, at most a second or so.
            for message in waiting:
                total.results[self._send_spaced(message, session)] += 1
        return total

    # --- in the background ---------------------------------------------------------------

    def run(self, interval: float) -> None:
        """Drain, wait `interval` seconds, repeat, until `stop()`."""
        while not self._stop.is_set():
            try:
                report = self.drain()
                if report.claimed:
                    log.info("dispatched %d: %s", report.claimed, dict(report.results))
                if time.monotonic() - self._tallied_at >= self.tally_every:
                    self.flush_tally()
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
        try:
            self.flush_tally()
        except Exception:  # stopping goes on: the tally is only the watch's input
            log.exception("could not write the last send tally")
        for transport in self.transports.values():
            close = getattr(transport, "close", None)  # a client with its own connections
            if close is not None:
                close()


def _record(dispatcher: Dispatcher, message: Claimed, result: SendResult, session: Session) -> str:
    """The result in a committed transaction of `session`'s (a module-level function: each
    record allocates no bound method or closure for the retry loop)."""
    with _transaction(session):
        return record_result(
            session=session, clock=dispatcher.clock, message=message, result=result,
            retry=dispatcher.retry, deliverable=dispatcher.deliverable,
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
