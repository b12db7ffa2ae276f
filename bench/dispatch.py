"""`wattdesk bench dispatch`: drain an outbox of N messages through the real twilio client to a
fake Twilio API on loopback (its own process), with P dispatcher processes of T sending
threads each, as a deployment at scale runs them; then count what arrived.

The baseline, in the same run: the same P processes of T threads send through the same
transport to the same fake API with no outbox at all (no claim, no record), so the ratio
between the two rates is what the outbox's bookkeeping costs.

The fake server is `bench.fakes.twilio_api`, run as its own process."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from bench.machine import cpu_times, describe_steal
from billing_core.clock import FixedClock
from billing_core.db import create_db_engine
from billing_core.db.fast import bulk_insert
from billing_core.db.migrate import upgrade
from billing_core.dedupe_keys import bench_key
from billing_core.outbox.model import OUTBOX_COLUMNS, REPLY, outbox_row
from billing_core.outbox.service import OUTBOX
from billing_core.outbox.transport import Claimed, Outcome

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAKE_MODULE = "bench.fakes.twilio_api"
ACCOUNT_SID = "AC" + "0" * 30 + "01"  # the fake's (bench/fakes/twilio_api.py)
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
FROM = "+15005550006"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CHUNK = 5000


@dataclass(frozen=True)
class Result:
    messages: int
    seconds: float  # from the start signal to the last dispatcher done
    first_to_last: float  # between the first and the last message the fake API accepted
    accepted: int
    duplicates: int
    sent_rows: int  # outbox rows `sent` with a provider id
    distinct_provider_ids: int
    other_rows: dict[str, int]
    dispatcher_cpu: float  # seconds of CPU the dispatcher processes used draining
    fake_cpu: float  # seconds of CPU the fake Twilio API used
    baseline_messages: int  # sent by the bare transport, no outbox
    baseline_seconds: float
    steal: str | None  # the CPU steal while draining, described

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else float("inf")

    @property
    def paced_rate(self) -> float:
        """Messages per second between the first and the last accepted (what a rate limit
        governs; the start-up of the first claim is outside it)."""
        return (self.accepted - 1) / self.first_to_last if self.first_to_last else float("inf")

    @property
    def baseline_rate(self) -> float:
        return self.baseline_messages / self.baseline_seconds if self.baseline_seconds else 0.0

    @property
    def ratio(self) -> float:
        """The outbox's rate against the bare transport's."""
        return self.rate / self.baseline_rate if self.baseline_rate else 0.0

    @property
    def lost(self) -> int:
        return self.messages - self.sent_rows


def fresh_database(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def fill_outbox(engine: Engine, messages: int) -> None:
    """N pending replies (sent at once: no quiet hours), each to its own number."""
    with engine.begin() as connection:
        for start in range(0, messages, CHUNK):
            rows = [
                outbox_row(
                    dedupe_key=bench_key(i), channel="sms", recipient=f"+8613{i:09d}",
                    template="bench", language="en", body=f"wattdesk bench message {i}",
                    segments=1, kind=REPLY, purpose="", not_before=NOW, created_at=NOW,
                )
                for i in range(start, min(start + CHUNK, messages))
            ]  # fmt: skip
            bulk_insert(connection, OUTBOX, OUTBOX_COLUMNS, rows)


def start_fake_twilio() -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", FAKE_MODULE],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise RuntimeError("the fake Twilio API did not start")
    return process, url


def _dispatcher_process(
    database: str,
    api_base: str,
    senders: int,
    rate: float | None,
    batch: int,
    ready: Any,
    go: Any,
    results: Any,
) -> None:
    """One dispatcher process: the real twilio client, its own engine, T sending threads."""
    from scheduler.dispatcher import Dispatcher
    from sms.transport import TwilioTransport

    engine = create_db_engine(database)
    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, api_base=api_base
    )
    dispatcher = Dispatcher(
        engine=engine,
        clock=FixedClock(NOW),
        transports=[transport],
        tz=ZoneInfo("Asia/Shanghai"),
        batch=batch,
        rate_per_second=rate,
        senders=senders,
    )
    ready.set()
    go.wait()
    started = time.process_time()
    report = dispatcher.drain()
    results.put((report.claimed, dict(report.results), time.process_time() - started))
    engine.dispose()


def _bare_process(
    api_base: str, senders: int, first: int, count: int, ready: Any, go: Any, results: Any
) -> None:
    """The baseline: T threads send `count` messages through the transport, no outbox."""
    from sms.transport import TwilioTransport

    transport = TwilioTransport(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_=FROM, api_base=api_base
    )
    failed = [0] * senders  # each thread counts its own

    def work(thread: int) -> None:
        for i in range(first + thread, first + count, senders):
            message = Claimed(id=i, channel="sms", recipient=f"+8614{i:09d}",
                              body=f"wattdesk bench baseline {i}", kind="reply",
                              template="bench", segments=1, attempts=1)  # fmt: skip
            if transport.send(message).outcome is not Outcome.sent:
                failed[thread] += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(senders)]
    ready.set()
    go.wait()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((count - sum(failed), 0.0))


def _timed(
    processes: int, target: Any, args: Callable[[int], tuple[Any, ...]]
) -> tuple[float, list[Any]]:
    """Start P processes of `target`, let them go together once all are ready, and time
    them until each has put its result."""
    spawn = multiprocessing.get_context("spawn")
    go, results = spawn.Event(), spawn.Queue()
    workers, readies = [], []
    for index in range(processes):
        ready = spawn.Event()
        worker = spawn.Process(target=target, args=(*args(index), ready, go, results))
        worker.start()
        workers.append(worker)
        readies.append(ready)
    for ready in readies:
        ready.wait(120)
    started = time.perf_counter()
    go.set()
    answers = [results.get(timeout=24 * 3600) for _ in workers]
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join()
    return seconds, answers


def run(
    *,
    path: Path,
    messages: int,
    processes: int,
    senders: int,
    rate: float | None,
    batch: int,
    baseline: int,
) -> Result:
    engine = fresh_database(path)
    fill_outbox(engine, messages)
    fake, url = start_fake_twilio()
    try:
        # The rate limit is per process: P processes share the sender's R.
        per_process = rate / processes if rate else None
        before = cpu_times()
        seconds, answers = _timed(
            processes, _dispatcher_process,
            lambda _: (str(engine.url), url, senders, per_process, batch),
        )  # fmt: skip
        steal = describe_steal(before, cpu_times())
        dispatcher_cpu = sum(answer[2] for answer in answers)
        with urllib.request.urlopen(f"{url}/_fake/stats", timeout=10) as response:
            stats = json.load(response)
        share = -(-baseline // processes) if baseline else 0
        baseline_seconds, sent = _timed(
            processes if share else 0, _bare_process,
            lambda index: (url, senders, index * share, share),
        )  # fmt: skip
        baseline_sent = sum(answer[0] for answer in sent)
    finally:
        fake.kill()
        fake.wait()
    with engine.connect() as connection:
        sent_rows = connection.execute(
            select(func.count()).where(OUTBOX.c.status == "sent", OUTBOX.c.provider_id.is_not(None))
        ).scalar_one()
        distinct = connection.execute(
            select(func.count(func.distinct(OUTBOX.c.provider_id)))
        ).scalar_one()
        others: dict[str, int] = dict(
            connection.execute(
                select(OUTBOX.c.status, func.count())
                .where(OUTBOX.c.status != "sent")
                .group_by(OUTBOX.c.status)
            ).all()
        )
    engine.dispose()
    first, last = stats["first_at"] or 0.0, stats["last_at"] or 0.0
    return Result(
        messages=messages,
        seconds=seconds,
        first_to_last=last - first,
        accepted=stats["accepted"],
        duplicates=stats["duplicates"],
        sent_rows=sent_rows,
        distinct_provider_ids=distinct,
        other_rows={str(k): int(v) for k, v in others.items()},
        dispatcher_cpu=dispatcher_cpu,
        fake_cpu=float(stats.get("cpu_seconds") or 0.0),
        baseline_messages=baseline_sent,
        baseline_seconds=baseline_seconds,
        steal=steal,
    )
