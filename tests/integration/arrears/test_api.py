"""The arrears staff API on SQLite and PostgreSQL: every route's roles (collections and
admin; agents only read and complete call tasks; reviewers nothing), a work order approved
only inside the humane window (409 naming why), and each action audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, select

from api.app import create_app
from billing_core.arrears.cases import CASE, ORDER
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import Settings
from billing_core.staff import passwords
from billing_core.staff.service import add_staff
from tests.conftest import migrated_database
from tests.factories import make_account, make_bill, make_charge, make_customer

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
PASSWORD = "a-long-enough-password-for-tests"
ROLES = ("collections", "admin", "agent", "reviewer")


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


@pytest.fixture(scope="module")
def api_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("arrears_api")) as engine:
        yield engine


@pytest.fixture
def client(settings: Settings, api_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=api_engine, clock=FixedClock(NOW), configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def staff(engine: Engine, role: str) -> tuple[str, str]:
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as session:
        add_staff(
            session=session,
            clock=FixedClock(NOW),
            username=username,
            role=role,
            password=PASSWORD,
            actor="test",
        )
    return username, PASSWORD


def proposed_order(engine: Engine) -> tuple[str, int]:
    """An account with an overdue bill, an open case and a proposed work order."""
    with session_scope(engine) as session:
        customer = make_customer(session, at=NOW - timedelta(days=90))
        account = make_account(
            session, customer=customer, number=f"6{uuid.uuid4().int % 10**9:09d}"
        )
        bill = make_bill(
            session,
            account=account,
            period_start=date(2026, 9, 1),
            total=Decimal("300.00"),
            due_date=date(2026, 10, 20),
            at=NOW - timedelta(days=70),
        )
        make_charge(session, bill=bill, on=date(2026, 10, 5), at=NOW - timedelta(days=70))
        case_id = session.execute(
            CASE.insert()
            .values(
                account_id=account.id,
                status="open",
                stage="disconnection_work_order",
                ladder="standard",
                oldest_due=date(2026, 10, 20),
                amount_owed=Decimal("300.00"),
                opened_at=NOW - timedelta(days=46),
                closed_reason="",
            )
            .returning(CASE.c.id)
        ).scalar_one()
        order_id = session.execute(
            ORDER.insert()
            .values(
                case_id=case_id,
                account_id=account.id,
                status="proposed",
                planned_at=datetime(2026, 12, 9, 1, 0, tzinfo=UTC),
                decision_reason="",
                created_at=NOW,
                dedupe_key=f"test:{uuid.uuid4()}",
            )
            .returning(ORDER.c.id)
        ).scalar_one()
        return account.number, int(order_id)


# (method, path, body, roles allowed): the body is what a valid request carries; a refused
# role is answered 403 before the body matters.
MATRIX = [
    ("GET", "/api/v1/arrears/cases", None, {"collections", "admin"}),
    ("GET", "/api/v1/arrears/cases/999999", None, {"collections", "admin"}),
    ("GET", "/api/v1/arrears/tasks", None, {"collections", "admin", "agent"}),
    (
        "POST",
        "/api/v1/arrears/tasks/999999/complete",
        {"outcome": "called"},
        {"collections", "admin", "agent"},
    ),
    ("GET", "/api/v1/arrears/arrangements", None, {"collections", "admin"}),
    (
        "POST",
        "/api/v1/arrears/arrangements",
        {"account_number": "0", "instalments": [{"due_on": "2026-12-20", "amount": "10.00"}]},
        {"collections", "admin"},
    ),
    (
        "POST",
        "/api/v1/arrears/arrangements/999999/decline",
        {"reason": "no"},
        {"collections", "admin"},
    ),
    ("GET", "/api/v1/arrears/disputes", None, {"collections", "admin"}),
    (
        "POST",
        "/api/v1/arrears/disputes",
        {"account_number": "0", "body": "wrong"},
        {"collections", "admin"},
    ),
    (
        "POST",
        "/api/v1/arrears/disputes/999999/close",
        {"reason": "checked"},
        {"collections", "admin"},
    ),
    ("GET", "/api/v1/arrears/disconnection-orders", None, {"collections", "admin"}),
    (
        "POST",
        "/api/v1/arrears/disconnection-orders/999999/approve",
        {"at": "2026-12-09T09:30:00+08:00"},
        {"collections", "admin"},
    ),
    (
        "POST",
        "/api/v1/arrears/disconnection-orders/999999/reject",
        {"reason": "no"},
        {"collections", "admin"},
    ),
    (
        "POST",
        "/api/v1/arrears/disconnection-orders/999999/executed",
        {"at": "2026-12-07T09:30:00+08:00"},
        {"collections", "admin"},
    ),
    ("GET", "/api/v1/arrears/reconnection-orders", None, {"collections", "admin"}),
    ("POST", "/api/v1/arrears/reconnection-orders/999999/complete", {}, {"collections", "admin"}),
    ("GET", "/api/v1/arrears/forecast", None, {"collections", "admin"}),
    (
        "POST",
        "/api/v1/arrears/forecast",
        {"csv": "date,low_c,high_c\n2031-01-01,-3,4\n"},
        {"collections", "admin"},
    ),
]


def test_every_arrears_route_is_role_checked(client: TestClient, api_engine: Engine) -> None:
    users = {role: staff(api_engine, role) for role in ROLES}
    document = client.get("/openapi.json").json()
    routes = {
        (path, method.upper())
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/arrears")
        for method in methods
    }
    assert routes == {(p.replace("999999", _param(p)), m) for m, p, _, _ in MATRIX}
    for method, path, body, allowed in MATRIX:
        assert client.request(method, path, json=body).status_code == 401, path
        for role, auth in users.items():
            answer = client.request(method, path, json=body, auth=auth)
            if role in allowed:
                assert answer.status_code in (200, 404), (path, role, answer.text)
            else:
                assert answer.status_code == 403, (path, role, answer.status_code)


def _param(path: str) -> str:
    names = {
        "forecast": "",
        "cases": "{case_id}",
        "tasks": "{task_id}",
        "arrangements": "{arrangement_id}",
        "disputes": "{dispute_id}",
        "disconnection-orders": "{order_id}",
        "reconnection-orders": "{order_id}",
    }
    return names[path.split("/")[4]]


def test_approval_outside_the_humane_window_is_a_409_naming_why_and_inside_is_audited(
    client: TestClient, api_engine: Engine
) -> None:
    _, order_id = proposed_order(api_engine)
    auth = staff(api_engine, "collections")
    url = f"/api/v1/arrears/disconnection-orders/{order_id}/approve"
    midday = client.post(url, json={"at": "2026-12-09T12:00:00+08:00"}, auth=auth)
    assert midday.status_code == 409
    assert "outside the disconnection hours" in midday.json()["detail"]
    sunday = client.post(url, json={"at": "2026-12-13T10:00:00+08:00"}, auth=auth)
    assert sunday.status_code == 409 and "not a working day" in sunday.json()["detail"]
    naive = client.post(url, json={"at": "2026-12-09T10:00:00"}, auth=auth)
    assert naive.status_code == 422 and "at" in naive.json()["detail"]
    ok = client.post(
        url, json={"at": "2026-12-09T09:30:00+08:00", "reason": "notice given"}, auth=auth
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved"
    with session_scope(api_engine) as session:
        entry = session.execute(
            select(AuditEntry).where(
                AuditEntry.entity == "disconnection_order",  # type: ignore[arg-type]
                AuditEntry.entity_id == str(order_id),  # type: ignore[arg-type]
            )
        ).scalar_one()
        assert entry.action == "disconnection.approve" and entry.actor == f"staff:{auth[0]}"
    again = client.post(url, json={"at": "2026-12-09T09:30:00+08:00"}, auth=auth)
    assert again.status_code == 409  # approved already


def test_an_arrangement_is_created_with_instalments_and_bad_input_names_the_field(
    client: TestClient, api_engine: Engine
) -> None:
    number, _ = proposed_order(api_engine)
    auth = staff(api_engine, "collections")
    past = client.post(
        "/api/v1/arrears/arrangements",
        auth=auth,
        json={
            "account_number": number,
            "instalments": [{"due_on": "2026-12-01", "amount": "10.00"}],
        },
    )
    assert past.status_code == 422 and "instalments" in past.json()["detail"]
    made = client.post(
        "/api/v1/arrears/arrangements",
        auth=auth,
        json={
            "account_number": number,
            "instalments": [
                {"due_on": "2026-12-20", "amount": "150.00"},
                {"due_on": "2027-01-20", "amount": "150.00"},
            ],
        },
    )
    assert made.status_code == 201, made.text
    assert [i["status"] for i in made.json()["instalments"]] == ["due", "due"]
    orders = client.get("/api/v1/arrears/disconnection-orders?status=cancelled", auth=auth)
    assert any(o["account_id"] == made.json()["account_id"] for o in orders.json()["items"])
    cases = client.get(f"/api/v1/arrears/cases?account={number}", auth=auth).json()["items"]
    detail = client.get(f"/api/v1/arrears/cases/{cases[0]['id']}", auth=auth).json()
    assert detail["steps"][-1]["step"] == "stop"
    assert detail["steps"][-1]["reason"] == "arrangement_active"


def at_local(day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=TZ)


def test_a_forecast_upload_is_stored_and_audited_and_a_bad_one_lists_its_lines(
    client: TestClient, api_engine: Engine
) -> None:
    auth = staff(api_engine, "collections")
    url, source = "/api/v1/arrears/forecast", "met-office-2032-07"
    bad = client.post(
        url,
        json={"csv": "date,low_c,high_c\n2032-07-20,27,36\n2032-07-21,27,x\n", "source": source},
        auth=auth,
    )
    assert bad.status_code == 422
    assert bad.json()["lines"] == [{"where": "line 3", "reason": "high_c 'x' is not a number"}]
    listed = client.get("/api/v1/arrears/forecast?since=2032-07-01", auth=auth).json()
    assert listed["items"] == []  # nothing stored
    refused = client.post(url, json={"csv": "when,low,high\n"}, auth=auth)
    assert refused.status_code == 422 and "unknown column" in refused.json()["detail"]
    ok = client.post(
        url,
        json={"csv": "date,low_c,high_c\n2032-07-20,27,36\n2032-07-21,25,31\n", "source": source},
        auth=auth,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["days"] == 2 and ok.json()["extreme_days"] == ["2032-07-20"]
    listed = client.get("/api/v1/arrears/forecast?since=2032-07-01", auth=auth).json()
    assert listed["items"] == [
        {"date": "2032-07-20", "low_c": "27.0", "high_c": "36.0"},
        {"date": "2032-07-21", "low_c": "25.0", "high_c": "31.0"},
    ]
    with session_scope(api_engine) as session:
        entry = session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "forecast.import",  # type: ignore[arg-type]
                AuditEntry.entity_id == source,  # type: ignore[arg-type]
            )
        ).scalar_one()
        assert entry.actor == f"staff:{auth[0]}"
