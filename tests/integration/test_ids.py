"""Ids in paths: a number no id column can hold (beyond 64 bits, or beyond PostgreSQL's
INTEGER), zero, negative or not a number names no row, so every id route answers 404, never
500 (driver overflow) or 422, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.deps import MAX_ID, id_or_none
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import Settings
from billing_core.staff.service import add_staff
from tests.conftest import migrated_database

PASSWORD = "a-long-enough-password-for-tests"
BAD_IDS = [
    "99999999999999999999999", str(2**70), str(2**64), str(2**63), str(MAX_ID + 1), "0", "-1",
    "abc", "1.5",
]  # fmt: skip


@pytest.fixture(scope="module")
def ids_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of each kind for this module (its staff users stay out of the shared one)."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("ids")) as engine:
        yield engine


@pytest.fixture
def app(settings: Settings, ids_engine: Engine) -> FastAPI:
    return create_app(settings, engine=ids_engine, configure_logs=False)


@pytest.fixture
def admin(ids_engine: Engine, clock: FixedClock) -> tuple[str, str]:
    """An admin (every role check passes), so only the id decides the answer."""
    username = f"admin-{uuid.uuid4().hex[:12]}"
    with session_scope(ids_engine) as session:
        add_staff(session=session, clock=clock, username=username, role="admin",
                  password=PASSWORD, actor="test")  # fmt: skip
    return username, PASSWORD


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def id_routes(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path, integer path parameters) of every route in the API document taking an
    integer from its path."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            ints = [
                parameter["name"]
                for parameter in operation.get("parameters", [])
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer"
            ]
            if ints:
                found.append((method.upper(), path, ints))
    return found


def test_every_integer_path_id_is_an_id_route(app: FastAPI) -> None:
    # The next test covers whatever routes exist; this one keeps it from passing vacuously.
    assert {(method, path) for method, path, _ in id_routes(app)} >= {
        ("POST", "/api/v1/payments/{payment_id}/refunds"),
        ("POST", "/api/v1/refunds/{refund_id}/approve"),
        ("POST", "/api/v1/refunds/{refund_id}/refunded"),
        ("POST", "/api/v1/refunds/{refund_id}/reject"),
        ("POST", "/api/v1/bills/{bill_id}/approve"),
        ("POST", "/api/v1/bills/{bill_id}/correct"),
    }


@pytest.mark.parametrize("bad", BAD_IDS)
def test_every_id_route_answers_404_for_an_id_no_row_can_have(
    app: FastAPI, client: TestClient, admin: tuple[str, str], bad: str
) -> None:
    for method, path, names in id_routes(app):
        url = path
        for name in names:
            url = url.replace(f"{{{name}}}", bad)
        answer = client.request(method, url, json={}, auth=admin)
        assert answer.status_code == 404, (method, url, answer.status_code, answer.text)
        assert answer.json() == {"detail": "Not Found", "error": "not_found"}


def test_the_largest_storable_id_reaches_the_database_and_is_not_found(
    client: TestClient, admin: tuple[str, str]
) -> None:
    answer = client.post(f"/api/v1/refunds/{MAX_ID}/approve", auth=admin)
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
    assert "refund" in answer.json()["detail"]  # the core's NotFound, not the path check


def test_a_body_error_is_still_422(client: TestClient, admin: tuple[str, str]) -> None:
    answer = client.post("/api/v1/refunds/1/reject", json={}, auth=admin)
    assert answer.status_code == 422


@pytest.mark.parametrize("bad", [*BAD_IDS, "²", "٣"])
def test_pay_pages_answer_their_404_page_for_an_id_no_row_can_have(
    client: TestClient, bad: str
) -> None:
    for method, url in (
        ("GET", f"/receipts/{bad}/abcdef"),
        ("GET", f"/sandbox/checkout/{bad}"),
        ("POST", f"/sandbox/checkout/{bad}"),
    ):
        answer = client.request(method, url, data={"outcome": "succeeded"})
        assert answer.status_code == 404, (method, url, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")


def test_id_or_none() -> None:
    assert id_or_none("1") == 1
    assert id_or_none(str(MAX_ID)) == MAX_ID
    for bad in [*BAD_IDS, "²", "٣", "", " 1", "+1", "0" * 30 + "1"]:
        assert id_or_none(bad) is None
