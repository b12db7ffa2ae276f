"""`POST /sms/twilio/status` at the edge, on SQLite and PostgreSQL: a request without a
signature is refused before its body is read; a signed receipt with fields no Twilio
receipt has is a 400 (and a warning), never a 500, whatever its fields hold."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.settings import Settings, load_settings
from sms.signature import SIGNATURE_HEADER, sign
from sms.transport import STATUS_PATH
from tests.conftest import migrated_database

TOKEN = "status-refusal-test-token-0123456789"
PUBLIC = "http://127.0.0.1:8000"
CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def refusals_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("status-edge")) as engine:
        yield engine


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, refusals_engine: Engine) -> FastAPI:
    settings: Settings = load_settings(
        data_dir=tmp_path_factory.mktemp("status-edge"), _env_file=None, twilio_auth_token=TOKEN
    )
    return create_app(settings, engine=refusals_engine, clock=CLOCK, configure_logs=False)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:  # a server error raises here
        yield test_client


def post_signed(client: TestClient, form: Mapping[str, str | Sequence[str]]) -> httpx.Response:
    pairs = [(k, v) for k, vs in form.items() for v in ([vs] if isinstance(vs, str) else vs)]
    signature = sign(token=TOKEN, url=PUBLIC + STATUS_PATH, params=form)
    return client.post(
        STATUS_PATH, content=urlencode(pairs).encode(),
        headers={**FORM, SIGNATURE_HEADER: signature},
    )  # fmt: skip


def test_without_a_signature_the_body_is_not_read(app: FastAPI) -> None:
    pulled = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            pulled.append(1)
            yield b"MessageSid=SM1&MessageStatus=delivered&"

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            return await http.post(STATUS_PATH, content=body(), headers=FORM)

    answer = asyncio.run(go())
    assert answer.status_code == 403
    assert pulled == []


@pytest.mark.parametrize(
    "fields",
    [
        {"MessageSid": "SM\x00" + "1" * 32},
        {"MessageSid": "SM" + "a" * 80},
        {"MessageSid": "not a sid"},
        {"MessageSid": ["SM" + "1" * 32, "SM" + "2" * 32]},
        {"MessageStatus": "delivered\x00"},
        {"MessageStatus": ["delivered", "failed"]},
        {"ErrorCode": "30003x"},
        {"ErrorCode": "٣٠٠٠٣"},  # digits to str.isdigit, not to Twilio
        {"ErrorCode": "9" * 5000},
    ],
)
def test_a_signed_receipt_with_malformed_fields_is_a_bad_request(
    client: TestClient, fields: dict[str, str | list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    form: dict[str, str | list[str]] = {
        "MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "undelivered", "ErrorCode": "30003",
    }  # fmt: skip
    form.update(fields)
    with caplog.at_level(logging.WARNING, logger="wattdesk.sms.status"):
        answer = post_signed(client, form)
    assert answer.status_code == 400, answer.text
    assert any("refused (400)" in record.getMessage() for record in caplog.records)


def test_a_well_formed_receipt_is_still_accepted(client: TestClient) -> None:
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "failed", "ErrorCode": "30008"}
    assert post_signed(client, form).status_code == 204
    assert (
        post_signed(client, {"SmsSid": "SM" + uuid.uuid4().hex, "SmsStatus": "sent"}).status_code
        == 204
    )


RECEIPT_FIELDS = ["MessageSid", "SmsSid", "MessageStatus", "SmsStatus", "ErrorCode", "To", "From"]
ODD = st.text(alphabet=st.characters(codec="utf-8"), max_size=80)


@hypothesis_settings(
    max_examples=80, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(
    fields=st.dictionaries(
        st.sampled_from(RECEIPT_FIELDS),
        st.one_of(ODD, st.lists(ODD, min_size=2, max_size=3)),
        max_size=6,
    ),
    status=st.sampled_from(["delivered", "undelivered", "failed", "sent", "queued", "read"]),
)
def test_fuzzed_signed_receipts_never_fail_with_a_server_error(
    client: TestClient, fields: dict[str, str | list[str]], status: str
) -> None:
    form: dict[str, str | list[str]] = {"MessageSid": "SM" + uuid.uuid4().hex,
                                        "MessageStatus": status, **fields}  # fmt: skip
    answer = post_signed(client, form)
    assert answer.status_code in (204, 400), answer.text
