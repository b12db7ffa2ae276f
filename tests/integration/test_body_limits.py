"""Body limits (api/limits.py) through the whole app, on SQLite and PostgreSQL: a body over
its route's limit is refused with 413 when its Content-Length says so, and when a chunked
body (no Content-Length) or one longer than its Content-Length grows past the limit, after
reading no more than the limit and one chunk; bodies within the limit are answered as
before. Each webhook and a staff route."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.routing import Match

from api.app import create_app
from api.limits import (
    BULK_MAX_BODY,
    DEFAULT_MAX_BODY,
    LIMITS,
    STRIPE_MAX_BODY,
    TWILIO_MAX_BODY,
    limit_for,
)
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import Settings, load_settings
from billing_core.staff.service import add_staff
from sms.inbound import INBOUND_PATH
from sms.signature import SIGNATURE_HEADER, sign
from sms.transport import STATUS_PATH
from tests.conftest import migrated_database
from tests.fakes.stripe_api import WEBHOOK_SECRET, checkout_event, encode
from tests.fakes.stripe_api import sign as stripe_sign

CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
TOKEN = "body-limit-test-token-0123456789"
PUBLIC = "http://127.0.0.1:8000"
STRIPE = "/payments/stripe/webhook"
STAFF = "/api/v1/refunds/1/reject"  # the default limit; reads its body after sign-in
PASSWORD = "a-long-enough-password-for-tests"
CHUNK = 16 * 1024
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def limits_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("limits")) as engine:
        yield engine


@pytest.fixture(scope="module")
def limits_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        data_dir=tmp_path_factory.mktemp("limits"), _env_file=None, twilio_auth_token=TOKEN,
        stripe_webhook_secret=WEBHOOK_SECRET,
    )  # fmt: skip


@pytest.fixture(scope="module")
def app(limits_settings: Settings, limits_engine: Engine) -> Iterator[FastAPI]:
    app = create_app(limits_settings, engine=limits_engine, clock=CLOCK, configure_logs=False)
    yield app
    app.state.services.units.close()


@pytest.fixture(scope="module")
def admin(limits_engine: Engine) -> tuple[str, str]:
    username = f"admin-{uuid.uuid4().hex[:12]}"
    with session_scope(limits_engine) as session:
        add_staff(session=session, clock=CLOCK, username=username, role="admin",
                  password=PASSWORD, actor="test")  # fmt: skip
    return username, PASSWORD


@dataclass
class Body:
    """A body streamed in CHUNK-sized pieces (chunked: httpx sends no Content-Length for an
    iterator), counting what the app pulled of it."""

    total: int
    pulled: int = 0
    chunks: list[int] = field(default_factory=list)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            piece = min(CHUNK, self.total - self.pulled)
            self.pulled += piece
            yield b"x" * piece


def post(app: FastAPI, path: str, content: bytes | Body, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            return await http.post(path, content=content, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


# Each route: its limit, and what makes the app read its body (a signature header, staff
# credentials).
def routes(admin: tuple[str, str]) -> list[tuple[str, int, dict[str, object]]]:
    return [
        (INBOUND_PATH, TWILIO_MAX_BODY, {"headers": {**FORM, SIGNATURE_HEADER: "x"}}),
        (STATUS_PATH, TWILIO_MAX_BODY, {"headers": {**FORM, SIGNATURE_HEADER: "x"}}),
        (STRIPE, STRIPE_MAX_BODY, {"headers": {"Stripe-Signature": "t=1,v1=x"}}),
        (STAFF, DEFAULT_MAX_BODY, {"headers": {"Content-Type": "application/json"}, "auth": admin}),
    ]


def test_the_limits_are_the_documented_ones() -> None:
    assert limit_for(INBOUND_PATH) == limit_for(STATUS_PATH) == TWILIO_MAX_BODY == 64 * 1024
    assert limit_for(STRIPE) == STRIPE_MAX_BODY == 512 * 1024
    assert limit_for("/telegram/webhook") == 1024 * 1024
    assert limit_for("/api/v1/readings") == limit_for("/api/v1/payments") == BULK_MAX_BODY
    assert BULK_MAX_BODY == 20 * 1024 * 1024
    assert limit_for("/api/v1/payments/7/refunds") == limit_for(STAFF) == DEFAULT_MAX_BODY


def posts_to_a_route(app: FastAPI, path: str) -> bool:
    scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "headers": [],
             "query_string": b""}  # fmt: skip
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def test_every_line_of_the_table_names_a_route(app: FastAPI) -> None:
    """A renamed route must not silently lose its limit (Telegram's is set ahead of it)."""
    examples = {"/sms/twilio/": [INBOUND_PATH, STATUS_PATH], "/telegram/": []}
    for limit in LIMITS:
        paths = examples.get(limit.path, [limit.path])
        assert all(limit.matches(path) and posts_to_a_route(app, path) for path in paths), limit
    assert not posts_to_a_route(app, "/no/such/route")


def test_a_declared_length_over_the_limit_is_refused_before_anything_is_read(
    app: FastAPI, admin: tuple[str, str]
) -> None:
    for path, _, kwargs in routes(admin):
        body = Body(100 * 1024 * 1024)
        headers = {**kwargs["headers"], "Content-Length": str(body.total)}  # type: ignore[dict-item]
        answer = post(app, path, body, **{**kwargs, "headers": headers})
        assert answer.status_code == 413, (path, answer.status_code, answer.text)
        assert answer.json()["error"] == "payload_too_large"
        assert answer.headers["connection"] == "close"
        assert body.pulled == 0, (path, body.pulled)
        assert "x-request-id" in answer.headers  # inside the request-id middleware


def test_a_chunked_body_is_refused_when_it_passes_the_limit(
    app: FastAPI, admin: tuple[str, str]
) -> None:
    for path, limit, kwargs in routes(admin):
        body = Body(100 * 1024 * 1024)
        answer = post(app, path, body, **kwargs)
        assert answer.status_code == 413, (path, answer.status_code, answer.text)
        assert answer.json()["error"] == "payload_too_large"
        # Read until the limit was passed, and not a chunk further.
        assert limit < body.pulled <= limit + CHUNK, (path, body.pulled)


def test_a_body_longer_than_its_content_length_is_counted(
    app: FastAPI, admin: tuple[str, str]
) -> None:
    for path, limit, kwargs in routes(admin):
        headers = {**kwargs["headers"], "Content-Length": "10"}  # type: ignore[dict-item]
        answer = post(app, path, b"x" * (limit + 1), **{**kwargs, "headers": headers})
        assert answer.status_code == 413, (path, answer.status_code, answer.text)


def test_a_body_at_the_limit_reaches_the_route(app: FastAPI, admin: tuple[str, str]) -> None:
    """Exactly the limit, chunked: the route answers it as it would any bad request."""
    expected = {INBOUND_PATH: 403, STATUS_PATH: 403, STRIPE: 400, STAFF: 422}
    for path, limit, kwargs in routes(admin):
        answer = post(app, path, Body(limit), **kwargs)
        assert answer.status_code == expected[path], (path, answer.status_code, answer.text)


# --- within the limit, answered as before ----------------------------------------------------


def twilio_form(sid: str) -> dict[str, str]:
    return {"MessageSid": sid, "From": f"+86139{uuid.uuid4().int % 10**8:08d}",
            "To": "+15005550006", "Body": "HELP", "NumMedia": "0"}  # fmt: skip


async def once(content: bytes) -> AsyncIterator[bytes]:
    yield content  # one chunk without a Content-Length, as a chunked request


def test_a_signed_sms_within_the_limit_is_answered_chunked_or_not(app: FastAPI) -> None:
    for chunked in (False, True):
        form = twilio_form("SM" + uuid.uuid4().hex)
        encoded = urlencode(form).encode()
        headers = {**FORM, SIGNATURE_HEADER: sign(token=TOKEN, url=PUBLIC + INBOUND_PATH,
                                                   params=form)}  # fmt: skip
        answer = post(app, INBOUND_PATH, once(encoded) if chunked else encoded, headers=headers)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text
        assert "<Message>" in answer.text


def test_a_signed_delivery_report_within_the_limit_is_accepted(app: FastAPI) -> None:
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "delivered"}
    headers = {**FORM, SIGNATURE_HEADER: sign(token=TOKEN, url=PUBLIC + STATUS_PATH, params=form)}
    answer = post(app, STATUS_PATH, once(urlencode(form).encode()), headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 204


def test_a_signed_stripe_event_within_the_limit_is_acknowledged(app: FastAPI) -> None:
    payload = encode(checkout_event("payment_intent.created", {"id": "cs_test_1"}))
    answer = post(
        app, STRIPE, once(payload.encode()), headers={"Stripe-Signature": stripe_sign(payload)}
    )  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "ignored"


def test_a_staff_request_within_the_limit_is_answered(app: FastAPI, admin: tuple[str, str]) -> None:
    answer = post(
        app, STAFF, b'{"reason": "a duplicate"}', headers={"Content-Type": "application/json"},
        auth=admin,
    )  # fmt: skip
    assert answer.status_code == 404, answer.text  # no refund 1: the route read the body
    assert answer.json()["error"] == "not_found"


def test_a_form_route_whose_framework_catches_the_failed_read_still_answers_413(
    app: FastAPI,
) -> None:
    """FastAPI turns an error while reading a form into its own 400: the 413 wins."""
    body = Body(100 * 1024 * 1024)
    answer = post(app, "/sandbox/checkout/1", body, headers=FORM)
    assert answer.status_code == 413, answer.text
    assert DEFAULT_MAX_BODY < body.pulled <= DEFAULT_MAX_BODY + CHUNK
