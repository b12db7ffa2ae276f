"""`wattdesk bench sms-inbound`: a real server (uvicorn, one worker) on loopback receives
signed 'BILL' webhooks from verified numbers, at a fixed rate and then as fast as it can
answer, and the same for a trivial endpoint of the same app (/healthz)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import Engine, func, select
from sqlmodel import col

from bench.machine import CpuTimes, cpu_times
from billing_core.bills.backfill import post_missing_charges
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.run import run_bills
from billing_core.bills.tables import Bill
from billing_core.clock import SystemClock
from billing_core.customers.tables import Account, Contact
from billing_core.db import create_db_engine, session_scope
from billing_core.db.migrate import upgrade
from billing_core.payments.tables import PayLink
from billing_core.seed.service import seed_population
from billing_core.settings import Settings
from billing_core.tariffs.catalog import TariffCatalog
from billing_core.transcripts.tables import ConversationMessage
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, sign

BENCH_TOKEN = "bench-auth-token"  # the server under test is given it; not a secret
TRIVIAL_PATH = "/healthz"
WARM_UP = 100
MONTHS = 3
SEED = 6


@dataclass(frozen=True)
class Measured:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    pay_links: int  # answers that carry a pay link

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("inf")

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the database and the server -----------------------------------------------------------


def fresh_database(bench_dir: Path) -> str:
    path = bench_dir / "sms-inbound.sqlite3"
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return f"sqlite:///{path.as_posix()}"


def prepare_database(url: str, *, customers: int, settings: Settings) -> list[str]:
    """Migrate, seed `customers` customers, bill the last cycle and post the charges (as
    `wattdesk demo` does); returns the verified SMS numbers of accounts with a bill."""
    engine = create_db_engine(url)
    clock = SystemClock()
    upgrade(engine)
    with session_scope(engine) as session:
        seed_population(session=session, customers=customers, months=MONTHS, seed=SEED,
                        until=None, clock=clock, timezone=settings.timezone)  # fmt: skip
    tariffs = TariffCatalog.load(settings.tariff_dir)
    thresholds = ReviewThresholds.from_policy(load_review_policy(settings.policy_dir))
    today = clock.now().astimezone(settings.tz).date()
    for back in range(31, -1, -1):
        run_bills(engine=engine, clock=clock, run_date=today - timedelta(days=back),
                  tz=settings.tz, tariffs=tariffs, thresholds=thresholds)  # fmt: skip
    with session_scope(engine) as session:
        post_missing_charges(session=session, clock=clock, tz=settings.tz)
    phones = _billed_numbers(engine)
    engine.dispose()
    return phones


def _billed_numbers(engine: Engine) -> list[str]:
    billed = select(col(Bill.account_id)).where(col(Bill.status) == "issued")
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(col(Contact.address))
                .join(Account, col(Account.customer_id) == col(Contact.customer_id))
                .where(col(Contact.channel) == "sms", col(Contact.verified).is_(True),
                       col(Account.id).in_(billed))
                .order_by(col(Contact.address))
                .distinct()
            ).scalars()
        )  # fmt: skip


def counts(url: str) -> tuple[int, int]:
    """Conversation messages and pay links stored."""
    engine = create_db_engine(url)
    with engine.connect() as connection:
        messages = connection.execute(select(func.count()).select_from(ConversationMessage))
        links = connection.execute(select(func.count()).select_from(PayLink))
        result = (int(messages.scalar_one()), int(links.scalar_one()))
    engine.dispose()
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def running_server(
    url: str, bench_dir: Path, port: int, log_path: Path
) -> AbstractContextManager[str]:
    """`wattdesk serve` (uvicorn, one worker) in a subprocess on a loopback port, checking
    Twilio's signatures with the bench's token."""
    return serving(url, bench_dir, port, log_path, {"WATTDESK_TWILIO_AUTH_TOKEN": BENCH_TOKEN})


@contextmanager
def serving(
    url: str, bench_dir: Path, port: int, log_path: Path, settings: Mapping[str, str]
) -> Iterator[str]:
    """`wattdesk serve` (uvicorn, one worker) in a subprocess on a loopback port, with these
    WATTDESK_ settings besides the database, data directory and base URL."""
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTDESK_")}
    env.update({
        "WATTDESK_DATABASE_URL": url, "WATTDESK_DATA_DIR": str(bench_dir),
        "WATTDESK_PUBLIC_BASE_URL": base_url, **settings,
        "WATTDESK_LOG_FORMAT": "json",
        # A web worker as at scale: the timed jobs and the dispatcher run elsewhere.
        "WATTDESK_SCHEDULER_ENABLED": "false",
    })  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_until_healthy(process, base_url, log_path)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}; see {log_path}")
        try:
            if httpx.get(base_url + TRIVIAL_PATH, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer {TRIVIAL_PATH} within 60 s; see {log_path}")


# --- the requests ----------------------------------------------------------------------------


def _request(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SendersRound:
    """Where the next batch of requests starts round the senders: each batch goes on where
    the last one stopped. With more senders than requests in a run (`--customers`), every
    BILL is its sender's first and is given a new pay link (a sender who asks again is
    offered the same link again: docs/payments.md)."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> int:
        start, self.next = self.next, self.next + count
        return start


SENDERS = SendersRound()


def bill_requests(
    base_url: str, phones: list[str], count: int, *, first: int | None = None
) -> list[bytes]:
    """`count` signed BILL webhooks, each with its own MessageSid, round the numbers: from
    the `first`-th (request i from number first + i), or where the last batch stopped."""
    url = base_url + INBOUND_PATH
    host = base_url.removeprefix("http://")
    start = SENDERS.take(count) if first is None else first
    prepared = []
    for index in range(count):
        sid = "SM" + uuid.uuid4().hex
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                "From": phones[(start + index) % len(phones)], "To": "+15005550006", "Body": "BILL",
                "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"}  # fmt: skip
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: sign(token=BENCH_TOKEN, url=url, params=form),
        }
        prepared.append(_request("POST", INBOUND_PATH, host, headers, urlencode(form).encode()))
    return prepared


def trivial_requests(base_url: str, count: int) -> list[bytes]:
    return [_request("GET", TRIVIAL_PATH, base_url.removeprefix("http://"), {})] * count


class Connections:
    """Keep-alive HTTP/1.1 connections to the server, one request at a time on each. A
    bare asyncio client: httpx spends ~2.5 ms of CPU a request, and on a small machine the
    client would be measured instead of the server."""

    def __init__(self, base_url: str, count: int) -> None:
        host, _, port = base_url.removeprefix("http://").rpartition(":")
        self.host, self.port, self.count = host, int(port), count
        self.free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        self.free = asyncio.Queue()

    async def open(self) -> Connections:
        for _ in range(self.count):
            self.free.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def close(self) -> None:
        while not self.free.empty():
            _, writer = self.free.get_nowait()
            writer.close()

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """(status, body); status 0 when the connection failed (it is opened again)."""
        reader, writer = await self.free.get()
        try:
            writer.write(raw)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            writer.close()
            reader, writer = await asyncio.open_connection(self.host, self.port)
            return 0, b""
        finally:
            self.free.put_nowait((reader, writer))
        return status, body


async def _send(connections: Connections, request: bytes) -> tuple[bool, bool]:
    """(answered 200, the answer carries a pay link)."""
    status, body = await connections.send(request)
    return status == 200, b"/p/" in body


async def fixed_rate(connections: Connections, requests: list[bytes], rate: float) -> Measured:
    """Open loop: request i leaves at start + i/rate whether or not earlier ones were
    answered (waiting for a free connection if need be); its latency counts from that
    moment, so a server that falls behind is not hidden by a client that waits for it."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    outcomes: list[tuple[bool, bool]] = []

    async def one(request: bytes, due: float) -> None:
        outcomes.append(await _send(connections, request))
        latencies.append((loop.time() - due) * 1000)

    start = loop.time() + 0.05
    tasks = []
    for index, request in enumerate(requests):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    seconds = loop.time() - start
    return _measured(requests, seconds, latencies, outcomes)


async def saturated(connections: Connections, requests: list[bytes]) -> Measured:
    """Closed loop: each connection sends its next request as soon as the last one is
    answered: the most the server answers per second."""
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    outcomes: list[tuple[bool, bool]] = []
    queue = iter(requests)

    async def worker() -> None:
        for request in queue:
            sent = loop.time()
            outcomes.append(await _send(connections, request))
            latencies.append((loop.time() - sent) * 1000)

    start = loop.time()
    await asyncio.gather(*(worker() for _ in range(connections.count)))
    return _measured(requests, loop.time() - start, latencies, outcomes)


def _measured(
    requests: list[bytes], seconds: float, latencies: list[float],
    outcomes: list[tuple[bool, bool]],
) -> Measured:  # fmt: skip
    errors = sum(1 for ok, _ in outcomes if not ok)
    links = sum(1 for _, link in outcomes if link)
    return Measured(len(requests), seconds, latencies, errors, links)


@dataclass(frozen=True)
class Report:
    bill_fixed: Measured
    trivial_fixed: Measured
    bill_saturated: Measured
    trivial_saturated: Measured
    # the machine's CPU times at the start, after the fixed-rate BILL phase, and at the end
    cpu: tuple[CpuTimes | None, CpuTimes | None, CpuTimes | None] = (None, None, None)
    # answering / healthz req/s of each saturation round, in order; the pair above is the
    # round with the median ratio
    ratios: tuple[float, ...] = ()

    @property
    def ratio(self) -> float:
        return self.bill_saturated.rate / self.trivial_saturated.rate


SATURATION_ROUNDS = 3  # pairs of closed-loop runs: one short run's ratio swings by ±0.07


async def saturation_rounds(
    connections: Connections,
    answering: Callable[[], list[bytes]],
    trivial: Callable[[], list[bytes]],
    rounds: int = SATURATION_ROUNDS,
) -> tuple[Measured, Measured, tuple[float, ...]]:
    """`rounds` pairs of closed-loop runs, the answering endpoint then /healthz each time:
    the pair with the median ratio, and every round's ratio (a single pair of 1.5-second runs
    moved from 0.29 to 0.45 between runs minutes apart on an idle machine)."""
    pairs = []
    for _ in range(rounds):
        answered = await saturated(connections, answering())
        trivially = await saturated(connections, trivial())
        pairs.append((answered.rate / trivially.rate, answered, trivially))
    ratios = tuple(ratio for ratio, _, _ in pairs)
    _, median_answered, median_trivial = sorted(pairs, key=lambda pair: pair[0])[rounds // 2]
    return median_answered, median_trivial, ratios


async def measure(
    base_url: str, phones: list[str], *, requests: int, rate: float, concurrency: int
) -> Report:
    connections = await Connections(base_url, concurrency).open()
    # This process seeded the database: its heap is large, and a full collection in it
    # (60-90 ms) stalls the client, which would count as the server's latency. Everything
    # alive now is kept out of the collector while measuring.
    gc.collect()
    gc.freeze()
    try:
        await saturated(connections, bill_requests(base_url, phones, WARM_UP))
        await saturated(connections, trivial_requests(base_url, WARM_UP))
        start = cpu_times()
        bill_fixed = await fixed_rate(connections, bill_requests(base_url, phones, requests), rate)
        after_fixed = cpu_times()
        trivial_fixed = await fixed_rate(connections, trivial_requests(base_url, requests), rate)
        bill_max, trivial_max, ratios = await saturation_rounds(
            connections, lambda: bill_requests(base_url, phones, requests),
            lambda: trivial_requests(base_url, requests),
        )  # fmt: skip
    finally:
        gc.unfreeze()
        await connections.close()
    return Report(
        bill_fixed,
        trivial_fixed,
        bill_max,
        trivial_max,
        (start, after_fixed, cpu_times()),
        ratios,
    )


def describe(label: str, measured: Measured) -> str:
    extra = f", {measured.errors} errors" if measured.errors else ""
    return (
        f"{label}: {measured.requests:,} requests in {measured.seconds:.2f} s = "
        f"{measured.rate:,.0f} req/s; p50 {measured.percentile(50):.1f} ms, "
        f"p99 {measured.percentile(99):.1f} ms, max {max(measured.latencies_ms):.1f} ms{extra}"
    )
