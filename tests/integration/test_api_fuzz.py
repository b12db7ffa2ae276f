"""The staff API fuzzed from its own OpenAPI document (schemathesis): every operation under
/api/v1, with generated paths, queries and bodies, signed in as an admin (HTTP Basic), on
SQLite and PostgreSQL with a little data (tests/integration/dashboard/seed.py) so that ids
and account numbers reach real rows now and then. The check: never a 5xx."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import load_settings
from tests.conftest import migrated_database
from tests.integration.dashboard.seed import ADMIN, NOW, PASSWORD, seed_dashboard

AUTH = {"Authorization": "Basic " + base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()}
# Small: the whole module (every operation, both databases) stays under a minute (42 s).
EXAMPLES = 12
STREAM = "/api/v1/conversations/events"


@pytest.fixture(scope="module")
def fuzz_client(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    directory: Path = tmp_path_factory.mktemp("fuzz")
    with migrated_database(db_kind, directory) as engine:
        with session_scope(engine) as session:
            seed_dashboard(session)
        app = create_app(
            load_settings(data_dir=directory, _env_file=None),
            engine=engine, clock=FixedClock(NOW), configure_logs=False,
        )  # fmt: skip
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client


def staff_operations(client: TestClient) -> list[schemathesis.APIOperation]:
    document = client.app.openapi()  # type: ignore[attr-defined]
    # The event stream never ends (a request to it would wait for ever): it is read through
    # a real server in tests/integration/live/test_events_stream.py.
    schema = (
        schemathesis.openapi.from_dict(document)
        .include(path_regex=r"^/api/v1/")
        .exclude(path=STREAM)
    )
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.filterwarnings("ignore:Setting per-request cookies")
def test_the_staff_api_never_answers_a_server_error(fuzz_client: TestClient) -> None:
    operations = staff_operations(fuzz_client)
    assert len(operations) >= 10  # the staff API is there, not an empty document
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same examples every run: a failure is reproducible
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def fuzz(case: schemathesis.Case) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=AUTH)
            for unused in ("timeout", "allow_redirects", "verify"):
                kwargs.pop(unused, None)
            response = fuzz_client.request(**kwargs)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            fuzz()
        except Exception as exc:  # every operation is fuzzed; all failures reported at once
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
