"""The master data staff API on SQLite and PostgreSQL: every route × every role (and no
sign-in) answers as docs/master-data.md says, each change leaves its audit entry (who, what,
before and after) and a refusal leaves none; refusals name the field."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, func
from sqlmodel import select

from api.app import create_app
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.customers.tables import (
    BusinessChange,
    Contact,
    CustomerGroup,
    CustomerSensitivity,
    TariffAssignment,
)
from billing_core.db import session_scope
from billing_core.readings.tables import Meter, MeterReading
from billing_core.settings import load_settings
from billing_core.staff import passwords
from billing_core.staff.service import add_staff
from tests.conftest import migrated_database
from tests.factories import (
    make_account,
    make_contact,
    make_customer,
    make_meter,
    make_reading,
    make_tariff_assignment,
)

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai
PASSWORD = "a-long-enough-password-for-tests"
ROLES = ("admin", "agent", "reviewer", "collections")
ADMIN = {"admin"}
CONTACTS = {"admin", "agent"}
EVERYONE = set(ROLES)
FLAG_RECORDERS = {"admin", "agent", "collections"}
FLAG_ENDERS = {"admin", "collections"}
TARIFF = "beijing-residential"


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


@pytest.fixture(scope="module")
def api_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("master_api")) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, api_engine: Engine) -> Iterator[TestClient]:
    """One app for the module: its start-up (policies, tariffs, the recogniser) runs once."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("master-data"), _env_file=None)
    app = create_app(settings, engine=api_engine, clock=FixedClock(NOW), configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def staff(engine: Engine, role: str) -> tuple[str, str]:
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as session:
        add_staff(session=session, clock=FixedClock(NOW), username=username, role=role,
                  password=PASSWORD, actor="test")  # fmt: skip
    return username, PASSWORD


def _unique(digits: int) -> str:
    return f"{uuid.uuid4().int % 10**digits:0{digits}d}"


@dataclass
class World:
    """A customer with two contacts (one unverified), an account on a tariff with a meter
    read last month under a parent meter, an account with no meter yet, and a group."""

    customer: int
    name: str
    number: str
    bare: str  # an account with no meter
    meter: int
    parent: int
    other: int  # a meter in service elsewhere, with no parent
    contact: int  # unverified
    group: int
    sensitivity: int  # a care flag in force


def world(engine: Engine) -> World:
    with session_scope(engine) as session:
        name = f"王{uuid.uuid4().hex[:8]}"
        customer = make_customer(session, at=NOW, name=name)
        account = make_account(session, customer=customer, number=f"7{_unique(9)}")
        bare = make_account(session, customer=customer, number=f"7{_unique(9)}")
        make_tariff_assignment(session, account=account, tariff_code=TARIFF,
                               effective_from=date(2024, 1, 1))  # fmt: skip
        parent = make_meter(session, account=account, serial=f"P{_unique(12)}")
        meter = make_meter(session, account=account, serial=f"M{_unique(12)}",
                           parent_meter_id=parent.id)  # fmt: skip
        other = make_meter(session, account=account, serial=f"O{_unique(12)}")
        make_reading(session, meter=meter, read_at=datetime(2026, 11, 5, 2, tzinfo=UTC),
                     total=Decimal("1200"), source="reader")  # fmt: skip
        make_contact(session, customer=customer, at=NOW, address=f"+86139{_unique(8)}")
        unverified = make_contact(session, customer=customer, at=NOW, verified=False,
                                  verified_at=None, address=f"+86138{_unique(8)}")  # fmt: skip
        group = CustomerGroup(code=f"G{_unique(8)}", name="集团")
        flag = CustomerSensitivity(
            customer_id=customer.id,
            kind="infant",
            valid_from=date(2026, 1, 1),
            note="a baby at home",
        )
        session.add_all([group, flag])
        session.flush()
        bare_number = bare.number
        assert customer.id and meter.id and parent.id and other.id and unverified.id
        assert group.id and flag.id
        return World(customer.id, name, account.number, bare_number, meter.id, parent.id,
                     other.id, unverified.id, group.id, flag.id)  # fmt: skip


REGISTER = {"total": "1300.5"}
NEW_METER = {"serial": "", "initial": {"total": "0"}}

# (method, path, body, roles allowed, status when allowed); {fields} come from a fresh World.
Route = tuple[str, str, Callable[[World], dict[str, Any] | None], set[str], int]
MATRIX: list[Route] = [
    ("GET", "/api/v1/customers?q={name}", lambda w: None, EVERYONE, 200),
    ("GET", "/api/v1/customers/{customer}", lambda w: None, EVERYONE, 200),
    ("GET", "/api/v1/accounts/{number}", lambda w: None, EVERYONE, 200),
    ("GET", "/api/v1/groups", lambda w: None, EVERYONE, 200),
    ("POST", "/api/v1/groups", lambda w: {"code": f"G{_unique(9)}", "name": "新集团"},
     ADMIN, 201),
    ("PATCH", "/api/v1/groups/{group}", lambda w: {"name": "改名", "reason": "renamed"},
     ADMIN, 200),
    ("POST", "/api/v1/customers", lambda w: {"name": "新客户", "group_code": None}, ADMIN, 201),
    ("PATCH", "/api/v1/customers/{customer}", lambda w: {"household_size": 3}, ADMIN, 200),
    ("POST", "/api/v1/customers/{customer}/contacts",
     lambda w: {"channel": "sms", "address": f"137{_unique(8)}"}, CONTACTS, 201),
    ("POST", "/api/v1/contacts/{contact}/verify",
     lambda w: {"attested": "ID card seen at the counter"}, CONTACTS, 200),
    ("POST", "/api/v1/contacts/{contact}/remove", lambda w: {"reason": "number given up"},
     CONTACTS, 200),
    ("POST", "/api/v1/customers/{customer}/sensitivities",
     lambda w: {"kind": "medical_equipment", "note": "home oxygen concentrator"},
     FLAG_RECORDERS, 201),
    ("POST", "/api/v1/sensitivities/{sensitivity}/end",
     lambda w: {"reason": "the baby is three now"}, FLAG_ENDERS, 200),
    ("POST", "/api/v1/customers/{customer}/accounts",
     lambda w: {"number": f"8{_unique(9)}", "service_address": "北京市海淀区1号",
                "reading_day": 12, "opened_on": "2026-12-01", "tariff_code": TARIFF},
     ADMIN, 201),
    ("PATCH", "/api/v1/accounts/{bare}", lambda w: {"reading_day": 12}, ADMIN, 200),
    ("POST", "/api/v1/accounts/{number}/tariff-assignments",
     lambda w: {"tariff_code": "zhejiang-residential", "effective_from": "2026-12-01"},
     ADMIN, 201),
    ("POST", "/api/v1/accounts/{number}/business-changes",
     lambda w: {"kind": "capacity_change", "effective_on": "2026-12-01"}, ADMIN, 201),
    ("POST", "/api/v1/accounts/{bare}/meters",
     lambda w: {"serial": f"N{_unique(12)}", "initial": {"total": "5"},
                "installed_on": "2026-12-01"}, ADMIN, 201),
    ("POST", "/api/v1/meters/{meter}/replace",
     lambda w: {"read_at": "2026-12-06T10:00:00+08:00", "final": REGISTER,
                "new": {"serial": f"R{_unique(12)}", "initial": {"total": "0"}}},
     ADMIN, 201),
    ("POST", "/api/v1/meters/{other}/remove",
     lambda w: {"read_at": "2026-12-06T10:00:00+08:00", "final": {"total": "10"},
                "reason": "supply cut for demolition"}, ADMIN, 200),
    ("POST", "/api/v1/meters/{other}/parent", lambda w: {"parent_meter_id": w.parent},
     ADMIN, 200),
]  # fmt: skip


def _audit_count(engine: Engine, actor: str) -> int:
    with session_scope(engine) as session:
        statement = select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == actor)
        return int(session.exec(statement).one())


def _template(path: str) -> str:
    names = {"{name}": "", "{customer}": "{customer_id}", "{group}": "{group_id}",
             "{contact}": "{contact_id}", "{bare}": "{number}", "{meter}": "{meter_id}",
             "{other}": "{meter_id}", "{sensitivity}": "{sensitivity_id}"}  # fmt: skip
    path = path.split("?")[0]
    for mine, theirs in names.items():
        path = path.replace(mine, theirs)
    return path


def test_every_master_data_route_is_role_checked_and_every_change_audited(
    client: TestClient, api_engine: Engine
) -> None:
    users = {role: staff(api_engine, role) for role in ROLES}
    document = client.get("/openapi.json").json()
    routes = {
        (path, method.upper())
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if "master data" in operation.get("tags", ())
    }
    assert routes == {(_template(p), m) for m, p, _, _, _ in MATRIX}
    for method, path, body_of, allowed, success in MATRIX:
        for role in (None, *ROLES):
            w = world(api_engine)
            url = path.format(**vars(w))
            body = body_of(w)
            if role is None:
                answer = client.request(method, url, json=body)
                assert answer.status_code == 401, (url, answer.text)
                continue
            username, password = users[role]
            actor = f"staff:{username}"
            before = _audit_count(api_engine, actor)
            answer = client.request(method, url, json=body, auth=(username, password))
            after = _audit_count(api_engine, actor)
            if role in allowed:
                assert answer.status_code == success, (url, role, answer.text)
                if method == "GET":
                    assert after == before, url  # reading changes nothing
                else:
                    assert after > before, (url, role, "no audit entry")
            else:
                assert answer.status_code == 403, (url, role, answer.status_code)
                assert after == before, (url, role)


def test_the_audit_entry_says_who_what_before_and_after(
    client: TestClient, api_engine: Engine
) -> None:
    w = world(api_engine)
    auth = staff(api_engine, "admin")
    body = {"reading_day": 20, "reason": "moved to book 20"}
    answer = client.patch(f"/api/v1/accounts/{w.bare}", json=body, auth=auth)
    assert answer.status_code == 200, answer.text
    with session_scope(api_engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.actor == f"staff:{auth[0]}")).one()
        assert (entry.action, entry.entity) == ("account.update", "account")
        assert entry.before == {"reading_day": 5}
        assert entry.after == {"reading_day": 20}
        assert entry.reason == "moved to book 20"


def test_a_read_accounts_reading_day_changes_only_through_a_reading_plan(
    client: TestClient, api_engine: Engine
) -> None:
    w = world(api_engine)
    auth = staff(api_engine, "admin")
    answer = client.patch(f"/api/v1/accounts/{w.number}", json={"reading_day": 20}, auth=auth)
    assert answer.status_code == 409, answer.text
    assert answer.json()["field"] == "reading_day"
    assert "reading plan" in answer.json()["detail"]
    same_day = client.patch(f"/api/v1/accounts/{w.number}", json={"reading_day": 5}, auth=auth)
    assert same_day.status_code == 200, same_day.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/api/v1/customers", {"nmae": "x"}, 422, "nmae"),
        ("POST", "/api/v1/customers", {"name": "x", "kind": "alien"}, 422, "kind"),
        ("POST", "/api/v1/customers", {"name": "王\u0000芳"}, 422, "name"),
        ("POST", "/api/v1/customers", {"name": "王芳", "reason": "a\u0000"}, 422, "reason"),
        ("POST", "/api/v1/customers", {"name": "x", "group_code": "NOPE"}, 422, "group_code"),
        ("POST", "/api/v1/customers/{customer}/contacts",
         {"channel": "sms", "address": "12345"}, 422, "address"),
        ("POST", "/api/v1/accounts/{number}/tariff-assignments",
         {"tariff_code": "mars", "effective_from": "2026-12-01"}, 422, "tariff_code"),
        ("POST", "/api/v1/accounts/{number}/tariff-assignments",
         {"tariff_code": TARIFF, "effective_from": "2024-01-01"}, 409, "effective_from"),
        ("PATCH", "/api/v1/accounts/{number}", {"reading_day": 31}, 422, "reading_day"),
        ("POST", "/api/v1/customers/{customer}/accounts",
         {"number": "{number}", "service_address": "x", "reading_day": 3,
          "opened_on": "2026-12-01", "tariff_code": TARIFF}, 409, "number"),
        ("POST", "/api/v1/accounts/{number}/meters",
         {"serial": "X1", "initial": {"total": "0"}, "installed_on": "2026-12-01"},
         409, "number"),
        ("POST", "/api/v1/meters/{meter}/replace",
         {"read_at": "2026-12-06T10:00:00+08:00", "final": {"total": "1100"},
          "new": {"serial": "Z9", "initial": {"total": "0"}}}, 422, "final.total"),
        ("POST", "/api/v1/meters/{meter}/replace",
         {"read_at": "2026-12-06T10:00:00", "final": {"total": "1300"},
          "new": {"serial": "Z9", "initial": {"total": "0"}}}, 422, "read_at"),
        ("POST", "/api/v1/meters/{parent}/parent", {"parent_meter_id": "{meter}"},
         409, "parent_meter_id"),
        ("POST", "/api/v1/meters/{parent}/remove",
         {"read_at": "2026-12-06T10:00:00+08:00", "final": {"total": "1"}, "reason": "x"},
         409, "meter_id"),
        ("POST", "/api/v1/accounts/{number}/business-changes",
         {"kind": "wedding", "effective_on": "2026-12-01"}, 422, "kind"),
    ],
)  # fmt: skip
def test_a_refusal_names_the_field_and_changes_nothing(
    client: TestClient,
    api_engine: Engine,
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    w = world(api_engine)
    auth = staff(api_engine, "admin")
    filled = _fill(body, w)
    answer = client.request(method, path.format(**vars(w)), json=filled, auth=auth)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    if "field" in payload:
        assert payload["field"] == field, payload
        assert payload["detail"].startswith(f"{field}:"), payload
    else:  # FastAPI's own 422: the location names it
        names = [".".join(str(p) for p in error["loc"][1:]) for error in payload["detail"]]
        assert any(name.startswith(field) for name in names), payload
    assert _audit_count(api_engine, f"staff:{auth[0]}") == 0


def _fill(body: dict[str, Any], w: World) -> dict[str, Any]:
    filled: dict[str, Any] = {}
    for key, value in body.items():
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            value = getattr(w, value[1:-1])
        filled[key] = value
    return filled


def test_a_meter_replacement_stores_the_final_and_initial_readings_and_moves_children(
    client: TestClient, api_engine: Engine
) -> None:
    w = world(api_engine)
    auth = staff(api_engine, "admin")
    link = client.post(f"/api/v1/meters/{w.other}/parent",
                       json={"parent_meter_id": w.meter}, auth=auth)  # fmt: skip
    assert link.status_code == 200, link.text
    serial = f"R{_unique(12)}"
    answer = client.post(
        f"/api/v1/meters/{w.meter}/replace",
        json={"read_at": "2026-12-06T10:00:00+08:00", "final": {"total": "1310.25"},
              "new": {"serial": serial, "initial": {"total": "3"}, "multiplier": "2"},
              "reason": "meter stuck"},
        auth=auth,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    new_id = answer.json()["id"]
    with session_scope(api_engine) as session:
        old = session.get(Meter, w.meter)
        new = session.get(Meter, new_id)
        child = session.get(Meter, w.other)
        assert old is not None and new is not None and child is not None
        assert old.removed_on == date(2026, 12, 6)
        assert (new.installed_on, new.initial_total, new.multiplier) == (
            date(2026, 12, 6), Decimal(3), Decimal(2))  # fmt: skip
        assert new.parent_meter_id == w.parent  # under the old one's parent
        assert child.parent_meter_id == new_id  # the old one's child moved over
        final = session.exec(
            select(MeterReading)
            .where(MeterReading.meter_id == w.meter)
            .order_by(MeterReading.read_at.desc())  # type: ignore[attr-defined]
        ).first()
        assert final is not None and final.total == Decimal("1310.25")
        assert final.read_at == datetime(2026, 12, 6, 2, tzinfo=UTC)
        change = session.exec(
            select(BusinessChange).where(BusinessChange.account_id == old.account_id)
        ).one()
        assert (change.kind, change.effective_on) == ("meter_replacement", date(2026, 12, 6))
    again = client.post(
        f"/api/v1/meters/{w.meter}/replace",
        json={"read_at": "2026-12-07T09:00:00+08:00", "final": {"total": "1320"},
              "new": {"serial": f"R{_unique(12)}", "initial": {"total": "0"}}},
        auth=auth,
    )  # fmt: skip
    assert answer.status_code == 201 and again.status_code == 409, again.text


def test_tariff_assignments_close_the_previous_one_and_record_the_change(
    client: TestClient, api_engine: Engine
) -> None:
    w = world(api_engine)
    auth = staff(api_engine, "admin")
    answer = client.post(f"/api/v1/accounts/{w.number}/tariff-assignments",
                         json={"tariff_code": "zhejiang-residential",
                               "effective_from": "2026-12-01", "reason": "moved"},
                         auth=auth)  # fmt: skip
    assert answer.status_code == 201, answer.text
    detail = client.get(f"/api/v1/accounts/{w.number}", auth=auth).json()
    assert [(t["tariff_code"], t["effective_from"], t["effective_to"])
            for t in detail["tariff_assignments"]] == [
        (TARIFF, "2024-01-01", "2026-11-30"),
        ("zhejiang-residential", "2026-12-01", None),
    ]  # fmt: skip
    assert [c["kind"] for c in detail["business_changes"]] == ["tariff_change"]
    with session_scope(api_engine) as session:
        rows = session.exec(select(TariffAssignment).where(
            TariffAssignment.account_id == detail["id"])).all()  # fmt: skip
        assert len(rows) == 2


def test_contacts_staff_add_are_unverified_unless_attested_and_the_last_one_stays(
    client: TestClient, api_engine: Engine
) -> None:
    w = world(api_engine)
    auth = staff(api_engine, "agent")
    url = f"/api/v1/customers/{w.customer}/contacts"
    plain = client.post(url, json={"channel": "sms", "address": "139 1234 5678"}, auth=auth)
    assert plain.status_code == 201, plain.text
    assert (plain.json()["address"], plain.json()["verified"]) == ("+8613912345678", False)
    same = client.post(url, json={"channel": "sms", "address": "+86 139-1234-5678"}, auth=auth)
    assert same.status_code == 409 and same.json()["field"] == "address"
    email = {"channel": "email", "address": "Li@Example.com",
             "attested": "confirmed by phone call"}  # fmt: skip
    attested = client.post(url, json=email, auth=auth)
    assert attested.status_code == 201
    assert (attested.json()["address"], attested.json()["verified"]) == ("li@example.com", True)
    with session_scope(api_engine) as session:
        entry = session.exec(select(AuditEntry).where(
            AuditEntry.entity == "contact",
            AuditEntry.entity_id == str(attested.json()["id"]))).one()  # fmt: skip
        assert entry.reason == "verified by staff: confirmed by phone call"
        ids = [c.id for c in session.exec(
            select(Contact).where(Contact.customer_id == w.customer))]  # fmt: skip
    *others, last = ids
    for contact_id in others:
        gone = client.post(f"/api/v1/contacts/{contact_id}/remove", json={"reason": "old"},
                           auth=auth)  # fmt: skip
        assert gone.status_code == 200, gone.text
    kept = client.post(f"/api/v1/contacts/{last}/remove", json={"reason": "old"}, auth=auth)
    assert kept.status_code == 409 and kept.json()["field"] == "contact_id"
