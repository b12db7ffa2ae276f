"""`POST /sms/twilio/status`: Twilio's delivery receipts, signature-checked, update the outbox
row with that MessageSid and the conversation line linked to it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import col, select

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.health.service import delivery_counts
from billing_core.outbox.service import REPLY
from billing_core.outbox.tables import OptOut, OutboxMessage
from billing_core.settings import Settings, load_settings
from billing_core.transcripts.tables import Conversation, ConversationMessage
from sms.signature import SIGNATURE_HEADER, sign
from sms.transport import STATUS_PATH
from tests.conftest import migrated_database
from tests.integration.outbox.helpers import put

TOKEN = "status-callback-test-token-0123456789"
PUBLIC = "https://desk.example.com"
CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def status_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("status-db")) as engine:
        yield engine


@pytest.fixture(scope="module")
def status_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        data_dir=tmp_path_factory.mktemp("status"),
        _env_file=None,
        twilio_auth_token=TOKEN,
        public_base_url=PUBLIC,
    )


@pytest.fixture(scope="module")
def client(status_settings: Settings, status_engine: Engine) -> Iterator[TestClient]:
    app = create_app(status_settings, engine=status_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def sent_message(engine: Engine, *, conversation: bool = False) -> tuple[str, str]:
    """An outbox row the dispatcher sent: its dedupe key and its Twilio MessageSid."""
    key, sid = f"status:{uuid.uuid4().hex}", "SM" + uuid.uuid4().hex
    to = f"+86135{uuid.uuid4().int % 10**8:08d}"
    with session_scope(engine) as session:
        put(session, CLOCK, to, key, kind=REPLY)
        session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.dedupe_key) == key)
            .values(status="sent", provider_id=sid, attempts=1, sent_at=CLOCK.now())
        )
        if conversation:
            chat = Conversation(
                channel="sms",
                address=to,
                language="en",
                created_at=CLOCK.now(),
                last_message_at=CLOCK.now(),
            )
            session.add(chat)
            session.flush()
            outbox_id = session.exec(
                select(OutboxMessage.id).where(col(OutboxMessage.dedupe_key) == key)
            ).one()
            session.add(
                ConversationMessage(
                    conversation_id=chat.id or 0,
                    direction="out",
                    author="bot",
                    channel="sms",
                    body="hi",
                    status="sent",
                    outbox_message_id=outbox_id,
                    created_at=CLOCK.now(),
                )
            )
    return key, sid


def receipt(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    form = {
        "AccountSid": "AC" + "1" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+8613500000000",
        "From": "+15005550006",
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


def post(
    client: TestClient, form: dict[str, str], *, signature: str | None = None, token: str = TOKEN
) -> httpx.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature != "":
        headers[SIGNATURE_HEADER] = signature or sign(
            token=token, url=PUBLIC + STATUS_PATH, params=form
        )
    return client.post(STATUS_PATH, content=urlencode(form).encode(), headers=headers)


def row(engine: Engine, key: str) -> OutboxMessage:
    with session_scope(engine) as session:
        return session.exec(select(OutboxMessage).where(col(OutboxMessage.dedupe_key) == key)).one()


def test_delivered_receipt_marks_the_message_and_its_conversation_line_delivered(
    client: TestClient, status_engine: Engine
) -> None:
    key, sid = sent_message(status_engine, conversation=True)
    assert post(client, receipt(sid, "delivered")).status_code == 204
    message = row(status_engine, key)
    assert (message.status, message.delivered_at) == ("delivered", CLOCK.now())
    with session_scope(status_engine) as session:
        line = session.exec(
            select(ConversationMessage).where(
                col(ConversationMessage.outbox_message_id) == message.id
            )
        ).one()
    assert line.status == "delivered"
    # A late "sent" receipt does not take a delivered message back.
    assert post(client, receipt(sid, "sent")).status_code == 204
    assert row(status_engine, key).status == "delivered"


def test_undelivered_unreachable_handset_is_retried_later(
    client: TestClient, status_engine: Engine
) -> None:
    key, sid = sent_message(status_engine)
    assert post(client, receipt(sid, "undelivered", "30003")).status_code == 204
    message = row(status_engine, key)
    assert message.status == "pending" and message.provider_id is None
    assert message.error_code == "30003" and sid in message.error_detail
    assert message.next_attempt_at is not None and message.next_attempt_at > CLOCK.now()
    assert message.next_attempt_at <= CLOCK.now() + timedelta(seconds=36)


def test_undelivered_for_good_is_failed_with_its_code(
    client: TestClient, status_engine: Engine
) -> None:
    key, sid = sent_message(status_engine)
    assert post(client, receipt(sid, "undelivered", "30006")).status_code == 204
    message = row(status_engine, key)
    assert (message.status, message.error_code) == ("failed", "30006")


def test_failed_21610_opts_the_number_out(client: TestClient, status_engine: Engine) -> None:
    key, sid = sent_message(status_engine)
    assert post(client, receipt(sid, "failed", "21610")).status_code == 204
    message = row(status_engine, key)
    assert (message.status, message.error_code) == ("failed", "21610")
    with session_scope(status_engine) as session:
        opt_out = session.exec(select(OptOut).where(col(OptOut.address) == message.recipient)).one()
    assert opt_out.source == "provider 21610"


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "wrong-token"])
def test_unsigned_or_wrongly_signed_receipt_is_refused_and_changes_nothing(
    client: TestClient, status_engine: Engine, signature: str
) -> None:
    key, sid = sent_message(status_engine)
    form = receipt(sid, "delivered")
    if signature == "wrong-token":
        response = post(client, form, token="not-our-token")
    else:
        response = post(client, form, signature=signature)
    assert response.status_code == 403
    assert row(status_engine, key).status == "sent"


def test_signature_over_another_url_is_refused(client: TestClient, status_engine: Engine) -> None:
    key, sid = sent_message(status_engine)
    form = receipt(sid, "delivered")
    signature = sign(token=TOKEN, url="https://elsewhere.example.com" + STATUS_PATH, params=form)
    assert post(client, form, signature=signature).status_code == 403
    assert row(status_engine, key).status == "sent"


def test_receipt_for_an_unknown_message_is_accepted_and_ignored(client: TestClient) -> None:
    assert post(client, receipt("SM" + "f" * 32, "delivered")).status_code == 204


def sms_failures(engine: Engine) -> tuple[int, int]:
    """The SMS attempts and failures the delivery watch would count now."""
    with session_scope(engine) as session:
        counts = delivery_counts(session, since=CLOCK.now() - timedelta(minutes=15))
    sms = counts.get("sms")
    return (sms.attempts, sms.failures) if sms else (0, 0)


def test_a_sent_message_reported_undelivered_counts_once_for_the_delivery_watch(
    client: TestClient, status_engine: Engine
) -> None:
    attempts, failures = sms_failures(status_engine)
    _, lost = sent_message(status_engine)
    assert post(client, receipt(lost, "undelivered", "30006")).status_code == 204
    assert post(client, receipt(lost, "undelivered", "30006")).status_code == 204  # repeated
    _, retried = sent_message(status_engine)
    assert post(client, receipt(retried, "undelivered", "30003")).status_code == 204
    _, arrived = sent_message(status_engine)
    assert post(client, receipt(arrived, "delivered")).status_code == 204
    _, refused = sent_message(status_engine)
    assert post(client, receipt(refused, "failed", "21610")).status_code == 204  # an opt-out
    # Two failures (the permanent one once, the transient one), no new attempt: the
    # dispatcher counted each attempt when Twilio accepted it.
    assert sms_failures(status_engine) == (attempts, failures + 2)
