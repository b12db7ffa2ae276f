"""A flood of wrong-password staff POSTs against a running server (the embedded default: a
SQLite file, its writer process) leaves signed SMS replies prompt.

Before, each such POST began SQLite's write transaction and then spent ~100 ms on the
password hash inside it: sixteen clients held the one write lock nearly all the time, and
the replies to signed SMS took 10 s and more. Now the password is checked before any
transaction, off the event loop, and failed sign-ins back off (429 without a hash)."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from billing_core.clock import SystemClock
from billing_core.db import create_db_engine, session_scope
from billing_core.db.migrate import upgrade
from billing_core.settings import DEMO_TWILIO_AUTH_TOKEN, Settings
from billing_core.staff.service import add_staff
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, sign
from tests.e2e.conftest import start_server, stop_server
from tests.e2e.flood_client import flood

pytestmark = pytest.mark.e2e

FLOOD_CLIENTS = 16
FLOOD_SECONDS = 10.0
SMS_PER_SECOND = 4
STAFF = "collections-flood"
PASSWORD = "the-right-password-for-the-flood-test"
# The development server checks Twilio's signature against its public address (the default,
# whatever port it runs on) with the published demo token.
SIGNED_URL = Settings.model_fields["public_base_url"].default + INBOUND_PATH


def prepare(data_dir: Path) -> None:
    """The server's database (the embedded default's file), migrated, with one staff user:
    made here rather than by `wattdesk` commands, each of which takes seconds to start."""
    engine = create_db_engine(f"sqlite:///{data_dir / 'wattdesk.sqlite3'}")
    try:
        upgrade(engine)
        with session_scope(engine) as session:
            add_staff(session=session, clock=SystemClock(), username=STAFF,
                      role="collections", password=PASSWORD, actor="test")  # fmt: skip
    finally:
        engine.dispose()


def signed_sms(index: int) -> tuple[bytes, dict[str, str]]:
    sid = "SM" + uuid.uuid4().hex
    form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": f"+861390000{index:04d}", "To": "+15005550006", "Body": "HELP",
            "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"}  # fmt: skip
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        SIGNATURE_HEADER: sign(token=DEMO_TWILIO_AUTH_TOKEN, url=SIGNED_URL, params=form),
    }
    return urlencode(form).encode(), headers


def test_signed_sms_replies_stay_prompt_under_a_wrong_password_flood(tmp_path: Path) -> None:
    prepare(tmp_path)
    server = start_server(["serve"], tmp_path)
    try:
        spawn = multiprocessing.get_context("spawn")
        started, results = spawn.Event(), spawn.Queue()
        flooder = spawn.Process(
            target=flood,
            args=(server.base_url, STAFF, FLOOD_CLIENTS, FLOOD_SECONDS, started, results),
            daemon=True,
        )
        flooder.start()
        assert started.wait(60), "the flood did not start"
        time.sleep(1.0)  # the flood under way: the first failures are being checked

        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()
        with httpx.Client(base_url=server.base_url, timeout=30) as http:

            def one(index: int, due: float) -> None:
                body, headers = signed_sms(index)
                answer = http.post(INBOUND_PATH, content=body, headers=headers)
                with lock:  # open loop: latency from when it was due, not when it left
                    latencies.append(time.monotonic() - due)
                    statuses.append(answer.status_code)

            start = time.monotonic()
            count = int((FLOOD_SECONDS - 2.0) * SMS_PER_SECOND)
            with ThreadPoolExecutor(max_workers=8) as pool:
                for index in range(count):
                    due = start + index / SMS_PER_SECOND
                    time.sleep(max(0.0, due - time.monotonic()))
                    pool.submit(one, index, due)
        flood_statuses = results.get(timeout=60)
        flooder.join(timeout=30)
    finally:
        log = stop_server(server)

    assert statuses == [200] * count, (Counter(statuses), log[-3000:])
    ordered = sorted(latencies)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    assert p95 < 1.0, (f"p95 {p95:.2f} s, max {ordered[-1]:.2f} s", flood_statuses)
    # The flood was refused as it should be: wrong passwords, then back-off without a hash.
    assert set(flood_statuses) <= {401, 429}, flood_statuses
    assert flood_statuses.get(429, 0) > flood_statuses.get(401, 0), flood_statuses
