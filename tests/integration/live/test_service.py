"""Publishing live events and reading them back by id, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from billing_core.clock import FixedClock
from billing_core.live import service as live
from billing_core.live.tables import LiveEvent


def _publish(session: Session, clock: FixedClock, n: int, kind: str = live.MESSAGE_IN) -> None:
    for i in range(n):
        live.publish(
            session, clock=clock, kind=kind, conversation_id=i,
            payload=live.message_payload(message_id=i, author="customer", channel="sms",
                                         body="你好 " * 100, n=i),
        )  # fmt: skip


def test_published_events_read_back_in_order_after_an_id(
    session: Session, clock: FixedClock
) -> None:
    before = live.latest_id(session)
    _publish(session, clock, 5)
    events = live.events_after(session, after_id=before)
    assert [e.payload["n"] for e in events] == [0, 1, 2, 3, 4]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 5 and ids[0] > before
    assert live.latest_id(session) == ids[-1]
    first = events[0]
    assert first.kind == "message.in" and first.conversation_id == 0
    assert first.at == clock.now() and first.at.tzinfo is not None
    assert len(first.payload["body"]) == live.BODY_CHARS  # the first 200 characters
    assert live.events_after(session, after_id=ids[1], limit=2) == events[2:4]
    assert live.events_after(session, after_id=ids[0], up_to=ids[2]) == events[1:3]
    assert live.events_after(session, after_id=ids[-1]) == []


def test_an_unknown_kind_is_refused(session: Session, clock: FixedClock) -> None:
    with pytest.raises(ValueError, match="unknown live event kind"):
        live.publish(session, clock=clock, kind="message.lost", conversation_id=None, payload={})


def test_a_rolled_back_change_publishes_nothing(engine: Engine, clock: FixedClock) -> None:
    with Session(engine) as session:
        before = live.latest_id(session)
        _publish(session, clock, 1)
        session.rollback()
    with Session(engine) as session:
        assert live.events_after(session, after_id=before) == []


def test_in_flight_names_open_writers_on_postgresql(engine: Engine, clock: FixedClock) -> None:
    with Session(engine) as reader, Session(engine) as writer:
        if engine.dialect.name != "postgresql":
            assert live.in_flight(reader) is None
            return
        _publish(writer, clock, 1)  # the transaction holds an id from before the event's
        xid = str(writer.execute(text("SELECT pg_current_xact_id()::xid::text")).scalar())
        assert xid in (live.in_flight(reader) or ())
        writer.rollback()
        reader.rollback()
        assert xid not in (live.in_flight(reader) or ())


def test_retention_deletes_only_old_events_in_chunks(engine: Engine, clock: FixedClock) -> None:
    with Session(engine) as session:
        session.execute(LiveEvent.__table__.delete())  # type: ignore[attr-defined]
        old = FixedClock(clock.now() - timedelta(days=8))
        _publish(session, old, 3)
        _publish(session, clock, 2)
        session.commit()
        assert live.delete_older(session, clock=clock, keep_days=7, limit=2) == 2
        assert live.delete_older(session, clock=clock, keep_days=7, limit=2) == 1
        assert live.delete_older(session, clock=clock, keep_days=7, limit=2) == 0
        left = live.events_after(session, after_id=0)
        assert [e.at for e in left] == [clock.now()] * 2
        session.commit()


def test_publish_all_writes_several_events_in_the_order_given(
    session: Session, clock: FixedClock
) -> None:
    before = live.latest_id(session)
    events = [
        (live.MESSAGE_IN, 4, {"message_id": 1, "body": "BILL"}),
        (live.MESSAGE_OUT, 4, {"message_id": 2, "body": "账单 ¥128.19"}),
        (live.CONVERSATION_STATE, 4, {"state": "bot"}),
    ]
    live.publish_all(session, clock=clock, events=events)
    stored = live.events_after(session, after_id=before)
    assert [(e.kind, e.conversation_id, e.payload) for e in stored] == events
    assert [e.id for e in stored] == sorted(e.id for e in stored)
    assert all(e.at == clock.now() for e in stored)
    with pytest.raises(ValueError, match="unknown live event kind"):
        live.publish_all(session, clock=clock, events=[events[0], ("message.lost", 4, {})])
    assert live.latest_id(session) == stored[-1].id  # a refused list writes none of it
    live.publish_all(session, clock=clock, events=[])
    assert live.latest_id(session) == stored[-1].id
