"""Nothing acknowledged is lost when the server dies: the embedded default (SQLite, a writer
process for units of work) killed with kill -9, web process and writer, then restarted on the
same data directory.

- 200 signed SMS in flight: every message gets exactly one non-empty reply, counting the
  answers that arrived before the kill and Twilio's retries (same MessageSid, same
  parameters) of those that got no complete answer.
- A payment answered 200 by the staff API is in the database after a kill issued the moment
  the answer arrives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from defusedxml import ElementTree
from sqlalchemy import Engine, func, select
from sqlmodel import col

from billing_core.conversations.repository import message_by_provider_id
from billing_core.customers.tables import Contact
from billing_core.db import create_db_engine
from billing_core.payments.tables import Payment
from billing_core.seed.demo import LI_NA
from billing_core.staff.demo import DEMO_STAFF
from billing_core.transcripts.tables import ConversationMessage
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, sign
from tests.e2e.conftest import RunningServer, free_port, start_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the writer in /proc"),
]

TOKEN = "crash-test-auth-token"  # the server under test is given it; not a secret
MESSAGES = 200
KILL_AFTER = 20  # answers received before the kill: the rest are in flight or queued
WRITER_GRACE = 5.0  # seconds the writer may finish its batch after the web process died
DATABASE = "wattdesk.sqlite3"  # the embedded default's file in the data directory


# --- the server: prepared once, started, killed, restarted -------------------------------------


@dataclass
class Server:
    """One data directory and port; started, killed and started again as an operator's
    supervisor would restart it."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    running: RunningServer | None = None
    children: list[int] = field(default_factory=list)  # the writer, started before /healthz

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {
            "WATTDESK_PUBLIC_BASE_URL": self.base_url,
            "WATTDESK_TWILIO_AUTH_TOKEN": TOKEN,
            # the timed jobs and the dispatcher stay out of the way of what is measured
            "WATTDESK_SCHEDULER_ENABLED": "false",
        }
        self.running = start_server(["serve"], self.data_dir, port=self.port, extra_env=env)
        self.children = descendants(self.running.process.pid)
        return self

    def kill(self, *, writer_grace: float = 0.0) -> None:
        """kill -9 the web process, then every process it started (the writer runs in a
        session of its own, so a process group would miss it). With `writer_grace`, the
        writer is given that long first: the batch it is running commits and its answers go
        nowhere (the crash between commit and response)."""
        assert self.running is not None
        web = self.running.process
        _kill(web.pid)  # first, before anything that takes time
        web.wait()
        deadline = time.monotonic() + writer_grace
        while time.monotonic() < deadline and any(_alive(pid) for pid in self.children):
            time.sleep(0.05)
        for pid in self.children:
            _kill(pid)

    def stop(self) -> None:
        if self.running is not None and self.running.process.poll() is None:
            self.running.process.terminate()
            try:
                self.running.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def engine(self) -> Engine:
        return create_db_engine(f"sqlite:///{(self.data_dir / DATABASE).as_posix()}")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every living process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])  # the field after the state
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database, prepared once (migrated, seeded, billed, staff created)."""
    data_dir = tmp_path_factory.mktemp("crash-demo")
    prepared = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo", "--prepare-only"],
        cwd=data_dir, env={**_plain_env(), "WATTDESK_DATA_DIR": str(data_dir)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    return data_dir / DATABASE


@pytest.fixture
def server(demo_database: Path, tmp_path: Path) -> Iterator[Server]:
    """A server of its own on a copy of the demo's database (no server holds it open)."""
    shutil.copyfile(demo_database, tmp_path / DATABASE)
    server = Server(tmp_path).start()
    yield server
    server.stop()


def _plain_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WATTDESK_")}


# --- SMS: 200 in flight, killed, retried --------------------------------------------------------


@dataclass
class Webhook:
    sid: str
    body: bytes
    headers: dict[str, str]
    answers: list[str | None] = field(default_factory=list)  # each complete answer's reply


def webhooks(base_url: str, phones: list[str]) -> list[Webhook]:
    """Signed BILL webhooks, one per MessageSid, round the verified numbers."""
    url = base_url + INBOUND_PATH
    made = []
    for index in range(MESSAGES):
        sid = "SM" + uuid.uuid4().hex
        form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                "From": phones[index % len(phones)], "To": "+15005550006", "Body": "BILL",
                "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"}  # fmt: skip
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   SIGNATURE_HEADER: sign(token=TOKEN, url=url, params=form)}  # fmt: skip
        made.append(Webhook(sid, urlencode(form).encode(), headers))
    return made


def reply_in(twiml: str) -> str | None:
    """The <Message> of a TwiML answer (None: an empty <Response/>)."""
    message = ElementTree.fromstring(twiml).find("Message")
    return message.text if message is not None else None


async def deliver(
    base_url: str,
    pending: list[Webhook],
    *,
    kill_after: int | None = None,
    kill: Callable[[], None] | None = None,
) -> None:
    """Post every webhook at once; a complete answer is recorded on its webhook. With
    `kill_after`, `kill()` is called the moment that many answers have arrived."""
    arrived = 0
    limits = httpx.Limits(max_connections=len(pending), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def post(webhook: Webhook) -> None:
            nonlocal arrived
            try:
                response = await client.post(INBOUND_PATH, content=webhook.body,
                                             headers=webhook.headers)  # fmt: skip
            except httpx.TransportError:
                return  # no complete answer: Twilio retries it
            # an error status is an answer too (Twilio does not retry it): no reply
            webhook.answers.append(reply_in(response.text) if response.status_code == 200 else None)
            arrived += 1
            if arrived == kill_after and kill is not None:
                kill()

        await asyncio.gather(*(post(webhook) for webhook in pending))


def verified_numbers(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(col(Contact.address)).where(
                    col(Contact.channel) == "sms", col(Contact.verified).is_(True)
                ).distinct().order_by(col(Contact.address))
            ).scalars()
        )  # fmt: skip


def inbound_lines(engine: Engine, sids: list[str]) -> dict[str, int]:
    """How many inbound lines each of these MessageSids has (those with any)."""
    with engine.connect() as connection:
        return dict(
            connection.execute(
                select(col(ConversationMessage.provider_message_id), func.count())
                .where(col(ConversationMessage.provider_message_id).in_(sids),
                       col(ConversationMessage.direction) == "in")
                .group_by(col(ConversationMessage.provider_message_id))
            ).all()
        )  # fmt: skip


def test_sms_in_flight_when_the_server_is_killed_each_get_exactly_one_reply(
    server: Server,
) -> None:
    engine = server.engine()
    phones = verified_numbers(engine)
    assert len(phones) >= 20, phones
    sent = webhooks(server.base_url, phones)

    # The web process dies with answers in flight; its writer commits the batch it is
    # running (nobody to answer it to) and is killed in turn.
    asyncio.run(deliver(server.base_url, sent, kill_after=KILL_AFTER,
                        kill=lambda: server.kill(writer_grace=WRITER_GRACE)))  # fmt: skip
    assert server.running is not None and server.running.process.poll() is not None
    unanswered = [webhook for webhook in sent if not webhook.answers]
    # Stored before the kill, its answer lost with the process: what Twilio's retry must get.
    lost_answers = inbound_lines(engine, [w.sid for w in unanswered])
    assert lost_answers, "no answer died with the process: the test proved nothing"

    server.start()
    for _ in range(3):  # Twilio retries what got no complete answer
        asyncio.run(deliver(server.base_url, [w for w in sent if not w.answers]))

    no_reply = [w.sid for w in sent if len(w.answers) != 1 or not w.answers[0]]
    assert not no_reply, (
        f"{len(no_reply)} of {MESSAGES} messages got no reply or more than one ({len(unanswered)}"
        f" retried after the kill, {len(lost_answers)} of them stored before it)"
    )
    # one inbound line per MessageSid
    assert inbound_lines(engine, [w.sid for w in sent]) == {w.sid: 1 for w in sent}
    with engine.connect() as connection:
        for webhook in sent:  # what each customer got is what the transcript says
            seen = message_by_provider_id(connection, "sms", webhook.sid)
            assert seen is not None and seen.reply == webhook.answers[0], webhook.sid
    engine.dispose()


# --- a payment acknowledged, then kill -9 --------------------------------------------------------

CYCLES = 4  # kills, each followed by a restart
AT_ONCE = 3  # payments posted together in each cycle: the kill follows the first answer
COLLECTIONS = next(staff for staff in DEMO_STAFF if staff.role.value == "collections")


def payment(reference: str) -> dict[str, object]:
    paid_at = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    return {"source": "crash-test", "payments": [
        {"channel": "third_party", "reference": reference, "account_number": LI_NA.account_number,
         "amount": "1.00", "paid_at": paid_at},
    ]}  # fmt: skip


async def post_payments(server: Server, references: list[str]) -> list[str]:
    """Post one payment per reference at once and kill the server the moment the first 200
    arrives; the references answered 200 (recorded) before the kill."""
    acknowledged: list[str] = []
    auth = (COLLECTIONS.username, COLLECTIONS.password)
    async with httpx.AsyncClient(base_url=server.base_url, auth=auth, timeout=30) as client:

        async def post(reference: str) -> None:
            try:
                response = await client.post("/api/v1/payments", json=payment(reference))
            except httpx.TransportError:
                return  # killed before it was answered: a bank would send it again
            if not acknowledged:
                server.kill()  # at once: nothing after the answer may be needed for it to last
            assert response.status_code == 200, response.text
            assert response.json()["recorded"] == 1, response.text
            acknowledged.append(reference)

        await asyncio.gather(*(post(reference) for reference in references))
    return acknowledged


def stored_references(engine: Engine, references: list[str]) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.execute(
                select(col(Payment.provider_reference)).where(
                    col(Payment.provider_reference).in_(references)
                )
            ).scalars()
        )


def test_a_payment_answered_200_survives_a_kill_the_moment_the_answer_arrives(
    server: Server,
) -> None:
    engine = server.engine()
    acknowledged: list[str] = []
    for cycle in range(CYCLES):
        if cycle:
            server.start()  # the operator's restart, on the same data directory
            assert stored_references(engine, acknowledged) == set(acknowledged)
        references = [f"CRASH-{uuid.uuid4().hex[:12]}" for _ in range(AT_ONCE)]
        answered = asyncio.run(post_payments(server, references))
        assert answered, "no payment was answered"
        acknowledged += answered
    assert stored_references(engine, acknowledged) == set(acknowledged)  # after the last kill
    server.start()
    assert stored_references(engine, acknowledged) == set(acknowledged)
    engine.dispose()
