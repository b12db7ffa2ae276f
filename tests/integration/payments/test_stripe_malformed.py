"""Correctly signed Stripe events that wattdesk cannot apply, on SQLite and PostgreSQL: not
JSON, not an event, or a Checkout event missing a field it is applied by (or holding one of
the wrong type) is refused with 400 and recorded in the audit log, where staff see it; no
signed body, whatever its shape, gets a 500."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import col

from api.app import create_app
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.payments.checkout_events import PAID_EVENTS, REFUSED_EVENT
from billing_core.settings import load_settings
from tests.conftest import migrated_database
from tests.fakes.stripe_api import WEBHOOK_SECRET, checkout_event, encode, sign

CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
WEBHOOK = "/payments/stripe/webhook"
SESSION = {"id": "cs_test_malformed", "object": "checkout.session", "amount_total": 12345,
           "currency": "cny", "client_reference_id": "attempt:999999"}  # fmt: skip


@pytest.fixture(scope="module")
def malformed_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("stripe-malformed")) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, malformed_engine: Engine
) -> Iterator[TestClient]:
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("stripe-malformed"), _env_file=None,
        stripe_webhook_secret=WEBHOOK_SECRET,
    )  # fmt: skip
    app = create_app(settings, engine=malformed_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as test_client:  # a server error raises here
        yield test_client


def deliver(client: TestClient, payload: str) -> Any:
    return client.post(
        WEBHOOK, content=payload.encode(),
        headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
    )  # fmt: skip


def refusals(engine: Engine, entity_id: str | None = None) -> list[AuditEntry]:
    """The audit log's refused Stripe events (about one event id, or all)."""
    query = select(AuditEntry).where(
        col(AuditEntry.entity) == "stripe_event", col(AuditEntry.action) == REFUSED_EVENT
    )
    if entity_id is not None:
        query = query.where(col(AuditEntry.entity_id) == entity_id)
    with session_scope(engine) as session:
        return list(session.scalars(query))


def completed(**changes: Any) -> dict[str, Any]:
    """A signed checkout.session.completed event (for a session wattdesk does not know)."""
    return checkout_event(
        "checkout.session.completed", SESSION, event_id=f"evt_test_{uuid.uuid4().hex[:24]}",
        **changes,
    )  # fmt: skip


def without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    node = changed
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return changed


def replaced(event: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


MALFORMED: list[tuple[str, Any]] = [
    ("no created", lambda e: without(e, "created")),
    ("created is text", lambda e: replaced(e, "yesterday", "created")),
    ("created out of range", lambda e: replaced(e, 10**20, "created")),
    ("created negative", lambda e: replaced(e, -1, "created")),
    ("created is true", lambda e: replaced(e, True, "created")),
    ("no data", lambda e: without(e, "data")),
    ("data is a list", lambda e: replaced(e, [], "data")),
    ("data.object is text", lambda e: replaced(e, "cs_1", "data", "object")),
    ("no session id", lambda e: without(e, "data", "object", "id")),
    ("session id is a number", lambda e: replaced(e, 42, "data", "object", "id")),
    ("session id too long", lambda e: replaced(e, "cs_" + "a" * 300, "data", "object", "id")),
    ("session id with a NUL", lambda e: replaced(e, "cs_\x00", "data", "object", "id")),
    ("amount as text", lambda e: replaced(e, "12345", "data", "object", "amount_total")),
    ("amount as float", lambda e: replaced(e, 123.45, "data", "object", "amount_total")),
    ("amount as bool", lambda e: replaced(e, True, "data", "object", "amount_total")),
    ("amount negative", lambda e: replaced(e, -5, "data", "object", "amount_total")),
    ("currency an object", lambda e: replaced(e, {}, "data", "object", "currency")),
    ("status a list", lambda e: replaced(e, [], "data", "object", "payment_status")),
    ("reference a number", lambda e: replaced(e, 7, "data", "object", "client_reference_id")),
]


@pytest.mark.parametrize(("name", "change"), MALFORMED, ids=[name for name, _ in MALFORMED])
def test_a_signed_checkout_event_missing_what_it_is_applied_by_is_refused_and_recorded(
    client: TestClient, malformed_engine: Engine, name: str, change: Any
) -> None:
    event = change(completed())
    answer = deliver(client, encode(event))
    assert answer.status_code == 400, (name, answer.status_code, answer.text)
    assert answer.json()["detail"].startswith("invalid event")
    (entry,) = refusals(malformed_engine, event["id"])
    assert entry.actor == "stripe"
    assert entry.after is not None and entry.after["type"] == "checkout.session.completed"
    assert entry.after["reason"] in entry.reason


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        "[]",
        "42",
        '"evt_1"',
        "{}",
        '{"id": 42, "type": "checkout.session.completed"}',
        '{"id": "evt_\\u0000", "type": "checkout.session.completed"}',
        '{"id": "evt_1"}',
        '{"id": "evt_1", "type": ["checkout.session.completed"]}',
        '{"id": "evt_1", "type": "checkout.session.completed", "created": NaN}',
        '{"id": "evt_1", "type": "checkout.session.completed", "created": 1' + "0" * 5000 + "}",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=lambda payload: payload[:40],
)
def test_a_signed_body_that_is_no_event_is_refused_and_recorded(
    client: TestClient, malformed_engine: Engine, payload: str
) -> None:
    before = len(refusals(malformed_engine))
    answer = deliver(client, payload)
    assert answer.status_code == 400, answer.text
    assert len(refusals(malformed_engine)) == before + 1


def test_usable_events_are_still_applied_or_acknowledged(client: TestClient) -> None:
    stranger = completed()  # no such session, no such attempt
    assert deliver(client, encode(stranger)).json()["outcome"] == "unknown_session"
    for reference in ("attempt:²", "attempt:" + "9" * 40, "attempt:0", None):
        event = completed(client_reference_id=reference)
        event["data"]["object"]["id"] = f"cs_test_{uuid.uuid4().hex}"
        answer = deliver(client, encode(event))
        assert (answer.status_code, answer.json()["outcome"]) == (200, "unknown_session")
    other = {"id": "evt_test_other", "type": "customer.created", "data": "whatever"}
    assert deliver(client, encode(other)).json()["outcome"] == "ignored"


# --- fuzzed: any shape, never a 500 ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
PATHS = [
    ("id",), ("type",), ("created",), ("data",), ("data", "object"),
    ("data", "object", "id"), ("data", "object", "amount_total"),
    ("data", "object", "currency"), ("data", "object", "client_reference_id"),
    ("data", "object", "payment_status"),
]  # fmt: skip
KINDS = [*PAID_EVENTS, "checkout.session.async_payment_failed", "checkout.session.expired",
         "payment_intent.created"]  # fmt: skip


def mutated(event: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> None:
    node: Any = event
    for key in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(key), dict):
            return  # an earlier mutation replaced the parent
        node = node[key]
    if not isinstance(node, dict):
        return
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


@hypothesis_settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
@given(data=st.data())
def test_fuzzed_signed_events_never_fail_with_a_server_error(
    client: TestClient, data: st.DataObject
) -> None:
    if data.draw(st.booleans(), label="whole body replaced"):
        body: Any = data.draw(JSON_VALUES, label="body")
    else:
        body = checkout_event(data.draw(st.sampled_from(KINDS), label="type"), SESSION)
        for _ in range(data.draw(st.integers(1, 4), label="changes")):
            path = data.draw(st.sampled_from(PATHS), label="path")
            value = data.draw(JSON_VALUES, label="value")
            mutated(body, path, value, data.draw(st.booleans(), label="delete"))
    payload = json.dumps(body)  # NaN and Infinity as Python writes them

    answer = deliver(client, payload)

    event(f"status {answer.status_code}")
    assert answer.status_code in (200, 400), answer.text
