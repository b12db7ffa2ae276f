"""Running one function over parts of a job in forked worker processes, for the bill run's
CPU-bound work (loading, pricing, review) on every core.

The workers are forked once per engine and number, and kept for the life of the process, so
that a cycle of daily runs pays for their start (and their connections' cold caches) once.
Fork, not spawn: a worker starts in milliseconds with everything the parent has imported,
and only the function, its context and the part are pickled for each task. A forked child
must not use its parent's database connections: each worker first drops the pool it
inherited (`dispose(close=False)` leaves the parent's connections alone) and opens its own.
Forking a process that runs other threads can copy a lock held by one of them, so
`can_fork` says no there, and the caller then does the work in-process."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from sqlalchemy import Engine

# Bill runs share their accounts among this many processes unless told otherwise.
DEFAULT_WORKERS = min(os.cpu_count() or 1, 8)

Part = TypeVar("Part")
# (function(engine, lock, context, part), context, part) → result, run in a worker
Work = Callable[[Engine, Any, Any, Any], Any]

_POOLS: dict[tuple[Engine, int], ProcessPoolExecutor] = {}
_WORKER: dict[str, Any] = {}  # in a worker: the engine and the lock it was forked with


def can_fork(engine: Engine, workers: int) -> bool:
    """True when `map_in_forks` can run: its workers are running already, or forking them is
    safe (a POSIX system, and no other thread running in this process)."""
    if (engine, workers) in _POOLS:
        return True
    return (
        sys.platform != "win32"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


def map_in_forks(
    function: Work,
    context: Any,
    parts: Sequence[Part],
    *,
    engine: Engine,
    workers: int,
    while_waiting: Callable[[], None] | None = None,
    poll_seconds: float = 0.5,
) -> list[Any]:
    """`function(engine, lock, context, part)` for each part, in `workers` worker processes
    (each takes the next part when it is done with one), results in the parts' order.
    `engine` is the worker's own (inherited, with fresh connections), `lock` a process lock
    all the pool's workers share (for one writer at a time); `context` and the parts are
    pickled. `while_waiting` runs every `poll_seconds` until all are done (progress). The
    first exception raised in a worker is raised here."""
    pool = _pool(engine, workers)
    try:
        futures = [pool.submit(_run_part, function, context, part) for part in parts]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=poll_seconds, return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                for future in pending:
                    future.cancel()
                break
            if while_waiting is not None:
                while_waiting()
        return [future.result() for future in futures]
    except BrokenProcessPool:
        _POOLS.pop((engine, workers), None)  # a worker died: the next call starts afresh
        raise


def shutdown_workers() -> None:
    """Stop every worker process this process started."""
    while _POOLS:
        _key, pool = _POOLS.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def _pool(engine: Engine, workers: int) -> ProcessPoolExecutor:
    pool = _POOLS.get((engine, workers))
    if pool is None:
        forked = multiprocessing.get_context("fork")
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=forked,
            initializer=_start_worker,
            initargs=(engine, forked.Lock()),  # inherited by the fork, never pickled
        )
        _POOLS[(engine, workers)] = pool
    return pool


def _start_worker(engine: Engine, lock: Any) -> None:
    engine.dispose(close=False)  # the parent's connections stay the parent's
    _WORKER["engine"], _WORKER["lock"] = engine, lock


def _run_part(function: Work, context: Any, part: Any) -> Any:
    return function(_WORKER["engine"], _WORKER["lock"], context, part)
