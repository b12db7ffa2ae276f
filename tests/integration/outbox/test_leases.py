"""A dispatcher's claims and their lease, on SQLite and PostgreSQL, sending with the real
twilio client to a fake Twilio API on loopback: a dead dispatcher's rows go out within the
short lease, a live one renews the lease while a slow send runs (no second dispatcher takes
the row), and a row with a provider id is never sent twice."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update
from sqlmodel import col, select

from bench.fakes.twilio_api import FakeTwilioApi
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.outbox.claims import LEASE, claim_batch, renew_leases
from billing_core.outbox.service import REPLY
from billing_core.outbox.tables import OutboxMessage
from billing_core.outbox.transport import Claimed, SendResult, Transport
from scheduler.dispatcher import Dispatcher
from sms.transport import TwilioTransport
from tests.integration.outbox.helpers import SHANGHAI, put

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
WAIT = 10.0  # seconds a test waits for the heartbeat thread before it fails


class GatedTransport:
    """The real transport, held at the gate until the test opens it: a provider slower than
    the lease."""

    def __init__(self, transport: TwilioTransport) -> None:
        self.transport = transport
        self.channel, self.sender = transport.channel, transport.sender
        self.entered = threading.Event()
        self.gate = threading.Event()

    def send(self, message: Claimed) -> SendResult:
        self.entered.set()
        assert self.gate.wait(WAIT * 3), "the test never opened the gate"
        return self.transport.send(message)


def dispatcher(
    engine: Engine, clock: FixedClock, transport: Transport, *, heartbeat: float | None = None
) -> Dispatcher:
    return Dispatcher(engine=engine, clock=clock, transports=[transport], tz=SHANGHAI,
                      rate_per_second=None, heartbeat=heartbeat)  # fmt: skip


def lease_of(engine: Engine, key: str) -> tuple[str, datetime | None, int]:
    with session_scope(engine) as session:
        row = session.exec(select(OutboxMessage).where(col(OutboxMessage.dedupe_key) == key)).one()
        return row.status, row.next_attempt_at, row.attempts


def test_the_lease_is_short() -> None:
    assert timedelta(seconds=10) <= LEASE <= timedelta(seconds=30)


def test_a_dead_dispatchers_rows_are_sent_by_another_within_the_lease(
    fresh_engine: Engine, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    clock = FixedClock(NOW)
    with session_scope(fresh_engine) as session:
        for i in range(3):
            put(session, clock, f"+861390000050{i}", f"t:dead:{i}", kind=REPLY)
    with session_scope(fresh_engine) as session:  # a dispatcher claims them, and dies
        assert len(claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)) == 3

    other = dispatcher(fresh_engine, clock, twilio)
    clock.advance(LEASE - timedelta(seconds=1))
    assert other.dispatch_once().claimed == 0  # still leased
    clock.advance(NOW + timedelta(seconds=30) - clock.now())  # half a minute, not two
    assert other.dispatch_once().results == {"sent": 3}
    for i in range(3):
        assert len(fake_twilio.sent_to(f"+861390000050{i}")) == 1


def test_a_send_slower_than_the_lease_keeps_its_row_from_a_second_dispatcher(
    fresh_engine: Engine, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    clock = FixedClock(NOW)
    to = "+8613900000510"
    with session_scope(fresh_engine) as session:
        put(session, clock, to, "t:slow", kind=REPLY)
    slow = GatedTransport(twilio)
    first = dispatcher(fresh_engine, clock, slow, heartbeat=0.02)
    reports = []
    worker = threading.Thread(target=lambda: reports.append(first.dispatch_once()))
    worker.start()
    try:
        assert slow.entered.wait(WAIT)
        for _ in range(3):  # 87 s of sending: three leases' worth
            clock.advance(LEASE - timedelta(seconds=1))
            renewed_until = clock.now() + LEASE
            deadline = time.monotonic() + WAIT
            while lease_of(fresh_engine, "t:slow")[1] != renewed_until:
                assert time.monotonic() < deadline, "the lease was not renewed"
                time.sleep(0.01)
        second = dispatcher(fresh_engine, clock, twilio)
        assert second.dispatch_once().claimed == 0  # the first one still holds it
    finally:
        slow.gate.set()
        worker.join(WAIT)
    assert reports[0].results == {"sent": 1}
    assert len(fake_twilio.sent_to(to)) == 1
    status, next_attempt_at, attempts = lease_of(fresh_engine, "t:slow")
    assert (status, next_attempt_at, attempts) == ("sent", None, 1)


def test_a_renewal_extends_only_this_claim_not_a_later_claim_of_the_row(
    fresh_engine: Engine,
) -> None:
    clock = FixedClock(NOW)
    with session_scope(fresh_engine) as session:
        put(session, clock, "+8613900000520", "t:stale", kind=REPLY)
    with session_scope(fresh_engine) as session:
        [mine] = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)
    clock.advance(LEASE)  # this dispatcher stalled past its lease; another claims the row
    with session_scope(fresh_engine) as session:
        [theirs] = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)
    assert (theirs.id, theirs.attempts) == (mine.id, mine.attempts + 1)
    clock.advance(timedelta(seconds=5))
    with session_scope(fresh_engine) as session:
        renewed = renew_leases(session=session, now=clock.now(), held=[(mine.id, mine.attempts)])
    assert renewed == set()  # lost: the stale claim renews nothing
    assert lease_of(fresh_engine, "t:stale")[1] == clock.now() - timedelta(seconds=5) + LEASE


def test_a_dispatcher_that_lost_its_lease_does_not_send_the_row(
    fresh_engine: Engine, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    clock = FixedClock(NOW)
    to = "+8613900000530"
    with session_scope(fresh_engine) as session:
        put(session, clock, to, "t:lost", kind=REPLY)
    slow = GatedTransport(twilio)
    stalled = dispatcher(fresh_engine, clock, slow, heartbeat=3600)  # its heartbeat never runs
    with session_scope(fresh_engine) as session:
        claimed = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)
    stalled.leases.hold(claimed)
    clock.advance(LEASE)
    assert dispatcher(fresh_engine, clock, twilio).dispatch_once().results == {"sent": 1}
    assert stalled.leases.renew() == set()  # its renewal finds the row claimed since
    slow.gate.set()
    with session_scope(fresh_engine) as session:
        assert stalled.send(claimed[0], session) == "lease lost"
    assert not slow.entered.is_set()
    assert len(fake_twilio.sent_to(to)) == 1


def test_a_row_with_a_provider_id_is_never_sent_again_after_its_lease(
    fresh_engine: Engine, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    clock = FixedClock(NOW)
    to = "+8613900000540"
    with session_scope(fresh_engine) as session:
        put(session, clock, to, "t:known", kind=REPLY)
    with session_scope(fresh_engine) as session:
        [claimed] = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)
        # The provider accepted it and its id reached the row; then the dispatcher died.
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == claimed.id)
            .values(provider_id="SMknown0540")
        )
    clock.advance(LEASE)
    report = dispatcher(fresh_engine, clock, twilio).dispatch_once()
    assert report.claimed == 0
    assert lease_of(fresh_engine, "t:known")[0] == "sent"
    assert fake_twilio.sent_to(to) == []
