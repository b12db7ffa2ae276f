"""The writer process (billing_core.db.writer_process): units of work from an event loop run
in a child process on a SQLite file, several to a transaction; each caller gets its own
result, a failing unit costs only itself, context variables named `carried` travel with the
units, and a child that dies fails only what it had not answered and is started again."""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
import signal
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from billing_core.db import create_db_engine
from billing_core.db.writer_process import WriterGone, WriterProcess

request_id: ContextVar[str] = ContextVar("test_writer_process_request_id", default="-")
CARRIED = (f"{__name__}:request_id",)


@pytest.fixture
def table(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'writer.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE note (name VARCHAR(20) PRIMARY KEY)"))
    yield engine
    engine.dispose()


def names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT name FROM note ORDER BY name")).scalars())


# Units of work travel pickled: module-level functions, with their arguments bound.
def insert(session: Session, *, name: str) -> str:
    session.execute(text("INSERT INTO note (name) VALUES (:n)"), {"n": name})
    return f"{name} by {request_id.get()} in {os.getpid()}"


def fails(session: Session) -> str:
    session.execute(text("INSERT INTO note (name) VALUES ('lost')"))
    raise ValueError("this message is bad")


def sleeps(session: Session, *, seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


async def submit(writer: WriterProcess, names: list[str]) -> list[object]:
    async def one(index: int, name: str) -> object:
        request_id.set(f"req-{index}")
        return await writer.run(functools.partial(insert, name=name))

    return list(
        await asyncio.gather(*(one(i, n) for i, n in enumerate(names)), return_exceptions=True)
    )


def test_units_run_in_the_child_share_transactions_and_each_gets_its_own_answer(
    table: Engine,
) -> None:
    async def scenario() -> tuple[list[object], int]:
        writer = WriterProcess(table, carried=CARRIED)
        await writer.start()
        try:
            # the first unit keeps the child busy while the others queue behind it
            first = asyncio.ensure_future(writer.run(functools.partial(sleeps, seconds=0.3)))
            await asyncio.sleep(0.05)
            answers = await submit(writer, [f"n{i}" for i in range(20)])
            assert await first == "slept"
        finally:
            await writer.aclose()
        assert writer.units == 21
        return answers, writer.batches

    answers, batches = asyncio.run(scenario())
    child_pids = {str(answer).rsplit(" in ", 1)[1] for answer in answers}
    assert len(child_pids) == 1 and child_pids != {str(os.getpid())}
    assert [str(answer).rsplit(" in ", 1)[0] for answer in answers] == [
        f"n{i} by req-{i}" for i in range(20)
    ]
    assert names(table) == sorted(f"n{i}" for i in range(20))
    assert batches < 21  # the twenty queued behind the first went in fewer transactions


def test_a_failing_unit_costs_only_itself(table: Engine) -> None:
    async def scenario() -> list[object]:
        writer = WriterProcess(table, carried=CARRIED)
        await writer.start()
        try:
            first = asyncio.ensure_future(writer.run(functools.partial(sleeps, seconds=0.2)))
            await asyncio.sleep(0.05)
            works = [
                functools.partial(insert, name="a"), fails,
                functools.partial(insert, name="b"), functools.partial(insert, name="a"),
            ]  # fmt: skip
            answers = await asyncio.gather(
                *(writer.run(work) for work in works), return_exceptions=True
            )
            await first
            return list(answers)
        finally:
            await writer.aclose()

    answers = asyncio.run(scenario())
    assert str(answers[0]).startswith("a by")
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "this message is bad"
    assert str(answers[2]).startswith("b by")
    assert isinstance(answers[3], IntegrityError)  # "a" again: refused, as it would be alone
    assert names(table) == ["a", "b"]


def test_a_child_that_dies_fails_what_it_had_not_answered_and_is_started_again(
    table: Engine,
) -> None:
    async def scenario() -> tuple[object, str, int]:
        writer = WriterProcess(table, carried=CARRIED)
        await writer.start()
        try:
            assert writer._process is not None
            pid = writer._process.pid
            stuck = asyncio.ensure_future(writer.run(functools.partial(sleeps, seconds=30)))
            await asyncio.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            lost = await asyncio.gather(stuck, return_exceptions=True)
            request_id.set("after")
            again = await writer.run(functools.partial(insert, name="after"))
            return lost[0], again, writer.starts
        finally:
            await writer.aclose()

    lost, again, starts = asyncio.run(scenario())
    assert isinstance(lost, WriterGone)
    assert again.startswith("after by after in ") and starts == 2
    assert names(table) == ["after"]


@dataclass(frozen=True)
class Policy:
    """A long-lived object many units take along (the conversation context's stand-in)."""

    name: str
    rules: tuple[str, ...]


def reads_policy(session: Session, *, policy: Policy) -> tuple[str, int, int]:
    """What the unit was given, and where that object lives in the child."""
    return policy.name, len(policy.rules), id(policy)


def test_a_shared_object_travels_once_and_others_of_its_type_as_usual(table: Engine) -> None:
    shared = Policy("shared", tuple(f"rule {i}" for i in range(200)))
    other = Policy("other", ("one rule",))

    async def scenario() -> tuple[list[tuple[str, int, int]], int, int, bytes]:
        writer = WriterProcess(table, shared=(shared,))
        await writer.start()
        try:
            assert writer._process is not None
            os.kill(writer._process.pid, signal.SIGKILL)  # the next child is given it too
            while writer._writer is not None:  # until the parent sees the child gone
                await asyncio.sleep(0.01)
            answers = [
                await writer.run(functools.partial(reads_policy, policy=policy))
                for policy in (shared, shared, other)
            ]
            frame = writer._dumps((0, functools.partial(reads_policy, policy=shared), ()))
            return answers, writer.starts, len(frame), pickle.dumps(shared)
        finally:
            await writer.aclose()

    answers, starts, frame_size, in_full = asyncio.run(scenario())
    (first, first_id), (again, again_id), (third, _) = (
        (answer[:2], answer[2]) for answer in answers
    )
    assert starts == 2
    assert first == again == ("shared", 200) and third == ("other", 1)
    assert first_id == again_id  # one copy in the child, not one per unit
    assert frame_size < 400 < len(in_full)


def test_a_closed_writer_takes_no_more_work(table: Engine) -> None:
    async def scenario() -> None:
        writer = WriterProcess(table)
        assert (await writer.run(functools.partial(insert, name="x"))).startswith("x by -")
        await writer.aclose()
        assert writer._process is None
        with pytest.raises(RuntimeError, match="closed"):
            await writer.run(functools.partial(insert, name="y"))

    asyncio.run(scenario())
    assert names(table) == ["x"]


def test_a_writer_whose_event_loop_ended_is_taken_over_by_the_next_loop(table: Engine) -> None:
    writer = WriterProcess(table, carried=CARRIED)

    async def one(name: str) -> str:
        request_id.set(name)
        return await writer.run(functools.partial(insert, name=name))

    first = asyncio.run(one("first"))  # that loop is closed when asyncio.run returns
    second = asyncio.run(one("second"))
    writer.close()
    assert first.startswith("first by first in ") and second.startswith("second by second in ")
    assert first.rsplit(" in ", 1)[1] != second.rsplit(" in ", 1)[1]  # a new child
    assert writer.starts == 2 and writer._process is None
    assert names(table) == ["first", "second"]


@pytest.mark.parametrize("idle_units", [16, 0])
def test_the_child_checkpoints_the_log_while_idle_instead_of_in_a_commit(
    table: Engine, idle_units: int
) -> None:
    """Units with pauses between them (the child idle): with idle checkpoints every 16
    units the log starts over again and again and stays short; with SQLite's own only, it
    grows towards 1,000 pages before a commit copies it back."""

    async def scenario() -> None:
        writer = WriterProcess(table, idle_checkpoint_units=idle_units)
        try:
            for i in range(120):
                await writer.run(functools.partial(insert, name=f"n{i:03d}"))
                await asyncio.sleep(0.01)
        finally:
            await writer.aclose()

    asyncio.run(scenario())
    wal = Path(str(table.url.database) + "-wal")
    pages = (wal.stat().st_size - 32) // (4096 + 24)  # header, then (frame header + page)s
    assert len(names(table)) == 120
    assert pages < 80 if idle_units else pages > 200
