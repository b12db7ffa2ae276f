"""The reading plans' staff API and CLI on both databases: reviewers propose and approve (never
their own proposal), an agent may not, every step is audited; `wattdesk plan apply` proposes,
then waits for the approval, then for the effective date."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from billing_core.audit.tables import AuditEntry
from billing_core.calendar import WorkingCalendar
from billing_core.clock import FixedClock, SystemClock
from billing_core.db import create_db_engine, session_scope
from billing_core.outbox.tables import OutboxMessage
from billing_core.readings.plans import months_after
from billing_core.settings import Settings
from billing_core.staff import passwords as staff_passwords
from billing_core.staff.service import add_staff
from tests.factories import make_account, make_book, make_contact, make_customer

PASSWORD = "reading-plan-secret-42"
STAFF = {"pia.planner": "reviewer", "carl.checker": "reviewer", "alan.agent": "agent"}
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        staff_passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


def populate(session: Session, month: date) -> int:
    """Two accounts a book, one book per working day up to the 28th, all read on the 28th:
    the plan for `month` levels them exactly. Returns the accounts."""
    first = month.replace(day=1)
    days = [
        day
        for day in WorkingCalendar.for_country("CN", [first.year]).working_days(
            first, first.replace(day=28)
        )
    ]
    for index in range(len(days)):
        book = make_book(session, code=f"Q{index:02d}", name=f"book {index}", reading_day=28)
        for _ in range(2):
            customer = make_customer(session, at=NOW)
            make_contact(session, customer=customer, at=NOW)
            make_account(session, customer=customer, reading_day=28, reading_book_id=book.id)
    for username, role in STAFF.items():
        add_staff(
            session=session, clock=FixedClock(NOW), username=username, role=role,
            password=PASSWORD, actor="test",
        )  # fmt: skip
    return 2 * len(days)


@pytest.fixture
def client(fresh_engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with session_scope(fresh_engine) as session:
        populate(session, date(2027, 3, 1))
    app = create_app(settings, engine=fresh_engine, clock=FixedClock(NOW), configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def as_(username: str) -> tuple[str, str]:
    return (username, PASSWORD)


def test_the_api_proposes_approves_with_four_eyes_and_audits(
    client: TestClient, fresh_engine: Engine
) -> None:
    url = "/api/v1/reading-plans"
    assert client.post(url, json={"month": "2027-03"}, auth=as_("alan.agent")).status_code == 403
    too_soon = client.post(url, json={"month": "2027-01"}, auth=as_("pia.planner"))
    assert too_soon.status_code == 422 and "effective" in too_soon.json()["detail"]
    assert client.post(url, json={"month": "2027-13"}, auth=as_("pia.planner")).status_code == 422

    proposed = client.post(url, json={"month": "2027-03"}, auth=as_("pia.planner"))
    assert proposed.status_code == 201, proposed.text
    plan = proposed.json()
    assert plan["status"] == "proposed" and plan["effective_on"] == "2027-03-01"
    assert plan["after"]["imbalance"] <= plan["tolerance"]
    again = client.post(url, json={"month": "2027-03"}, auth=as_("carl.checker"))
    assert again.status_code == 409

    approve = f"{url}/{plan['id']}/approve"
    assert client.post(approve, json={}, auth=as_("pia.planner")).status_code == 403
    assert client.post(approve, json={}, auth=as_("alan.agent")).status_code == 403
    early = client.post(f"{url}/{plan['id']}/apply", json={}, auth=as_("carl.checker"))
    assert early.status_code == 409, early.text  # not approved yet
    approved = client.post(approve, json={"note": "ok"}, auth=as_("carl.checker"))
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["notices"] == plan["accounts"]
    assert (
        client.post(f"{url}/{plan['id']}/apply", json={}, auth=as_("carl.checker")).status_code
        == 409
    )

    shown = client.get(f"{url}/{plan['id']}?changes=5", auth=as_("carl.checker")).json()
    assert len(shown["changes"]) == 5 and shown["changes"][0]["old_day"] == 28
    assert client.get(f"{url}/999999", auth=as_("carl.checker")).status_code == 404
    with Session(fresh_engine) as session:
        actions = session.exec(
            select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.entity == "reading_plan")
        ).all()
        assert sorted(actions) == [
            ("reading_plan.approve", "carl.checker"),
            ("reading_plan.propose", "pia.planner"),
        ]


def test_cli_plan_apply_proposes_then_waits_for_approval_then_the_effective_date(
    cli_database: str, cli_env: CliRunner
) -> None:
    today = SystemClock().now().date()
    month = months_after(today, 3).replace(day=1)
    engine = create_db_engine(cli_database)
    with session_scope(engine) as session:
        accounts = populate(session, month)
    engine.dispose()
    label = f"{month:%Y-%m}"

    first = cli_env.invoke(cli, ["plan", "apply", "--month", label, "--as", "pia.planner"])
    assert first.exit_code == 0, first.output
    assert "proposed" in first.output and "Waiting for approval" in first.output
    plan = json.loads(cli_env.invoke(cli, ["plan", "show", "1", "--json"]).output)
    assert plan["accounts"] == accounts and plan["status"] == "proposed"

    own = cli_env.invoke(cli, ["plan", "approve", "1", "--as", "pia.planner"])
    assert own.exit_code == 2 and "four eyes" in own.output
    ok = cli_env.invoke(cli, ["plan", "approve", "1", "--as", "carl.checker"])
    assert ok.exit_code == 0 and "approved" in ok.output, ok.output

    waiting = cli_env.invoke(cli, ["plan", "apply", "--month", label])
    assert waiting.exit_code == 0 and f"applies on or after {month}" in waiting.output
    listed = cli_env.invoke(cli, ["plan", "show"])
    assert f"#1 {label} approved" in listed.output
    engine = create_db_engine(cli_database)
    with Session(engine) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == accounts
    engine.dispose()
