"""The webhook's unit of work runs in the thread pool, with the request's context: on SQLite
one at a time, in the order the requests came; elsewhere side by side."""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from contextvars import ContextVar
from typing import NamedTuple

from sqlalchemy import create_engine

from sms.inbound import in_worker

request_id: ContextVar[str] = ContextVar("request_id", default="-")


class Ran(NamedTuple):
    name: str
    request_id: str
    thread: int
    started: float
    ended: float


def work(log: list[Ran], name: str) -> str:
    started = time.perf_counter()
    time.sleep(0.02)
    log.append(Ran(name, request_id.get(), threading.get_ident(), started, time.perf_counter()))
    return name


def run_all(url: str, names: list[str]) -> tuple[list[str], list[Ran]]:
    log: list[Ran] = []
    engine = create_engine(url)  # not connected: only its dialect is read

    async def one(name: str) -> str:
        request_id.set(f"req-{name}")
        return await in_worker(engine, functools.partial(work, log, name))

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(name) for name in names)))

    return asyncio.run(main()), log


def test_on_sqlite_units_of_work_take_turns_in_arrival_order() -> None:
    names = [str(n) for n in range(6)]
    answers, log = run_all("sqlite://", names)
    assert answers == names
    assert [ran.name for ran in log] == names  # first come, first served
    assert threading.main_thread().ident not in {ran.thread for ran in log}
    assert all(ran.request_id == f"req-{ran.name}" for ran in log)  # the request's context
    assert all(a.ended <= b.started for a, b in itertools.pairwise(log))  # never two at once


def test_elsewhere_units_of_work_run_side_by_side() -> None:
    names = [str(n) for n in range(4)]
    answers, log = run_all("postgresql+psycopg://nobody@127.0.0.1:1/none", names)
    assert answers == sorted(answers) == names
    assert all(ran.request_id == f"req-{ran.name}" for ran in log)
    assert len({ran.thread for ran in log}) > 1
