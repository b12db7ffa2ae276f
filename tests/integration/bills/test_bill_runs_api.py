"""Staff see the scheduled bill runs (SQLite and PostgreSQL): `GET /api/v1/bill-runs` and
`/{id}` with the day's missed readings (role reviewer), and the console page
`/console/bill-runs` listing the runs and one run's missed readings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, insert

from api.app import create_app
from billing_core.bills.run.summary import MISSED, RUN
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import Settings
from billing_core.staff import passwords as staff_passwords
from billing_core.staff.service import add_staff
from tests.integration.console.test_console import Browser, sign_in

PASSWORD = "a-long-enough-password-for-tests"


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        staff_passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


def record_runs(engine: Engine, clock: FixedClock) -> tuple[int, int]:
    """Two days' runs: a catch-up one with two missed readings, and a failed one."""
    now = clock.now()
    common = {"started_at": now - timedelta(minutes=3), "finished_at": now,
              "accounts_due": 40, "in_review": 2, "already_billed": 0}  # fmt: skip
    with session_scope(engine) as session:
        for username, role in (("rita", "reviewer"), ("ann", "agent")):
            add_staff(session=session, clock=clock, username=username, role=role,
                      password=PASSWORD, actor="test")  # fmt: skip
        caught_up = session.execute(insert(RUN).returning(RUN.c.id), {
            **common, "run_date": date(2026, 11, 24), "status": "finished", "catch_up": True,
            "issued": 36, "missed_readings": 2, "failed": 0, "errors": "",
        }).scalar_one()  # fmt: skip
        session.execute(insert(MISSED), [
            {"run_id": caught_up, "account_number": "A-00017", "book_code": "B03",
             "meter_serial": "M-17", "last_read_on": date(2026, 10, 24)},
            {"run_id": caught_up, "account_number": "A-00042", "book_code": None,
             "meter_serial": None, "last_read_on": None},
        ])  # fmt: skip
        failed = session.execute(insert(RUN).returning(RUN.c.id), {
            **common, "run_date": date(2026, 11, 25), "status": "failed", "catch_up": False,
            "issued": 0, "missed_readings": 0, "failed": 0,
            "errors": "RuntimeError: the tariff store is unreachable",
        }).scalar_one()  # fmt: skip
    return int(caught_up), int(failed)


def test_reviewers_list_the_runs_and_read_one_with_its_missed_readings(
    fresh_engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    caught_up, failed = record_runs(fresh_engine, clock)
    app = create_app(settings, engine=fresh_engine, clock=clock, configure_logs=False)
    with TestClient(app) as client:
        assert client.get("/api/v1/bill-runs").status_code == 401
        assert client.get("/api/v1/bill-runs", auth=("ann", PASSWORD)).status_code == 403
        answer = client.get("/api/v1/bill-runs", auth=("rita", PASSWORD))
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert [i["id"] for i in items] == [failed, caught_up]  # newest day first
        assert items[0]["status"] == "failed" and "unreachable" in items[0]["errors"]
        assert items[1]["catch_up"] is True and items[1]["missed_readings"] == 2

        one = client.get(f"/api/v1/bill-runs/{caught_up}", auth=("rita", PASSWORD)).json()
        assert one["run_date"] == "2026-11-24" and one["issued"] == 36
        assert one["missed"] == [
            {"account_number": "A-00017", "book_code": "B03", "meter_serial": "M-17",
             "last_read_on": "2026-10-24"},
            {"account_number": "A-00042", "book_code": None, "meter_serial": None,
             "last_read_on": None},
        ]  # fmt: skip
        gone = client.get("/api/v1/bill-runs/999999", auth=("rita", PASSWORD))
        assert gone.status_code == 404


def test_the_console_page_lists_the_runs_and_a_runs_missed_readings(
    fresh_engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    caught_up, failed = record_runs(fresh_engine, clock)
    app = create_app(settings, engine=fresh_engine, clock=clock, configure_logs=False)
    with TestClient(app, follow_redirects=False) as client:
        agent, reviewer = Browser(client), Browser(client)
        assert sign_in(agent, "ann", PASSWORD).status_code == 303
        assert sign_in(reviewer, "rita", PASSWORD).status_code == 303
        assert agent.get("/console/bill-runs").status_code == 403

        page = reviewer.get("/console/bill-runs")  # the newest run: the failed one
        assert page.status_code == 200, page.text
        assert f'data-run-id="{failed}"' in page.text and f'data-run-id="{caught_up}"' in page.text
        assert "catch-up" in page.text
        assert "RuntimeError: the tariff store is unreachable" in page.text
        assert "No reading was missed that day." in page.text

        page = reviewer.get(f"/console/bill-runs?run={caught_up}")
        assert page.status_code == 200
        assert "A-00017" in page.text and "M-17" in page.text and "2026-10-24" in page.text
        assert "no meter in service" in page.text and "never" in page.text
        assert 'href="/console/bill-runs"' in page.text  # in the nav
        assert reviewer.get("/console/bill-runs?run=999999").status_code == 404
        assert reviewer.get("/console/bill-runs?run=x").status_code == 404
