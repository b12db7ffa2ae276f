"""Group commit (billing_core.db.group_commit): units of work queued while the writer is busy
go in one transaction, each caller gets its own result once it is committed, and a unit that
fails costs only itself: the batch is rolled back and every unit runs again alone."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from billing_core.db import group_commit
from billing_core.db.group_commit import GroupCommit
from billing_core.db.unit_of_work import Retry

request_id: ContextVar[str] = ContextVar("request_id", default="-")


@pytest.fixture
def table(empty_engine: Engine) -> Iterator[Engine]:
    with empty_engine.begin() as connection:
        connection.execute(text("CREATE TABLE note (name VARCHAR(20) PRIMARY KEY)"))
    yield empty_engine


def names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT name FROM note ORDER BY name")).scalars())


def insert(name: str) -> Callable[[Session], str]:
    def work(session: Session) -> str:
        session.execute(text("INSERT INTO note (name) VALUES (:n)"), {"n": name})
        return f"{name} by {request_id.get()}"

    return work


def held_until_queued(writer: GroupCommit, others: int) -> Callable[[Session], str]:
    """A first unit that keeps the writer busy until `others` more have queued, so that
    they make one batch."""

    def work(session: Session) -> str:
        deadline = time.monotonic() + 5
        while writer._queue.qsize() < others and time.monotonic() < deadline:
            time.sleep(0.001)
        return "first"

    return work


async def submit(writer: GroupCommit, works: list[Callable[[Session], str]]) -> list[object]:
    async def one(index: int, work: Callable[[Session], str]) -> str:
        request_id.set(f"req-{index}")
        await asyncio.sleep(0.001 * index)  # queued in this order
        return await writer.run(work)

    return list(
        await asyncio.gather(
            *(one(i, work) for i, work in enumerate(works)), return_exceptions=True
        )
    )


def test_units_queued_together_share_one_transaction(table: Engine) -> None:
    writer = GroupCommit(table)
    works = [held_until_queued(writer, 5)] + [insert(f"n{i}") for i in range(1, 6)]
    try:
        answers = asyncio.run(submit(writer, works))
    finally:
        writer.close()
    assert answers == ["first"] + [f"n{i} by req-{i}" for i in range(1, 6)]  # each its own
    assert names(table) == ["n1", "n2", "n3", "n4", "n5"]
    assert (writer.batches, writer.units) == (2, 6)  # the first alone, then five in one


def test_a_failing_unit_costs_only_itself(table: Engine) -> None:
    writer = GroupCommit(table)

    def fails(session: Session) -> str:
        session.execute(text("INSERT INTO note (name) VALUES ('lost')"))
        raise ValueError("this message is bad")

    works = [held_until_queued(writer, 4), insert("a"), fails, insert("b"), insert("a")]
    try:
        answers = asyncio.run(submit(writer, works))
    finally:
        writer.close()
    assert answers[:2] == ["first", "a by req-1"]
    assert isinstance(answers[2], ValueError)
    assert answers[3] == "b by req-3"
    assert isinstance(answers[4], IntegrityError)  # "a" again: refused, as it would be alone
    assert names(table) == ["a", "b"]  # nothing of the failed units, all of the others


def test_a_transient_error_is_tried_again_alone(table: Engine) -> None:
    tries: list[int] = []

    def locked_once(session: Session) -> str:
        tries.append(1)
        if len(tries) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return insert("after retry")(session)

    writer = GroupCommit(table, retry=Retry(attempts=3, backoff=0.0))
    try:
        answers = asyncio.run(submit(writer, [locked_once]))
    finally:
        writer.close()
    assert answers == ["after retry by req-0"]
    assert len(tries) == 2
    assert names(table) == ["after retry"]


def test_the_writer_stops_when_idle_and_starts_again(
    table: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(group_commit, "IDLE_SECONDS", 0.05)
    writer = GroupCommit(table)
    try:
        assert asyncio.run(submit(writer, [insert("one")])) == ["one by req-0"]
        deadline = time.monotonic() + 5
        while writer._thread is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert writer._thread is None
        assert not any(t.name == "wattdesk-group-commit" for t in threading.enumerate())
        assert asyncio.run(submit(writer, [insert("two")])) == ["two by req-0"]
    finally:
        writer.close()
    assert names(table) == ["one", "two"]


def test_closed_writer_finishes_its_queue_and_takes_no_more(table: Engine) -> None:
    writer = GroupCommit(table)
    assert asyncio.run(submit(writer, [insert("kept")])) == ["kept by req-0"]
    writer.close()
    [refused] = asyncio.run(submit(writer, [insert("refused")]))
    assert isinstance(refused, RuntimeError)
    assert "closed" in str(refused)
    assert names(table) == ["kept"]
