"""The API edge: every domain error answers its status with one JSON body (and the request's
unit of work rolled back), and every JSON route declares its response model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from api.app import create_app
from api.deps import SessionDep
from billing_core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    UnknownAccount,
    WattdeskError,
)
from billing_core.importing import ImportRefused
from billing_core.payments.providers import ProviderUnavailable
from billing_core.payments.tables import ProviderEvent
from billing_core.policies import PolicyError
from billing_core.seed.service import AlreadySeeded
from billing_core.settings import Settings
from billing_core.tariffs.model import TariffError, UnknownTariff

ERRORS: list[tuple[WattdeskError, int, str]] = [
    (PermissionDenied("role reviewer may not do this"), 403, "permission_denied"),
    (NotFound("bill 7 does not exist"), 404, "not_found"),
    (UnknownAccount("no account 0101"), 404, "not_found"),
    (UnknownTariff("no tariff X"), 404, "not_found"),
    (Conflict("bill 7 is issued, not in review"), 409, "conflict"),
    (AlreadySeeded("the database already holds data"), 409, "conflict"),
    (InvalidInput("a waiver needs a reason"), 422, "invalid_input"),
    (TariffError("a bad tariff"), 422, "invalid_input"),
    (PolicyError("a bad policy"), 422, "invalid_input"),
    (ImportRefused("readings must be a list of objects"), 422, "invalid_input"),
    (ProviderUnavailable("the provider is down"), 503, "provider_unavailable"),
    (WattdeskError("refused by a rule"), 422, "refused"),
]


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    app = create_app(settings, engine=engine, configure_logs=False)

    @app.post("/test/raise/{index}")
    def raise_after_writing(index: int, event_id: str, session: SessionDep) -> None:
        # Written in the request's unit of work, then the error: nothing must be kept.
        session.add(
            ProviderEvent(
                provider="test", event_id=event_id, kind="test",
                received_at=datetime(2026, 11, 26, tzinfo=UTC),
            )
        )  # fmt: skip
        session.flush()
        raise ERRORS[index][0]

    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("index", "expected_status", "name"),
    [(index, code, name) for index, (_, code, name) in enumerate(ERRORS)],
    ids=[type(error).__name__ for error, _, _ in ERRORS],
)
def test_a_domain_error_answers_its_status_and_the_unit_of_work_rolls_back(
    client: TestClient, engine: Engine, index: int, expected_status: int, name: str
) -> None:
    event_id = uuid.uuid4().hex
    response = client.post(f"/test/raise/{index}", params={"event_id": event_id})

    assert response.status_code == expected_status
    assert response.json() == {"detail": str(ERRORS[index][0]), "error": name}
    with Session(engine) as session:
        stored = session.execute(
            select(func.count()).where(col(ProviderEvent.event_id) == event_id)
        ).scalar_one()
    assert stored == 0


STREAMS = {"/api/v1/conversations/events"}


def test_every_json_route_declares_its_response_model(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    routes = {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if path.startswith(("/api/", "/healthz", "/readyz", "/payments/stripe/"))
    }
    assert len(routes) >= 16
    for (path, method), operation in routes.items():
        success = next(code for code in operation["responses"] if code.startswith("2"))
        content = operation["responses"][success]["content"]
        if path in STREAMS:  # Server-Sent Events: its events are described in docs/live.md
            assert list(content) == ["text/event-stream"], (path, list(content))
            continue
        schema = content["application/json"]["schema"]
        assert "$ref" in schema, f"{method.upper()} {path} answers an undescribed body"
