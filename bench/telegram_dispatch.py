"""`wattdesk bench telegram-dispatch`: drain an outbox of bill notices to Telegram chats through
the real aiogram client to a fake Bot API on loopback (its own process), at the bot's rate
limit, and check what Telegram would see: the rate, every notice once, and never two messages
to one chat less than a second apart.

Every chat gets a notice; some get two or three (their rows next to each other, the worst
case for the per-chat spacing). The notices carry a pay-link button, as real ones do.

The fake server is `bench.fakes.telegram_api`, run as its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select

from bench.fakes.telegram_api import TOKEN
from bench.machine import cpu_times, describe_steal
from billing_core.db import create_db_engine
from billing_core.db.fast import bulk_insert
from billing_core.db.migrate import upgrade
from billing_core.dedupe_keys import bench_key
from billing_core.outbox.model import AUTOMATED, OUTBOX_COLUMNS, outbox_row
from billing_core.outbox.service import OUTBOX

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAKE_MODULE = "bench.fakes.telegram_api"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai: notices may go
TZ = ZoneInfo("Asia/Shanghai")
FIRST_CHAT = 900_000_000
SECOND_EVERY, THIRD_EVERY = 50, 150  # chats with a second (third) notice
CHUNK = 5000


class RunningClock:
    """NOW, moving with real time: retries and put-back messages fall due as they would."""

    def __init__(self, start: datetime) -> None:
        self._start, self._started = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)


@dataclass(frozen=True)
class Result:
    messages: int
    chats: int
    chats_with_more: int  # chats that got two or three notices
    seconds: float  # the drain, start to end
    first_to_last: float  # between the first and the last message the fake API accepted
    accepted: int
    duplicates: int
    refused: int
    delivered_rows: int  # outbox rows delivered with a provider id
    distinct_provider_ids: int
    other_rows: dict[str, int]
    chat_gaps_under_1s: int
    min_chat_gap: float | None
    max_per_second: int
    dispatcher_cpu: float
    fake_cpu: float
    steal: str | None

    @property
    def paced_rate(self) -> float:
        """Messages per second between the first and the last accepted (what the limit
        governs; the first claim's start-up is outside it)."""
        return (self.accepted - 1) / self.first_to_last if self.first_to_last else float("inf")

    @property
    def lost(self) -> int:
        return self.messages - self.delivered_rows


def plan(chats: int) -> list[int]:
    """The chat of each notice, in outbox order: every chat once, with its second and third
    notices right after its first (the worst case for the spacing: they must wait while the
    rest go). Only chats in the first two thirds get more than one, so the last seconds do
    not measure a bot waiting for one chat with nothing else to send."""
    order = []
    for index in range(chats):
        order.extend([FIRST_CHAT + index] * copies(index, chats))
    return order


def copies(index: int, chats: int) -> int:
    if 3 * index >= 2 * chats:
        return 1
    return 1 + (index % SECOND_EVERY == 0) + (index % THIRD_EVERY == 0)


def fresh_database(path: Path) -> Engine:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def fill_outbox(engine: Engine, chats: list[int]) -> None:
    """One pending bill notice per entry of `chats`, each with its own pay-link button."""
    with engine.begin() as connection:
        for start in range(0, len(chats), CHUNK):
            rows = [_notice(i, chats[i]) for i in range(start, min(start + CHUNK, len(chats)))]
            bulk_insert(connection, OUTBOX, OUTBOX_COLUMNS, rows)


def _notice(i: int, chat: int) -> tuple[object, ...]:
    url = f"https://desk.example.com/pay/bench{i:06d}"
    return outbox_row(
        dedupe_key=bench_key(i), channel="telegram", recipient=str(chat),
        template="bill_notice", language="en",
        body=f"wattdesk: your bill #{i} is CNY 123.45, due 10 Dec. Pay: {url}",
        segments=1, kind=AUTOMATED, purpose="", not_before=NOW, created_at=NOW,
        payload=json.dumps({"buttons": [[{"text": "Pay 缴费", "url": url}]]}),
    )  # fmt: skip


def start_fake(*, enforce_limits: bool) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", FAKE_MODULE] + (["--enforce-limits"] if enforce_limits else [])
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise RuntimeError("the fake Telegram Bot API did not start")
    return process, url


def run(
    *,
    path: Path,
    chats: int,
    rate: float,
    batch: int,
    senders: int,
    enforce_limits: bool = False,
) -> Result:
    from bot.transport import TelegramTransport
    from scheduler.dispatcher import Dispatcher

    order = plan(chats)
    engine = fresh_database(path)
    fill_outbox(engine, order)
    fake, url = start_fake(enforce_limits=enforce_limits)
    transport = TelegramTransport(token=TOKEN, api_base=url)
    try:
        dispatcher = Dispatcher(
            engine=engine, clock=RunningClock(NOW), transports=[transport], tz=TZ,
            batch=batch, rate_per_second=None, channel_rates={"telegram": rate},
            senders=senders,
        )  # fmt: skip
        before = cpu_times()
        cpu_started, started = time.process_time(), time.perf_counter()
        # Put-back or retried messages fall due a little later: drain until none is left.
        deadline = started + len(order) / rate * 2 + 60
        while True:
            dispatcher.drain()
            if _pending(engine) == 0 or time.perf_counter() > deadline:
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        dispatcher_cpu = time.process_time() - cpu_started
        steal = describe_steal(before, cpu_times())
        with urllib.request.urlopen(f"{url}/_fake/stats", timeout=10) as response:
            stats = json.load(response)
    finally:
        transport.close()
        fake.kill()
        fake.wait()
    with engine.connect() as connection:
        delivered = connection.execute(
            select(func.count()).where(
                OUTBOX.c.status == "delivered", OUTBOX.c.provider_id.is_not(None)
            )
        ).scalar_one()
        distinct = connection.execute(
            select(func.count(func.distinct(OUTBOX.c.provider_id)))
        ).scalar_one()
        others = connection.execute(
            select(OUTBOX.c.status, func.count())
            .where(OUTBOX.c.status != "delivered")
            .group_by(OUTBOX.c.status)
        ).all()
    engine.dispose()
    first, last = stats["first_at"] or 0.0, stats["last_at"] or 0.0
    return Result(
        messages=len(order),
        chats=chats,
        chats_with_more=sum(1 for i in range(chats) if copies(i, chats) > 1),
        seconds=seconds,
        first_to_last=last - first,
        accepted=stats["accepted"],
        duplicates=stats["duplicates"],
        refused=stats["refused"],
        delivered_rows=delivered,
        distinct_provider_ids=distinct,
        other_rows={str(k): int(v) for k, v in others},
        chat_gaps_under_1s=stats["chat_gaps_under_1s"],
        min_chat_gap=stats["min_chat_gap"],
        max_per_second=stats["max_per_second"],
        dispatcher_cpu=dispatcher_cpu,
        fake_cpu=float(stats.get("cpu_seconds") or 0.0),
        steal=steal,
    )


def _pending(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).where(OUTBOX.c.status.in_(["pending", "sending"]))
            ).scalar_one()
        )
