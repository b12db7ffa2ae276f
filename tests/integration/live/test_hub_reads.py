"""The hub against a real database (SQLite and PostgreSQL): with no stream open it reads the
new ids alone and moves its horizon on; a stream open gets the whole events; a stream that
subscribes while an ids-only read is under way still gets every event after its start."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from api.live import LiveHub, Subscription
from billing_core.clock import FixedClock
from billing_core.live import service as live


def _publish(engine: Engine, clock: FixedClock, n: int) -> list[int]:
    with Session(engine) as session:
        before = live.latest_id(session)
        for i in range(n):
            live.publish(
                session, clock=clock, kind=live.MESSAGE_IN, conversation_id=i,
                payload=live.message_payload(message_id=i, author="customer", channel="sms",
                                             body=f"text {i}"),
            )  # fmt: skip
        session.commit()
        return [event.id for event in live.events_after(session, after_id=before)]


def test_nobody_watching_moves_the_horizon_on_ids_alone(
    fresh_engine: Engine, clock: FixedClock
) -> None:
    hub = LiveHub(fresh_engine)
    hub.horizon = 0
    ids = _publish(fresh_engine, clock, 3)
    read: list[bool] = []
    whole_read = hub._read

    def spy(after: int, gap_pending: bool, whole: bool) -> Any:
        read.append(whole)
        return whole_read(after, gap_pending, whole)

    hub._read = spy  # type: ignore[method-assign]
    asyncio.run(hub.read_once())
    assert read == [False] and hub.horizon == ids[-1]

    watcher = hub.subscribe()
    more = _publish(fresh_engine, clock, 2)
    asyncio.run(hub.read_once())
    assert read == [False, True] and hub.horizon == more[-1]
    taken = watcher.take()
    assert [event_id for event_id, _ in taken] == more
    assert b'"body":"text 1"' in taken[1][1]


def test_a_stream_that_subscribes_during_an_ids_only_read_misses_nothing(
    fresh_engine: Engine, clock: FixedClock
) -> None:
    hub = LiveHub(fresh_engine)
    hub.horizon = _publish(fresh_engine, clock, 1)[0]
    ids = _publish(fresh_engine, clock, 2)
    whole_read = hub._read
    late: list[Subscription] = []

    def subscribe_meanwhile(after: int, gap_pending: bool, whole: bool) -> Any:
        found = whole_read(after, gap_pending, whole)
        if not late:
            late.append(hub.subscribe())  # as a stream opening while the thread reads
        return found

    hub._read = subscribe_meanwhile  # type: ignore[method-assign]

    async def twice() -> None:
        assert await hub.read_once()  # nothing delivered, read again at once
        await hub.read_once()

    start = hub.horizon
    asyncio.run(twice())
    (watcher,) = late
    assert watcher.start == start
    assert [event_id for event_id, _ in watcher.take()] == ids
