"""The live-event stream through a real server (uvicorn on loopback, in a thread), on SQLite
and PostgreSQL: a client that drops out and comes back with its Last-Event-ID gets every
event published meanwhile (by the conversation services), in order, none twice; then the
live ones."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session

from api.app import create_app
from billing_core.clock import FixedClock, SystemClock
from billing_core.conversations.agents import release, send_agent_message, take_over
from billing_core.conversations.model import InboundMessage
from billing_core.conversations.service import conversation_context, receive_message
from billing_core.db import session_scope
from billing_core.live import service as live
from billing_core.settings import load_settings
from billing_core.staff import passwords
from billing_core.staff.service import add_staff
from tests.conftest import migrated_database
from tests.integration.live.sse import read_events

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PASSWORD = "a-long-enough-password-for-tests"


@pytest.fixture(scope="module")
def live_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("live")) as engine:
        yield engine


@pytest.fixture(scope="module")
def agent(live_engine: Engine) -> tuple[str, str]:
    passwords._hasher = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),))
    username = f"agent-{uuid.uuid4().hex[:8]}"
    with session_scope(live_engine) as session:
        add_staff(session=session, clock=FixedClock(NOW), username=username, role="agent",
                  password=PASSWORD, actor="test")  # fmt: skip
    return username, PASSWORD


@pytest.fixture(scope="module")
def server(live_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("live-data"), _env_file=None)
    app = create_app(settings, engine=live_engine, clock=SystemClock(), configure_logs=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    assert not thread.is_alive(), "the server did not stop (a stream kept it up?)"
    sock.close()


def texted(engine: Engine, phone: str, body: str) -> int:
    """A customer's SMS received (and answered) by the conversation service; its conversation."""
    settings = load_settings(_env_file=None)
    with session_scope(engine) as session:
        inbound = InboundMessage("sms", phone, body, f"SM{uuid.uuid4().hex}", SystemClock().now())
        return receive_message(
            session=session, clock=SystemClock(), context=conversation_context(settings),
            inbound=inbound,
        ).conversation_id  # fmt: skip


def stored_after(engine: Engine, after: int) -> list[int]:
    with Session(engine) as session:
        return [row.id for row in live.events_after(session, after_id=after)]


def latest(engine: Engine) -> int:
    with Session(engine) as session:
        return live.latest_id(session)


def test_a_client_catches_up_on_what_it_missed_then_follows_live(
    server: str, live_engine: Engine, agent: tuple[str, str]
) -> None:
    phone = f"+86138{uuid.uuid4().int % 10**8:08d}"
    start = latest(live_engine)
    # connected: a customer asks for a person, the client sees it happen
    first = read_events(server, auth=agent, count=3, after=start,
                        then=lambda: texted(live_engine, phone, "人工"))  # fmt: skip
    assert [e.kind for e in first] == ["message.in", "message.out", "conversation.state"]
    conversation_id = first[0].data["conversation_id"]
    assert first[0].data["author"] == "customer" and first[0].data["body"] == "人工"
    assert first[2].data["state"] == "queued" and first[2].data["agent"] is None
    last_seen = first[-1].id

    # disconnected: an agent takes it over, writes, gives it back; the customer writes
    clock = SystemClock()
    with session_scope(live_engine) as session:
        take_over(session=session, clock=clock, conversation_id=conversation_id, agent="wang")
    with session_scope(live_engine) as session:
        send_agent_message(session=session, clock=clock, conversation_id=conversation_id,
                           agent="wang", body="您好，我来帮您")  # fmt: skip
    texted(live_engine, phone, "谢谢")
    with session_scope(live_engine) as session:
        release(session=session, clock=clock, conversation_id=conversation_id, agent="wang")
    missed = stored_after(live_engine, last_seen)
    assert len(missed) == 4

    # back with its last id: all four in order, then a live one
    again = read_events(server, auth=agent, count=5, last_event_id=last_seen,
                        then=lambda: texted(live_engine, phone, "BILL"))  # fmt: skip
    assert [e.id for e in again[:4]] == missed
    assert [e.kind for e in again[:4]] == [
        "conversation.state",
        "message.out",
        "message.in",
        "conversation.state",
    ]
    assert again[0].data["agent"] == "wang" and again[0].data["state"] == "agent"
    assert again[1].data["author"] == "agent" and again[1].data["body"] == "您好，我来帮您"
    assert again[3].data["state"] == "bot"
    assert again[4].kind == "message.in" and again[4].data["body"] == "BILL"
    ids = [e.id for e in again]
    assert ids == sorted(set(ids)) and ids[0] > last_seen
    assert all(e.data["conversation_id"] == conversation_id for e in [*first, *again])
    assert all(e.data["at"].endswith("+00:00") for e in again)


def test_last_event_id_wins_over_after_and_none_means_live_only(
    server: str, live_engine: Engine, agent: tuple[str, str]
) -> None:
    phone = f"+86139{uuid.uuid4().int % 10**8:08d}"
    texted(live_engine, phone, "HELP")  # two events (message.in, message.out) stored
    before = latest(live_engine)
    resumed = read_events(server, auth=agent, count=1, last_event_id=before - 1, after=0)
    assert [e.id for e in resumed] == [before]
    live_only = read_events(server, auth=agent, count=1,
                            then=lambda: texted(live_engine, phone, "HELP"))  # fmt: skip
    assert live_only[0].id > before and live_only[0].kind == "message.in"


def test_the_stream_needs_a_signed_in_staff_user(server: str) -> None:
    response = httpx.get(f"{server}/api/v1/conversations/events", timeout=5)
    assert response.status_code == 401
    wrong = httpx.get(f"{server}/api/v1/conversations/events", auth=("nobody", "x" * 20),
                      timeout=5)  # fmt: skip
    assert wrong.status_code == 401
    bad = httpx.get(f"{server}/api/v1/conversations/events?after=-1", timeout=5,
                    auth=("nobody", "x" * 20))  # fmt: skip
    assert bad.status_code in (401, 422)
