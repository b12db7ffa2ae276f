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


def test_the_demo_runs_the_bot_offline_for_the_telegram_simulator(
    demo_server: RunningServer,
) -> None:
    """No bot token in the demo: the bot runs offline, so 李娜 can link a Telegram chat by
    sharing her phone and see her bill, as on SMS."""
    base, user = demo_server.base_url, "7100000001"
    with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as client:
        assert "the bot is off" not in client.get("/simulator/telegram").text
        welcome = client.post("/simulator/telegram/send", data={"user": user, "body": "/start"})
        assert 'class="contact"' in welcome.text  # the share-my-phone button
        own_phone = {"user": user, "phone": "+8613800000001", "whose": "own"}
        menu = client.post("/simulator/telegram/contact", data=own_phone)
        try:
            assert "0001" in menu.text and 'value="c:BILL:"' in menu.text
            bill = client.post("/simulator/telegram/press", data={"user": user, "data": "c:BILL:"})
            assert "/p/" in bill.text
        finally:  # the server is shared: her receipts go by SMS again (tests/e2e/test_pay_demo)
            client.post("/simulator/telegram/send", data={"user": user, "body": "/unlink"})
