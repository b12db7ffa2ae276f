"""The hub's rules without a database: ids are handed out in order and never past one that
may still commit; a stream that falls behind is ended, the others are not held up."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine

from api.live import LiveHub, Subscription, encode
from billing_core.live.service import LiveRow

AT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def rows(*ids: int) -> list[LiveRow]:
    return [LiveRow(i, AT, "message.in", 7, {"message_id": i, "body": "你好"}) for i in ids]


def hub(kind: str) -> LiveHub:
    url = "sqlite://" if kind == "sqlite" else "postgresql+psycopg://nobody@127.0.0.1:1/none"
    made = LiveHub(create_engine(url), gap_timeout=30)  # never connects in these tests
    made.horizon = 10
    return made


def test_an_event_is_encoded_once_as_the_contract_says() -> None:
    event_id, text = encode(rows(11)[0])
    assert event_id == 11
    head, data = text.decode().removesuffix("\n\n").rsplit("\n", 1)
    assert head == "id: 11\nevent: message.in"
    assert json.loads(data.removeprefix("data: ")) == {
        "id": 11, "kind": "message.in", "conversation_id": 7, "at": "2026-11-26T02:00:00+00:00",
        "message_id": 11, "body": "你好",
    }  # fmt: skip


def test_sqlite_ids_are_in_order_so_a_gap_is_a_deleted_row() -> None:
    assert [r.id for r in hub("sqlite")._deliverable(rows(11, 13, 14), None)] == [11, 13, 14]


def test_postgresql_waits_at_a_gap_until_its_writers_are_done() -> None:
    pg = hub("postgresql")
    assert [r.id for r in pg._deliverable(rows(11, 13), None)] == [11]
    pg.horizon = 11
    # the next read asks who is running: 900 and 901 may hold id 12
    assert pg._deliverable(rows(13), frozenset({"900", "901"})) == []
    assert pg._deliverable(rows(13), frozenset({"901", "950"})) == []  # 901 still running
    assert [r.id for r in pg._deliverable(rows(12, 13), frozenset({"901"}))] == [12, 13]
    assert pg._gap is None
    pg.horizon = 13
    assert pg._deliverable(rows(15), None) == []  # a new gap at 14
    assert pg._deliverable(rows(15), frozenset({"950"})) == []
    # 950 ended and 14 never came: it was rolled back
    assert [r.id for r in pg._deliverable(rows(15), frozenset({"960"}))] == [15]


def test_postgresql_gives_up_on_a_gap_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    pg = hub("postgresql")
    assert pg._deliverable(rows(12), None) == []
    assert pg._deliverable(rows(12), frozenset({"1"})) == []
    assert pg._gap is not None
    pg._gap.seen_at -= 31
    assert [r.id for r in pg._deliverable(rows(12), frozenset({"1"}))] == [12]


def test_a_stream_that_falls_behind_is_ended_and_others_go_on() -> None:
    slow, quick = Subscription(start=0, backlog=3), Subscription(start=0, backlog=3)
    batch = [encode(r) for r in rows(1, 2)]
    for subscription in (slow, quick):
        subscription.offer(batch)
    assert [i for i, _ in quick.take()] == [1, 2]
    more = [encode(r) for r in rows(3, 4)]
    slow.offer(more)
    quick.offer(more)
    assert slow.ended == "fell behind" and slow.events == [] and slow.ready.is_set()
    assert quick.ended is None and [i for i, _ in quick.take()] == [3, 4]
    slow.offer(more)  # an ended stream takes nothing more
    assert slow.events == []
