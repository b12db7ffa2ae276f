"""The web app through its ASGI client: health, readiness, request ids, logs, landing page."""

import dataclasses
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from api.app import create_app
from api.logging_setup import configure_logging
from billing_core.app_services import Services, services
from billing_core.db import create_db_engine
from billing_core.settings import Settings


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine, configure_logs=False)) as test_client:
        yield test_client


def test_healthz_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ready_on_a_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok"}


def test_readyz_is_not_ready_before_migrations(settings: Settings, empty_engine: Engine) -> None:
    with TestClient(create_app(settings, engine=empty_engine, configure_logs=False)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "newest is" in response.json()["checks"]["migrations"]


def test_readyz_is_not_ready_when_the_database_is_unreachable(settings: Settings) -> None:
    unreachable = create_db_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    with TestClient(create_app(settings, engine=unreachable, configure_logs=False)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unreachable")


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32


def json_log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The JSON log records written to stderr so far."""
    return [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]


def test_json_logs_carry_the_request_id_and_never_a_secret(
    settings: Settings, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "top-secret-signing-key-42"
    json_settings = settings.model_copy(
        update={"log_format": "json", "secret_key": SecretStr(secret)}
    )
    try:
        app = create_app(json_settings, engine=engine)
        with TestClient(app) as client:
            client.get("/healthz", headers={"X-Request-ID": "req-777"})
        logging.getLogger("wattdesk.test").warning("leaking %s by mistake", secret)
        lines = json_log_lines(capsys)
    finally:
        logging.getLogger().handlers.clear()
    access = [line for line in lines if line.get("path") == "/healthz"]
    assert access and access[0]["request_id"] == "req-777" and access[0]["status"] == 200
    assert all(secret not in json.dumps(line) for line in lines)
    assert any("********" in line["message"] for line in lines)


def test_landing_page_tells_a_newcomer_where_to_go(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "wattdesk" in page.text
    for link in ("/docs", "/healthz", "/readyz"):
        assert f'href="{link}"' in page.text


def test_openapi_is_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "wattdesk"


def test_configure_logging_is_idempotent(settings: Settings) -> None:
    configure_logging(settings)
    configure_logging(settings)
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger().handlers.clear()


def test_landing_page_offers_the_simulator_only_outside_production(
    settings: Settings, engine: Engine
) -> None:
    with TestClient(create_app(settings, engine=engine, configure_logs=False)) as client:
        assert 'href="/simulator"' in client.get("/").text
    production = settings.model_copy(update={"env": "production"})
    app = create_app(settings, engine=engine, configure_logs=False)
    # the page reads the settings each request
    app.state.services = dataclasses.replace(app.state.services, settings=production)
    with TestClient(app) as client:
        assert 'href="/simulator"' not in client.get("/").text


def test_a_request_id_that_is_too_long_or_unprintable_is_replaced(client: TestClient) -> None:
    for bad in ("x" * 65, "abc\x7f"):
        made = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert made != bad and len(made) == 32


def test_an_unhandled_error_is_logged_with_its_request_id_and_answered_500(
    settings: Settings, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    json_settings = settings.model_copy(update={"log_format": "json"})
    try:
        app = create_app(json_settings, engine=engine)

        @app.get("/boom")
        def boom() -> None:
            raise RuntimeError("boom")

        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/boom", headers={"X-Request-ID": "req-500"}).status_code == 500
        lines = json_log_lines(capsys)
    finally:
        logging.getLogger().handlers.clear()
    errors = [line for line in lines if line.get("path") == "/boom"]
    assert len(errors) == 1 and errors[0]["message"] == "unhandled error"
    assert errors[0]["status"] == 500 and errors[0]["request_id"] == "req-500"
    assert "RuntimeError: boom" in errors[0]["exc"]


def test_while_serving_what_start_up_made_is_left_out_of_full_collections(
    settings: Settings, engine: Engine
) -> None:
    import gc

    app = create_app(settings, engine=engine, configure_logs=False)
    assert gc.get_freeze_count() == 0
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == 0


class Part:
    """A background part (as the scheduler is) that says when it ran."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def start(self) -> "Part":
        self.log.append(f"start {self.name}")
        return self

    def shutdown(self) -> None:
        self.log.append(f"stop {self.name}")


def test_the_apps_services_are_one_typed_container_and_its_lifespan_runs_the_parts(
    settings: Settings, engine: Engine
) -> None:
    events: list[str] = []
    parts = [Part("jobs", events), Part("bot", events)]
    app = create_app(settings, engine=engine, configure_logs=False, background=parts)
    found = app.state.services
    assert isinstance(found, Services)
    assert (found.settings, found.engine, found.background) == (settings, engine, tuple(parts))
    assert found.units.engine is engine
    assert found.units.kind == ("direct" if engine.dialect.name != "sqlite" else "process")
    assert events == []  # made, not started
    with TestClient(app) as client:
        assert services(client) is found
        assert events == ["start jobs", "start bot"]
        assert client.get("/healthz").status_code == 200
    assert events == ["start jobs", "start bot", "stop bot", "stop jobs"]
    assert found.units.writer is None  # the writer, if one ran, finished and went
