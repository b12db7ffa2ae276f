"""`wattdesk demo` on a fresh data directory: healthy within 60 s, ready, seeded, idempotent."""

import subprocess
import sys

import httpx
import pytest

from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e


def test_demo_answers_healthz_within_a_minute(demo_server: RunningServer) -> None:
    assert demo_server.seconds_to_healthy < 60
    assert httpx.get(f"{demo_server.base_url}/readyz").json()["status"] == "ready"


def test_landing_page_lists_the_demo_customers_as_present(demo_server: RunningServer) -> None:
    page = httpx.get(f"{demo_server.base_url}/").text
    for expected in ("李娜", "1000000001", "+8613800000001", "Emma Brown", "1000000002"):
        assert expected in page
    assert "not seeded yet" not in page


def test_prepare_only_is_idempotent_on_the_same_database(demo_server: RunningServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo", "--prepare-only"],
        cwd=demo_server.data_dir,
        env={"WATTDESK_DATA_DIR": str(demo_server.data_dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seeding" not in result.stdout  # already seeded: nothing seeded twice
    assert "agent-demo-2026" in result.stdout  # the demo passwords are printed
