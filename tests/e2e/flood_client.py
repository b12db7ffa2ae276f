"""Clients that flood the staff API with wrong passwords, run in a process of their own (the
flood test's): this module imports little, so that the process starts at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import httpx

PAYMENT = {"channel": "bank", "reference": "F-1", "account_number": "1000000001",
           "amount": "1.00", "paid_at": "2026-11-25T20:15"}  # fmt: skip


def flood(
    base_url: str,
    username: str,
    clients: int,
    seconds: float,
    started: Event,
    results: Queue[dict[int, int]],
) -> None:
    """`clients` clients POSTing a payment with a wrong password, each again as soon as it is
    answered, for `seconds` from when they are connected (`started` is set then); puts the
    count of each status answered (0: no answer)."""

    body = {"source": "flood", "payments": [PAYMENT]}

    async def client(http: httpx.AsyncClient, statuses: Counter[int], deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                wrong = (username, uuid.uuid4().hex)
                answer = await http.post("/api/v1/payments", auth=wrong, json=body)
                statuses[answer.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1

    async def main() -> dict[int, int]:
        statuses: Counter[int] = Counter()
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
            await http.get("/healthz")
            started.set()
            deadline = time.monotonic() + seconds
            await asyncio.gather(*(client(http, statuses, deadline) for _ in range(clients)))
        return dict(statuses)

    results.put(asyncio.run(main()))
