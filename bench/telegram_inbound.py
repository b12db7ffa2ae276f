"""`wattdesk bench telegram-inbound`: a real server (uvicorn, one worker) on loopback receives
Telegram "my bill" updates (/bill from linked chats) on its webhook, at a fixed rate and then
as fast as it can answer, and the same for a trivial endpoint of the same app (/healthz). The
database, the client and the measurements are `bench sms-inbound`'s."""

from __future__ import annotations

import gc
import json
import random
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import insert, select
from sqlmodel import col

from bench.sms_inbound import (
    SENDERS,
    WARM_UP,
    Connections,
    Report,
    _request,
    fixed_rate,
    saturated,
    saturation_rounds,
    serving,
    trivial_requests,
)
from billing_core.clock import SystemClock
from billing_core.customers.tables import Contact, Customer
from billing_core.db import create_db_engine
from billing_core.transcripts.tables import Conversation
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH

BENCH_TOKEN = "123456:bench-telegram-token"  # the server under test is given them; not secrets
BENCH_SECRET = "bench-telegram-webhook-secret-0123456789"
# Nothing listens there: the bench's updates are messages, which call no Bot API method.
CLOSED_API = "http://127.0.0.1:9"
FIRST_USER_ID = 7_000_000_000


def link_chats(url: str, phones: list[str]) -> list[int]:
    """A linked Telegram chat (a verified contact, address = its user id) for each customer
    with one of these verified numbers, and its conversation: a chat links itself through
    the bot (/start, then its shared contact), so a linked chat has one already. Returns the
    user ids."""
    engine = create_db_engine(url)
    now = SystemClock().now()
    with engine.begin() as connection:
        customers = list(
            connection.execute(
                select(col(Contact.customer_id), col(Customer.language))
                .join(Customer, col(Customer.id) == col(Contact.customer_id))
                .where(col(Contact.channel) == "sms", col(Contact.address).in_(phones))
                .distinct()
                .order_by(col(Contact.customer_id))
            ).all()
        )
        users = [FIRST_USER_ID + index for index in range(len(customers))]
        chats = list(zip(customers, users, strict=True))
        connection.execute(
            insert(Contact),
            [{"customer_id": customer, "channel": "telegram", "address": str(user),
              "verified": True, "verified_at": now, "notify": True, "opted_out": False}
             for (customer, _), user in chats],
        )  # fmt: skip
        connection.execute(
            insert(Conversation),
            [{"channel": "telegram", "address": str(user), "customer_id": customer,
              "language": language, "state": "bot", "unrecognised_streak": 0,
              "created_at": now, "last_message_at": now}
             for (customer, language), user in chats],
        )  # fmt: skip
    engine.dispose()
    return users


def running_server(
    url: str, bench_dir: Path, port: int, log_path: Path
) -> AbstractContextManager[str]:
    """`wattdesk serve` (uvicorn, one worker) in a subprocess, the bot on (webhook mode)."""
    return serving(url, bench_dir, port, log_path, {
        "WATTDESK_TELEGRAM_BOT_TOKEN": BENCH_TOKEN,
        "WATTDESK_TELEGRAM_WEBHOOK_SECRET": BENCH_SECRET,
        "WATTDESK_TELEGRAM_API_BASE": CLOSED_API,
    })  # fmt: skip


_update_ids = iter(range(random.randrange(10**8, 10**9), 10**10))


def bill_requests(base_url: str, users: list[int], count: int) -> list[bytes]:
    """`count` "/bill" updates, each with its own update_id, round the linked chats (going on
    where the last batch stopped, as `sms_inbound.bill_requests`)."""
    host = base_url.removeprefix("http://")
    headers = {"Content-Type": "application/json", SECRET_HEADER: BENCH_SECRET}
    prepared, start = [], SENDERS.take(count)
    for index in range(count):
        user = users[(start + index) % len(users)]
        update = {
            "update_id": next(_update_ids),
            "message": {
                "message_id": index + 1, "date": 1_790_000_000,
                "chat": {"id": user, "type": "private", "first_name": "Bench"},
                "from": {"id": user, "is_bot": False, "first_name": "Bench"},
                "text": "/bill", "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
            },
        }  # fmt: skip
        body = json.dumps(update).encode()
        prepared.append(_request("POST", WEBHOOK_PATH, host, headers, body))
    return prepared


async def measure(
    base_url: str, users: list[int], *, requests: int, rate: float, concurrency: int
) -> Report:
    from bench.machine import cpu_times

    connections = await Connections(base_url, concurrency).open()
    gc.collect()
    gc.freeze()  # the seeding left a large heap: no full collection stalls the client
    try:
        await saturated(connections, bill_requests(base_url, users, WARM_UP))
        await saturated(connections, trivial_requests(base_url, WARM_UP))
        start = cpu_times()
        bill_fixed = await fixed_rate(connections, bill_requests(base_url, users, requests), rate)
        after_fixed = cpu_times()
        trivial_fixed = await fixed_rate(connections, trivial_requests(base_url, requests), rate)
        bill_max, trivial_max, ratios = await saturation_rounds(
            connections, lambda: bill_requests(base_url, users, requests),
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
