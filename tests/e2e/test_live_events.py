"""Live events across web processes, on PostgreSQL: two `wattdesk serve` processes share one
database; a customer's SMS answered by process A reaches a console connected to process B
(LISTEN/NOTIFY), and B's client, dropped and reconnected with its Last-Event-ID, gets every
event A published meanwhile, in order, none twice. The stream also ends when its server is
stopped (uvicorn would otherwise wait for it for ever)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import Session

from billing_core.clock import FixedClock
from billing_core.db import create_db_engine, session_scope
from billing_core.db.migrate import upgrade
from billing_core.live import service as live
from billing_core.staff.service import add_staff
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, sign
from tests.conftest import postgres_database
from tests.e2e.conftest import RunningServer, free_port, start_server, stop_server
from tests.integration.live.sse import read_events

TOKEN = "live-e2e-auth-token"
AGENT = ("agent-live", "a-long-enough-password-for-tests")


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    urls = postgres_database()
    url = next(urls)
    engine = create_db_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        add_staff(session=session, clock=FixedClock(datetime(2026, 11, 26, tzinfo=UTC)),
                  username=AGENT[0], role="agent", password=AGENT[1], actor="test")  # fmt: skip
    engine.dispose()
    yield url
    urls.close()


def serve(url: str, data_dir: Path) -> RunningServer:
    port = free_port()
    return start_server(["serve", "--host", "127.0.0.1"], data_dir, port=port, extra_env={
        "WATTDESK_DATABASE_URL": url, "WATTDESK_TWILIO_AUTH_TOKEN": TOKEN,
        "WATTDESK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "WATTDESK_SCHEDULER_ENABLED": "false",
    })  # fmt: skip


@pytest.fixture(scope="module")
def servers(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[RunningServer, RunningServer]
]:  # fmt: skip
    a = serve(database, tmp_path_factory.mktemp("a"))
    b = serve(database, tmp_path_factory.mktemp("b"))
    yield a, b
    for server in (a, b):
        if server.process.poll() is None:
            stop_server(server)


def text(server: RunningServer, phone: str, body: str) -> None:
    """A signed Twilio webhook to `server`."""
    sid = "SM" + uuid.uuid4().hex
    form = {"MessageSid": sid, "From": phone, "To": "+15005550006", "Body": body}
    signature = sign(token=TOKEN, url=server.base_url + INBOUND_PATH, params=form)
    response = httpx.post(server.base_url + INBOUND_PATH, content=urlencode(form), timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded",
                                   SIGNATURE_HEADER: signature})  # fmt: skip
    assert response.status_code == 200, response.text


def stored_after(url: str, after: int) -> list[int]:
    engine = create_db_engine(url)
    try:
        with Session(engine) as session:
            return [row.id for row in live.events_after(session, after_id=after)]
    finally:
        engine.dispose()


def test_an_event_published_through_a_reaches_a_client_of_b_and_catch_up_works(
    servers: tuple[RunningServer, RunningServer], database: str
) -> None:
    a, b = servers
    phone = f"+86137{uuid.uuid4().int % 10**8:08d}"
    started = time.monotonic()
    first = read_events(b.base_url, auth=AGENT, count=2, then=lambda: text(a, phone, "HELP"))
    assert time.monotonic() - started < 5
    assert [e.kind for e in first] == ["message.in", "message.out"]
    assert first[0].data["body"] == "HELP" and first[1].data["author"] == "bot"
    last_seen = first[-1].id

    for body in ("人工", "BILL", "谢谢"):  # while B's client is away
        text(a, phone, body)
    missed = stored_after(database, last_seen)
    assert len(missed) >= 6  # each: in, out (and the queue's state change)
    again = read_events(b.base_url, auth=AGENT, count=len(missed) + 1, last_event_id=last_seen,
                        then=lambda: text(a, phone, "HELP"))  # fmt: skip
    assert [e.id for e in again[: len(missed)]] == missed
    assert again[-1].kind == "message.in" and again[-1].id > missed[-1]
    bodies = [e.data["body"] for e in again if e.kind == "message.in"]
    assert bodies == ["人工", "BILL", "谢谢", "HELP"]
    assert "conversation.state" in [e.kind for e in again]


def test_a_server_with_an_open_stream_stops(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    _, b = servers
    with httpx.Client(timeout=10) as client, client.stream(
        "GET", f"{b.base_url}/api/v1/conversations/events", auth=AGENT
    ) as response:  # fmt: skip
        assert response.status_code == 200
        started = time.monotonic()
        b.process.terminate()
        b.process.wait(timeout=10)  # the stream ended: uvicorn did not wait for it
        assert time.monotonic() - started < 10
        # uvicorn raises the signal again once it has shut down gracefully
        assert b.process.returncode in (0, -15)
        assert "Waiting for connections to close" not in b.log()
