"""`wattdesk bench console-live`: the staff console's live events under load. The sms-inbound
bench's server and signed BILL webhooks, with CLIENTS Server-Sent Events streams open on
`/api/v1/conversations/events`: for every message, the time from the webhook's answer to its
`message.in` event at every client, and how many events never came."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import col

from bench.machine import CpuTimes, cpu_times
from bench.sms_inbound import Connections, bill_requests
from billing_core.clock import SystemClock
from billing_core.db import create_db_engine, session_scope
from billing_core.staff.service import add_staff
from billing_core.transcripts.tables import Conversation

EVENTS_PATH = "/api/v1/conversations/events"
DRAIN_SECONDS = 5.0  # after the last webhook, how long late events are waited for


def add_agent(url: str) -> tuple[str, str]:
    """A staff user for the streams (any role may read them)."""
    username, password = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    engine = create_db_engine(url)
    with session_scope(engine) as session:
        add_staff(session=session, clock=SystemClock(), username=username, role="agent",
                  password=password, actor="bench")  # fmt: skip
    engine.dispose()
    return username, password


def conversations_by_phone(url: str) -> dict[str, int]:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        found = connection.execute(
            select(col(Conversation.address), col(Conversation.id)).where(
                col(Conversation.channel) == "sms"
            )
        ).all()
    engine.dispose()
    return {address: int(conversation_id or 0) for address, conversation_id in found}


@dataclass
class Client:
    """One stream: when each conversation's `message.in` events arrived, in order."""

    arrivals: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    events: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None


async def follow(base_url: str, auth: tuple[str, str], client: Client) -> None:
    """Read the stream (a bare asyncio client, as the webhooks' is) until cancelled."""
    host, _, port = base_url.removeprefix("http://").rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    writer.write(
        f"GET {EVENTS_PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    loop = asyncio.get_running_loop()
    try:
        status = (await reader.readline()).split()
        if len(status) < 2 or status[1] != b"200":
            client.error = f"status {status[1:2]}"
            client.connected.set()
            return
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        kind = b""
        buffer = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                client.error = client.error or "the stream ended"
                return
            now = loop.time()
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"retry:"):
                    client.connected.set()
                elif line.startswith(b"event: "):
                    kind = line[7:]
                elif line.startswith(b"data: ") and kind == b"message.in":
                    # chunked transfer: a chunk-size line may precede a field, never split one
                    client.arrivals[json.loads(line[6:])["conversation_id"]].append(now)
                    client.events += 1
    finally:
        writer.close()


@dataclass(frozen=True)
class LiveReport:
    clients: int
    messages: int
    seconds: float
    webhook_alone_ms: list[float]  # answer latencies without streams open
    webhook_ms: list[float]  # with the streams open
    latencies_ms: list[float]  # answer -> event, every message at every client
    lost: int
    errors: list[str]
    cpu: tuple[CpuTimes | None, CpuTimes | None]


async def _send_at_rate(
    connections: Connections, requests: list[bytes], rate: float
) -> tuple[list[float], list[float]]:
    """Open loop at `rate`; each request's answer time and latency (ms)."""
    loop = asyncio.get_running_loop()
    answered = [0.0] * len(requests)
    latency = [0.0] * len(requests)

    async def one(index: int, due: float) -> None:
        status, _ = await connections.send(requests[index])
        answered[index] = loop.time() if status == 200 else float("nan")
        latency[index] = (loop.time() - due) * 1000

    start = loop.time() + 0.05
    tasks = []
    for index in range(len(requests)):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    return answered, latency


async def measure(
    base_url: str,
    url: str,
    phones: list[str],
    auth: tuple[str, str],
    *,
    clients: int,
    rate: float,
    seconds: float,
) -> LiveReport:
    count = max(1, round(rate * seconds))
    connections = await Connections(base_url, 16).open()
    gc.collect()
    gc.freeze()  # as sms-inbound: the seeding client's heap stays out of the collector
    streams: list[Client] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        # warm-up and the baseline: the same webhooks with no stream open
        await _send_at_rate(connections, bill_requests(base_url, phones, 50, first=0), rate)
        _, alone = await _send_at_rate(
            connections, bill_requests(base_url, phones, count, first=0), rate
        )
        streams = [Client() for _ in range(clients)]
        tasks = [asyncio.create_task(follow(base_url, auth, c)) for c in streams]
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in streams)), 60)
        # the server closed the webhooks' connections while they idled (keep-alive time-out)
        await connections.close()
        connections = await Connections(base_url, 16).open()
        start = cpu_times()
        requests = bill_requests(base_url, phones, count, first=0)  # request i: number i
        answered, with_streams = await _send_at_rate(connections, requests, rate)
        end = cpu_times()
        expected = count * clients
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_SECONDS
        while sum(c.events for c in streams) < expected and loop.time() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        gc.unfreeze()
        await connections.close()
    by_phone = conversations_by_phone(url)
    # A number's messages are answered one after another (a second apart or more), so its
    # k-th answer is its conversation's k-th message.in event at each client.
    answers: dict[int, list[float]] = defaultdict(list)
    unanswered: set[int] = set()  # a webhook not answered 200: its number is left out
    for index, at in enumerate(answered):
        conversation_id = by_phone.get(phones[index % len(phones)], 0)
        answers[conversation_id].append(at)
        if at != at:  # NaN
            unanswered.add(conversation_id)
    latencies: list[float] = []
    lost = 0
    for stream in streams:
        for conversation_id, times in answers.items():
            if conversation_id in unanswered:
                continue
            arrived = stream.arrivals.get(conversation_id, [])
            lost += max(0, len(times) - len(arrived))
            latencies += [(got - sent) * 1000 for sent, got in zip(times, arrived, strict=False)]
    errors = [s.error for s in streams if s.error and s.error != "the stream ended"]
    if unanswered:
        errors.append(f"{sum(1 for at in answered if at != at)} webhooks not answered 200")
    return LiveReport(
        clients, count, seconds, alone, with_streams, latencies, lost, errors, (start, end)
    )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
