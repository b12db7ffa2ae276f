"""The staff console on SQLite and PostgreSQL: every page and action for every role (agent,
reviewer, collections, admin) and for no session answers as it should (2xx, a redirect to
the sign-in page, or a 403 page); a form or a cookie-signed JSON write without the session's
CSRF token is refused; the sign-in form backs off and locks out as HTTP Basic does, and
audits sign-in and sign-out; `next` is a local path only; and the conversations JSON API
takes over (one owner), replies through the outbox, notes and hands back, audited."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, func
from sqlmodel import col, select

from api.app import create_app
from api.auth import SESSION_COOKIE, SignIn
from billing_core.arrears.cases import CASE, ORDER, RECONNECT, STEP, TASK
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.conversations.model import InboundMessage
from billing_core.conversations.service import conversation_context, receive_message
from billing_core.db import session_scope
from billing_core.outbox.tables import OutboxMessage
from billing_core.settings import Settings
from billing_core.staff import passwords
from billing_core.staff.service import add_staff
from billing_core.staff.tables import StaffSession
from billing_core.staff.throttle import USER_BACKOFF
from billing_core.transcripts.tables import Conversation
from tests.conftest import migrated_database
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PASSWORD = "a-long-enough-password-for-tests"
ROLES = ("agent", "reviewer", "collections", "admin")
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Seeded:
    conversation_id: int
    phone: str
    account: str
    staff: dict[str, str]  # role -> username
    arrears: Arrears


@dataclass(frozen=True)
class Arrears:
    """An open arrears case at the work-order stage, with its rows for people."""

    case_id: int
    account: str
    task_id: int  # an open call task
    order_id: int  # a proposed disconnection order
    reconnection_id: int  # an open reconnection order


def arrears_case(engine: Engine) -> Arrears:
    """An account with an overdue bill and an open case (a step recorded), a call task, a
    proposed work order and an open reconnection order (of an earlier, rejected order)."""
    tag = uuid.uuid4().hex[:8]
    with session_scope(engine) as session:
        customer = make_customer(session, at=NOW - timedelta(days=90))
        account = make_account(session, customer=customer)
        bill = make_bill(session, account=account, period_start=date(2026, 8, 1),
                         total=Decimal("300.00"), due_date=date(2026, 10, 10),
                         at=NOW - timedelta(days=70))  # fmt: skip
        make_charge(session, bill=bill, on=date(2026, 9, 25), at=NOW - timedelta(days=70))
        case_id = session.execute(CASE.insert().values(
            account_id=account.id, status="open", stage="disconnection_work_order",
            ladder="standard", oldest_due=date(2026, 10, 10), amount_owed=Decimal("300.00"),
            opened_at=NOW - timedelta(days=46), closed_reason="",
        ).returning(CASE.c.id)).scalar_one()  # fmt: skip
        session.execute(STEP.insert().values(
            case_id=case_id, step="overdue_notice", taken=True, reason="due",
            detail="sms", at=NOW - timedelta(days=45), dedupe_key=f"test:step:{tag}",
        ))  # fmt: skip
        common = {"case_id": case_id, "account_id": account.id}
        task_id = session.execute(TASK.insert().values(
            **common, kind="call", reason="due", detail="call the customer", status="open",
            created_at=NOW - timedelta(days=5), outcome="", dedupe_key=f"test:task:{tag}",
        ).returning(TASK.c.id)).scalar_one()  # fmt: skip
        order_id, earlier = (session.execute(ORDER.insert().values(
            **common, status=state, planned_at=datetime(2026, 11, 30, 1, 30, tzinfo=UTC),
            decision_reason="", created_at=NOW, dedupe_key=f"test:order:{state}:{tag}",
        ).returning(ORDER.c.id)).scalar_one() for state in ("proposed", "rejected"))  # fmt: skip
        reconnection_id = session.execute(RECONNECT.insert().values(
            **common, disconnection_order_id=earlier, reason="paid", status="open",
            raised_at=NOW - timedelta(hours=1), target_at=NOW + timedelta(hours=7),
        ).returning(RECONNECT.c.id)).scalar_one()  # fmt: skip
        return Arrears(int(case_id), account.number, int(task_id), int(order_id),
                       int(reconnection_id))  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def quick_password_hashing() -> Iterator[None]:
    """Still argon2id, with the cheapest parameters: these tests sign in many times."""
    with pytest.MonkeyPatch.context() as patch:
        cheap = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)
        patch.setattr(passwords, "_hasher", PasswordHash((cheap,)))
        yield


@pytest.fixture(scope="module")
def console_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("console")) as engine:
        yield engine


@pytest.fixture(scope="module")
def console_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from billing_core.settings import load_settings

    return load_settings(data_dir=tmp_path_factory.mktemp("console-data"), _env_file=None)


@pytest.fixture(scope="module")
def seeded(console_engine: Engine, console_settings: Settings) -> Seeded:
    """A verified customer with a bill who asked for a person (queued), and one staff user
    per role."""
    clock = FixedClock(NOW)
    phone = f"+86139{uuid.uuid4().int % 10**8:08d}"
    with session_scope(console_engine) as session:
        customer = make_customer(session, at=NOW, name="李娜")
        account = make_account(session, customer=customer)
        make_contact(session, customer=customer, at=NOW, address=phone)
        bill = make_bill(session, account=account, period_start=date(2026, 10, 1),
                         total=Decimal("88.00"), due_date=date(2026, 12, 1), at=NOW)  # fmt: skip
        make_charge(session, bill=bill, on=date(2026, 11, 2), at=NOW)
        staff = {}
        for role in ROLES:
            staff[role] = f"{role}-{uuid.uuid4().hex[:8]}"
            add_staff(session=session, clock=clock, username=staff[role], role=role,
                      password=PASSWORD, actor="test")  # fmt: skip
        number = account.number
    context = conversation_context(console_settings)
    with session_scope(console_engine) as session:
        outcome = receive_message(
            session=session, clock=clock, context=context,
            inbound=InboundMessage("sms", phone, "人工", f"SM{uuid.uuid4().hex}", NOW),
        )  # fmt: skip
        conversation = session.get(Conversation, outcome.conversation_id)
        assert conversation is not None and conversation.state == "queued"
    return Seeded(outcome.conversation_id, phone, number, staff, arrears_case(console_engine))


@pytest.fixture(scope="module")
def app(console_settings: Settings, console_engine: Engine, seeded: Seeded) -> FastAPI:
    return create_app(console_settings, engine=console_engine, clock=FixedClock(NOW),
                      configure_logs=False)  # fmt: skip


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    """One client for the module (the app's lifespan runs once): each person's cookies are
    put in place before their requests (`Browser`)."""
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


class Browser:
    """A person's browser: their own cookies over the module's one client."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.jar: dict[str, str] = {}

    def _use(self) -> TestClient:
        self.client.cookies.clear()
        for name, value in self.jar.items():
            self.client.cookies.set(name, value)
        return self.client

    def _keep(self, answer: Any) -> Any:
        self.jar = {cookie.name: cookie.value or "" for cookie in self.client.cookies.jar}
        return answer

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._keep(self._use().get(url, **kwargs))

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._keep(self._use().post(url, **kwargs))


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]*)"', page)
    assert found, page[:500]
    return found.group(1)


def sign_in(client: Browser, username: str, password: str = PASSWORD,
            next_path: str = "/console") -> Any:  # fmt: skip
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post("/console/login", data={
        "username": username, "password": password, "csrf_token": csrf_of(form.text),
        "next": next_path,
    })  # fmt: skip


@pytest.fixture(scope="module")
def signed_in(client: TestClient, seeded: Seeded) -> dict[str, tuple[Browser, str]]:
    """A browser per role, signed in through the form, with the session's CSRF token."""
    browsers = {}
    for role in ROLES:
        browser = Browser(client)
        answer = sign_in(browser, seeded.staff[role])
        assert answer.status_code == 303, answer.text
        assert browser.jar.get(SESSION_COOKIE)
        page = browser.get("/console/statement")
        assert page.status_code == 200
        browsers[role] = (browser, csrf_of(page.text))
    return browsers


# --- the matrix ---------------------------------------------------------------------------------

AGENT_ONLY = ("agent", "admin")
COLLECTIONS = ("collections", "admin")
CALLERS = ("agent", "collections", "admin")


def pages(seeded: Seeded) -> list[tuple[str, tuple[str, ...]]]:
    """Every console page (GET) and the roles that may see it."""
    c = seeded.conversation_id
    return [
        ("/console", AGENT_ONLY),
        ("/console/inbox/rows?state=queued", AGENT_ONLY),
        ("/console?state=mine&unread=1", AGENT_ONLY),
        (f"/console/conversations/{c}", AGENT_ONLY),
        (f"/console/conversations/{c}/live", AGENT_ONLY),
        ("/console/review", ("reviewer", "admin")),
        ("/console/refunds", ("collections", "admin")),
        (f"/console/waivers?account={seeded.account}", ("collections", "admin")),
        (f"/console/statement?account={seeded.account}", ROLES),
        ("/console/dashboard", ROLES),
        ("/console/arrears", COLLECTIONS),
        ("/console/arrears?stage=call_task&state=all", COLLECTIONS),
        (f"/console/arrears/{seeded.arrears.case_id}", COLLECTIONS),
        ("/console/tasks", CALLERS),
        ("/console/tasks?kind=review", CALLERS),
        ("/console/disconnections", COLLECTIONS),
        ("/console/reconnections", COLLECTIONS),
        ("/console/bill-runs", ("reviewer", "admin")),
        ("/console/reading-plans", ("reviewer", "admin")),
        ("/console/customers", ROLES),
        (f"/console/customers?q={seeded.account}", ROLES),
        ("/console/groups", ROLES),
    ]


def actions(seeded: Seeded) -> list[tuple[str, dict[str, str], tuple[str, ...], int]]:
    """Every console action (POST), its form, the roles that may take it and their answer.
    An action the rules refuse (a bill or refund that is not there, a conversation someone
    else has) is still answered with the page it came from, and the reason on it."""
    c = seeded.conversation_id
    a = seeded.arrears
    case = f"/console/arrears/{a.case_id}"
    return [
        (f"/console/conversations/{c}/take-over", {}, AGENT_ONLY, 303),
        (f"/console/conversations/{c}/reply", {"body": "您好"}, AGENT_ONLY, 303),
        (f"/console/conversations/{c}/notes", {"body": "called back"}, AGENT_ONLY, 303),
        (f"/console/conversations/{c}/read", {"up_to": "1"}, AGENT_ONLY, 204),
        (f"/console/conversations/{c}/hand-back", {}, AGENT_ONLY, 303),
        ("/console/review/999999/approve", {"note": "ok"}, ("reviewer", "admin"), 303),
        ("/console/review/999999/correct", {"cause": "x", "note": "n"}, ("reviewer", "admin"),
         303),
        ("/console/refunds/999999/approve", {}, ("collections", "admin"), 303),
        ("/console/refunds/999999/reject", {"reason": "no"}, ("collections", "admin"), 303),
        ("/console/waivers", {"account": seeded.account, "reason": "hardship"},
         ("collections", "admin"), 303),
        (f"/console/tasks/{a.task_id}/complete", {"outcome": "promised to pay"}, CALLERS, 303),
        (f"/console/disconnections/{a.order_id}/approve", {"at": "2026-11-26T12:00"},
         COLLECTIONS, 303),
        (f"/console/disconnections/{a.order_id}/reject", {"reason": "customer paid"},
         COLLECTIONS, 303),
        (f"/console/disconnections/{a.order_id}/executed", {"at": "2026-11-26T09:00"},
         COLLECTIONS, 303),
        (f"/console/reconnections/{a.reconnection_id}/complete", {"note": "crew"},
         COLLECTIONS, 303),
        (f"{case}/arrangements", {"instalments": "2026-12-20 100.00"}, COLLECTIONS, 303),
        (f"{case}/arrangements/999999/decline", {"reason": "no"}, COLLECTIONS, 303),
        (f"{case}/disputes", {"body": "the meter was read wrong"}, COLLECTIONS, 303),
        (f"{case}/disputes/999999/close", {"reason": "checked"}, COLLECTIONS, 303),
        ("/console/reading-plans", {"month": "1999-01"}, ("reviewer", "admin"), 303),
        ("/console/reading-plans/999999/approve", {}, ("reviewer", "admin"), 303),
        ("/console/reading-plans/999999/reject", {"note": "no"}, ("reviewer", "admin"), 303),
        ("/console/contacts/999999/verify", {"attested": "called back"}, AGENT_ONLY, 303),
        ("/console/contacts/999999/remove", {"reason": "moved"}, AGENT_ONLY, 303),
        ("/console/customers", {"name": ""}, ("admin",), 303),
        ("/console/customers/999999/edit", {"name": "x", "kind": "residential",
         "language": "en", "household_size": "2"}, ("admin",), 303),
        ("/console/customers/999999/accounts", {"number": "9999999999", "service_address": "x",
         "reading_day": "5", "opened_on": "2026-11-01", "tariff_code": "x"}, ("admin",), 303),
        ("/console/accounts/NO-SUCH/meters", {"serial": "M1", "installed_on": "2026-11-01"},
         ("admin",), 303),
        ("/console/meters/999999/remove", {"final_total": "1", "read_at": "2026-11-25T10:00",
         "reason": "moved"}, ("admin",), 303),
        ("/console/meters/999999/parent", {"parent_meter_id": ""}, ("admin",), 303),
        ("/console/groups", {"code": "", "name": ""}, ("admin",), 303),
        ("/console/groups/999999/edit", {"name": "x"}, ("admin",), 303),
        ("/console/customers/999999/sensitivities", {"kind": "infant", "note": "a baby"},
         CALLERS, 303),
        ("/console/sensitivities/999999/end", {"reason": "moved"}, COLLECTIONS, 303),
    ]  # fmt: skip


def test_every_page_for_every_role_and_no_session(
    client: TestClient, seeded: Seeded, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    for path, allowed in pages(seeded):
        for role in ROLES:
            browser, _ = signed_in[role]
            answer = browser.get(path)
            expected = 200 if role in allowed else 403
            assert answer.status_code == expected, (path, role, answer.text[:300])
            if expected == 403:
                assert "Not for your role" in answer.text
        answer = Browser(client).get(path)
        assert answer.status_code == 302, path
        assert answer.headers["location"].startswith("/console/login?next=%2Fconsole")


def test_every_action_for_every_role_and_no_session(
    client: TestClient, seeded: Seeded, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    for path, form, allowed, answer_status in actions(seeded):
        for role in ROLES:
            browser, token = signed_in[role]
            answer = browser.post(path, data={**form, "csrf_token": token})
            expected = answer_status if role in allowed else 403
            assert answer.status_code == expected, (path, role, answer.text[:300])
        answer = Browser(client).post(path, data=form)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/console/login")


def test_a_refused_action_says_why_on_the_page_it_came_from(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    browser, token = signed_in["reviewer"]
    answer = browser.post("/console/review/999999/approve", data={"csrf_token": token})
    assert answer.status_code == 303
    page = browser.get(answer.headers["location"])
    assert page.status_code == 200 and 'role="alert"' in page.text and "999999" in page.text


def test_collections_import_a_forecast_file_and_see_its_hot_days(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    browser, token = signed_in["collections"]
    good = b"date,low_c,high_c\n2027-07-20,27,36.5\n2027-07-21,24,31\n"
    answer = browser.post("/console/forecast", data={"csrf_token": token, "source": "bureau"},
                          files={"file": ("week.csv", good, "text/csv")})  # fmt: skip
    assert answer.status_code == 303, answer.text[:300]
    assert "2+day%28s%29+stored" in answer.headers["location"]
    page = browser.get("/console/forecast").text
    hot = re.search(r'<tr class="flag">\s*<td>2027-07-20', page)
    assert hot and "36.5" in page and "<td>2027-07-21" in page
    assert not re.search(r'<tr class="flag">\s*<td>2027-07-21', page)

    bad = b"date,low_c,high_c\n2027-07-22,20,30\n2027-07-23,hot,31\n2027-07-24,30,20\n"
    answer = browser.post("/console/forecast", data={"csrf_token": token},
                          files={"file": ("bad.csv", bad, "text/csv")})  # fmt: skip
    assert answer.status_code == 303
    page = browser.get(answer.headers["location"]).text
    assert 'role="alert"' in page and "line 3" in page and "line 4" in page
    assert "2027-07-22" not in page  # nothing stored, not even the good line


# --- CSRF ---------------------------------------------------------------------------------------


def test_forms_and_cookie_writes_without_the_csrf_token_are_refused(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]], console_engine: Engine
) -> None:
    browser, token = signed_in["agent"]
    c = seeded.conversation_id
    note = {"body": "a note nobody should be able to forge"}
    for data, headers in [
        (note, {}),  # no token
        ({**note, "csrf_token": "0" * 64}, {}),  # a wrong one
        ({**note, "csrf_token": token}, {"Origin": "https://evil.example"}),  # another site
        ({**note, "csrf_token": token}, {"Sec-Fetch-Site": "cross-site"}),
    ]:
        answer = browser.post(f"/console/conversations/{c}/notes", data=data, headers=headers)
        assert answer.status_code == 403, (data, headers)
    # The JSON API signed in by the cookie: the token in X-CSRF-Token, as the console's fetch.
    refused = browser.post(f"/api/v1/conversations/{c}/notes", json=note)
    assert refused.status_code == 403
    accepted = browser.post(f"/api/v1/conversations/{c}/notes", json=note,
                           headers={"X-CSRF-Token": token})  # fmt: skip
    assert accepted.status_code == 201, accepted.text
    with session_scope(console_engine) as session:
        forged = session.scalar(
            select(func.count()).select_from(AuditEntry).where(
                col(AuditEntry.action) == "conversation.note",
                col(AuditEntry.actor) == f"staff:{seeded.staff['agent']}",
            )
        )  # fmt: skip
    assert forged is not None and forged >= 1


def test_the_sign_in_form_needs_its_own_csrf_token(client: TestClient, seeded: Seeded) -> None:
    browser = Browser(client)
    browser.get("/console/login")
    form = {"username": seeded.staff["agent"], "password": PASSWORD, "csrf_token": "forged"}
    answer = browser.post("/console/login", data=form)
    assert answer.status_code == 403
    assert SESSION_COOKIE not in browser.jar


# --- signing in and out -------------------------------------------------------------------------


def test_sign_in_goes_to_a_local_next_only_and_sign_out_ends_the_session(
    client: TestClient, seeded: Seeded, console_engine: Engine
) -> None:
    username = seeded.staff["collections"]
    browser = Browser(client)
    local = "/console/statement?account=1"
    home = "/console/refunds"  # a collections user's
    for target, lands in [("//evil.example/x", home), ("https://evil.example/", home),
                          (local, local)]:  # fmt: skip
        answer = sign_in(browser, username, next_path=target)
        assert answer.headers["location"] == lands, target
    cookie = browser.jar[SESSION_COOKIE]
    set_cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert "secure" not in set_cookie  # development: plain HTTP on loopback
    page = browser.get("/console/refunds")
    out = browser.post("/console/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    browser.jar[SESSION_COOKIE] = cookie
    assert browser.get("/console/refunds").status_code == 302  # the session is gone
    with session_scope(console_engine) as session:
        actions = session.scalars(
            select(col(AuditEntry.action)).where(col(AuditEntry.actor) == f"staff:{username}")
        ).all()
        assert "staff.console.sign_in" in actions and "staff.console.sign_out" in actions
        from billing_core.staff.sessions import session_hash

        left = session.scalars(
            select(StaffSession).where(col(StaffSession.token_hash) == session_hash(cookie))
        ).first()
        assert left is None


def test_the_sign_in_form_backs_off_and_locks_out_like_the_api(
    app: FastAPI, client: TestClient, console_engine: Engine, seeded: Seeded
) -> None:
    username = f"locked-{uuid.uuid4().hex[:8]}"
    with session_scope(console_engine) as session:
        add_staff(session=session, clock=FixedClock(NOW), username=username, role="reviewer",
                  password=PASSWORD, actor="test")  # fmt: skip
    browser = Browser(client)
    try:
        for _ in range(USER_BACKOFF.free_failures):
            answer = sign_in(browser, username, password="not-the-password")
            assert answer.status_code == 401
            assert "wrong username or password" in answer.text
        locked = sign_in(browser, username)  # the right password, but locked out for now
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) >= 1
        assert SESSION_COOKIE not in browser.jar
        # The API's HTTP Basic shares the same lock.
        api = Browser(client).get("/api/v1/review-items", auth=(username, PASSWORD))
        assert api.status_code == 429
    finally:
        app.state.sign_in = SignIn()  # the other tests' address starts afresh
    with session_scope(console_engine) as session:
        lockouts = session.scalars(
            select(AuditEntry).where(
                col(AuditEntry.action) == "staff.sign_in.locked_out",
                col(AuditEntry.entity_id) == username,
            )
        ).all()
        assert len(lockouts) == 1


# --- the JSON API -------------------------------------------------------------------------------


def test_the_conversations_api_one_owner_replies_through_the_outbox_and_hands_back(
    client: TestClient, seeded: Seeded, console_engine: Engine
) -> None:
    c = seeded.conversation_id
    with session_scope(console_engine) as session:
        other = f"agent-b-{uuid.uuid4().hex[:8]}"
        add_staff(session=session, clock=FixedClock(NOW), username=other, role="agent",
                  password=PASSWORD, actor="test")  # fmt: skip
    a = (seeded.staff["agent"], PASSWORD)
    b = (other, PASSWORD)
    client.cookies.clear()
    assert client.get("/api/v1/conversations").status_code == 401
    reviewer = (seeded.staff["reviewer"], PASSWORD)
    assert client.get("/api/v1/conversations", auth=reviewer).status_code == 403
    listed = client.get("/api/v1/conversations", params={"state": "all"}, auth=a).json()
    row = next(item for item in listed["items"] if item["id"] == c)
    assert row["address"] == seeded.phone and row["customer_name"] == "李娜"
    assert client.get("/api/v1/conversations", params={"state": "nonsense"},
                      auth=a).status_code == 422  # fmt: skip

    taken = client.post(f"/api/v1/conversations/{c}/take-over", auth=a, headers=JSON)
    assert taken.status_code == 200, taken.text
    assert client.post(f"/api/v1/conversations/{c}/take-over", auth=b,
                       headers=JSON).status_code == 409  # fmt: skip
    over = client.post(f"/api/v1/conversations/{c}/reply", auth=b, json={"body": "me too"})
    assert over.status_code == 409
    assert client.post(f"/api/v1/conversations/{c}/reply", auth=a,
                       json={"body": ""}).status_code == 422  # fmt: skip
    sent = client.post(f"/api/v1/conversations/{c}/reply", auth=a,
                       json={"body": "您好，我是客服王芳。"})  # fmt: skip
    assert sent.status_code == 200, sent.text
    noted = client.post(f"/api/v1/conversations/{c}/notes", auth=b,
                        json={"body": "customer prefers calls after 18:00"})  # fmt: skip
    assert noted.status_code == 201
    assert client.post(f"/api/v1/conversations/{c}/hand-back", auth=b,
                       headers=JSON).status_code == 409  # fmt: skip
    detail = client.get(f"/api/v1/conversations/{c}", auth=b).json()
    assert detail["state"] == "agent" and detail["agent"] == a[0]
    assert detail["messages"][-1]["body"] == "您好，我是客服王芳。"
    assert detail["messages"][-1]["author"] == "agent"
    assert detail["notes"][-1]["body"] == "customer prefers calls after 18:00"
    account = detail["customer"]["accounts"][0]
    assert account["number"] == seeded.account and account["current_bill"]["total"] == "88.00"
    back = client.post(f"/api/v1/conversations/{c}/hand-back", auth=a, headers=JSON)
    assert back.status_code == 200
    assert client.get(f"/api/v1/conversations/{c}", auth=a).json()["state"] == "bot"
    assert client.get("/api/v1/conversations/999999", auth=a).status_code == 404
    assert client.get("/api/v1/conversations/99999999999999", auth=a).status_code == 404
    with session_scope(console_engine) as session:
        outbox = session.get(OutboxMessage, sent.json()["outbox_message_id"])
        assert outbox is not None and outbox.recipient == seeded.phone
        assert outbox.body == "您好，我是客服王芳。"
        audited = set(session.scalars(
            select(col(AuditEntry.action)).where(col(AuditEntry.entity) == "conversation",
                                                 col(AuditEntry.entity_id) == str(c))
        ).all())  # fmt: skip
        assert {"conversation.take_over", "conversation.reply", "conversation.note",
                "conversation.hand_back"} <= audited  # fmt: skip


def test_unread_counts_follow_the_read_marks_the_page_sends(
    client: TestClient, seeded: Seeded, console_settings: Settings, console_engine: Engine,
    signed_in: dict[str, tuple[Browser, str]],
) -> None:  # fmt: skip
    phone = f"+86137{uuid.uuid4().int % 10**8:08d}"
    context = conversation_context(console_settings)

    def customer_says(body: str) -> int:
        with session_scope(console_engine) as session:
            inbound = InboundMessage("sms", phone, body, f"SM{uuid.uuid4().hex}", NOW)
            return receive_message(session=session, clock=FixedClock(NOW), context=context,
                                   inbound=inbound).conversation_id  # fmt: skip

    def unread_rows() -> dict[int, int]:
        rows = browser.get("/api/v1/conversations", params={"unread": "1"}).json()["items"]
        return {row["id"]: row["unread"] for row in rows}

    browser, token = signed_in["agent"]
    c = customer_says("人工")
    assert unread_rows().get(c) == 1
    queued = browser.get("/api/v1/conversations", params={"state": "queued"}).json()["items"]
    row = next(row for row in queued if row["id"] == c)
    assert row["last_body"] == "人工" and row["waiting_seconds"] == 0  # the clock is fixed
    page = browser.get(f"/console/conversations/{c}")
    newest = int(re.findall(r'data-newest-id="(\d+)"', page.text)[0])
    assert "msg in author-customer unread" in page.text
    marked = browser.post(f"/console/conversations/{c}/read",
                          data={"up_to": str(newest), "csrf_token": token})  # fmt: skip
    assert marked.status_code == 204
    assert c not in unread_rows()
    browser.post(f"/console/conversations/{c}/read", data={"up_to": "1", "csrf_token": token})
    assert c not in unread_rows()  # a read mark never moves back
    customer_says("还在吗？")
    assert unread_rows().get(c) == 1
    # Another agent's marks are their own.
    other, _ = signed_in["admin"]
    rows = other.get("/api/v1/conversations", params={"unread": "1"}).json()["items"]
    assert next(row for row in rows if row["id"] == c)["unread"] == 2


def test_text_the_database_refuses_is_cleaned_or_names_nobody(
    client: TestClient, seeded: Seeded, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    browser, token = signed_in["agent"]
    c = seeded.conversation_id
    noted = browser.post(f"/console/conversations/{c}/notes",
                         data={"body": "call\x00 back", "csrf_token": token})  # fmt: skip
    assert noted.status_code == 303 and "problem" not in noted.headers["location"]
    assert "call back" in browser.get(f"/console/conversations/{c}/live").text
    assert browser.post(f"/api/v1/conversations/{c}/notes", json={"body": "\x00"},
                        headers={"X-CSRF-Token": token}).status_code == 422  # fmt: skip
    nobody = sign_in(
        Browser(client), seeded.staff["agent"][:3] + "\x00" + seeded.staff["agent"][3:]
    )
    assert nobody.status_code == 401


# --- the arrears pages ------------------------------------------------------------------------


def row(engine: Engine, table: Any, row_id: int) -> Any:
    with session_scope(engine) as session:
        return session.execute(select(table).where(table.c.id == row_id)).one()


def followed(browser: Browser, answer: Any) -> Any:
    """The page a form's 303 lands on."""
    assert answer.status_code == 303, answer.text[:300]
    return browser.get(answer.headers["location"])


def submit(browser: Browser, token: str, url: str, **form: str) -> Any:
    """A console form sent with the session's CSRF token, and the page it lands on."""
    return followed(browser, browser.post(url, data={**form, "csrf_token": token}))


def test_the_cases_page_filters_by_stage_and_a_case_page_shows_its_history(
    console_engine: Engine, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    case = arrears_case(console_engine)
    browser, _ = signed_in["collections"]
    listed = browser.get("/console/arrears?stage=disconnection_work_order")
    assert listed.status_code == 200 and f'data-case-id="{case.case_id}"' in listed.text
    assert case.account in listed.text
    other = browser.get("/console/arrears?stage=call_task")
    assert f'data-case-id="{case.case_id}"' not in other.text
    closed = browser.get("/console/arrears?state=closed")
    assert f'data-case-id="{case.case_id}"' not in closed.text
    bad = browser.get("/console/arrears?stage=nonsense")
    assert bad.status_code == 422 and "stage" in bad.text
    page = browser.get(f"/console/arrears/{case.case_id}")
    assert page.status_code == 200
    assert "overdue notice" in page.text and "call the customer" in page.text
    assert f"disconnection {case.order_id}" in page.text
    assert f"reconnection {case.reconnection_id}" in page.text
    assert "2026-10-12 10:00" in page.text  # the step's time, in the utility's time zone
    assert browser.get("/console/arrears/999999").status_code == 404
    assert browser.get("/console/arrears/x").status_code == 404


def test_an_approval_outside_the_humane_window_shows_why_and_writes_nothing(
    console_engine: Engine, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    case = arrears_case(console_engine)
    browser, token = signed_in["collections"]
    url = f"/console/disconnections/{case.order_id}"
    page = browser.get("/console/disconnections")
    assert f'action="{url}/approve"' in page.text
    midday = submit(browser, token, f"{url}/approve", at="2026-11-30T12:00")
    assert "outside the disconnection hours" in midday.text and 'role="alert"' in midday.text
    past = submit(browser, token, f"{url}/approve", at="2026-11-25T09:30")
    assert "must be in the future" in past.text
    garbled = submit(browser, token, f"{url}/approve", at="monday")
    assert "at: a date and time" in garbled.text
    assert row(console_engine, ORDER, case.order_id).status == "proposed"
    with session_scope(console_engine) as session:
        audited = session.execute(select(func.count()).select_from(AuditEntry).where(
            col(AuditEntry.entity) == "disconnection_order",
            col(AuditEntry.entity_id) == str(case.order_id))).scalar_one()  # fmt: skip
    assert audited == 0
    ok = followed(browser, browser.post(f"{url}/approve", data={
        "at": "2026-11-30T09:30", "reason": "notice given", "csrf_token": token}))  # fmt: skip
    assert f"order {case.order_id} approved for 2026-11-30 09:30" in ok.text
    approved = row(console_engine, ORDER, case.order_id)
    assert approved.status == "approved" and approved.decision_reason == "notice given"
    assert approved.approved_for.astimezone(UTC) == datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    no_reason = followed(browser, browser.post(f"{url}/reject", data={"csrf_token": token}))
    assert "reason: a reason is needed" in no_reason.text
    rejected = followed(browser, browser.post(f"{url}/reject", data={
        "reason": "paid at the counter", "csrf_token": token}))  # fmt: skip
    assert f"order {case.order_id} rejected" in rejected.text
    assert row(console_engine, ORDER, case.order_id).status == "rejected"


def test_an_agent_completes_a_call_task_and_collections_a_reconnection(
    console_engine: Engine, seeded: Seeded, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    case = arrears_case(console_engine)
    agent, agent_token = signed_in["agent"]
    tasks = agent.get("/console/tasks")
    assert f'data-task-id="{case.task_id}"' in tasks.text
    assert "/console/arrears/" not in tasks.text  # the case pages are not an agent's
    empty = submit(agent, agent_token, f"/console/tasks/{case.task_id}/complete", outcome=" ")
    assert "outcome: a reason is needed" in empty.text
    done = followed(agent, agent.post(f"/console/tasks/{case.task_id}/complete", data={
        "outcome": "will pay on Friday", "csrf_token": agent_token}))  # fmt: skip
    assert f"task {case.task_id} done" in done.text
    assert f'data-task-id="{case.task_id}"' not in done.text
    task = row(console_engine, TASK, case.task_id)
    assert (task.status, task.outcome) == ("done", "will pay on Friday")
    assert task.completed_by == f"staff:{seeded.staff['agent']}"
    collections, token = signed_in["collections"]
    url = f"/console/reconnections/{case.reconnection_id}/complete"
    assert f'action="{url}"' in collections.get("/console/reconnections").text
    back_on = followed(collections, collections.post(url, data={"csrf_token": token}))
    assert f"reconnection order {case.reconnection_id} done" in back_on.text
    assert row(console_engine, RECONNECT, case.reconnection_id).status == "done"
    again = followed(collections, collections.post(url, data={"csrf_token": token}))
    assert "is done" in again.text


def test_an_arrangement_and_a_dispute_from_the_case_page(
    console_engine: Engine, signed_in: dict[str, tuple[Browser, str]]
) -> None:
    case = arrears_case(console_engine)
    browser, token = signed_in["collections"]
    here = f"/console/arrears/{case.case_id}"
    garbled = followed(browser, browser.post(f"{here}/arrangements", data={
        "instalments": "next week 100", "csrf_token": token}))  # fmt: skip
    assert "instalments: line 1" in garbled.text
    past = followed(browser, browser.post(f"{here}/arrangements", data={
        "instalments": "2026-11-01 100.00", "csrf_token": token}))  # fmt: skip
    assert "the first date is in the past" in past.text
    made = followed(browser, browser.post(f"{here}/arrangements", data={
        "instalments": "2026-12-20 150.00\n2027-01-20 150.00", "note": "by phone",
        "csrf_token": token}))  # fmt: skip
    assert "agreed" in made.text and "2027-01-20" in made.text and "by phone" in made.text
    assert row(console_engine, ORDER, case.order_id).status == "cancelled"  # the ladder stopped
    arrangement = re.search(r'data-arrangement-id="(\d+)"', made.text)
    assert arrangement is not None
    declined = followed(browser, browser.post(
        f"{here}/arrangements/{arrangement.group(1)}/decline",
        data={"reason": "first instalment bounced", "csrf_token": token}))  # fmt: skip
    assert "declined" in declined.text and "first instalment bounced" in declined.text
    opened = followed(browser, browser.post(f"{here}/disputes", data={
        "body": "the meter was read twice", "csrf_token": token}))  # fmt: skip
    assert "the meter was read twice" in opened.text
    dispute = re.search(r'data-dispute-id="(\d+)"', opened.text)
    assert dispute is not None
    wrong_bill = followed(browser, browser.post(f"{here}/disputes", data={
        "body": "x", "bill": "abc", "csrf_token": token}))  # fmt: skip
    assert "bill:" in wrong_bill.text
    closed = followed(browser, browser.post(f"{here}/disputes/{dispute.group(1)}/close", data={
        "reason": "read again: correct", "csrf_token": token}))  # fmt: skip
    assert "read again: correct" in closed.text
    assert f"dispute {dispute.group(1)} closed" in closed.text


# --- customers (master data) --------------------------------------------------------------------


def test_the_customer_page_and_its_changes_for_every_role_audited(
    client: TestClient, seeded: Seeded, signed_in: dict[str, tuple[Browser, str]],
    console_engine: Engine,
) -> None:  # fmt: skip
    from billing_core.customers.tables import Account
    from tests.factories import make_meter

    with session_scope(console_engine) as session:
        account = session.exec(select(Account).where(Account.number == seeded.account)).one()
        customer_id = account.customer_id
        meter_id = make_meter(session, account=account).id
    page = f"/console/customers/{customer_id}"
    for role in ROLES:
        answer = signed_in[role][0].get(page)
        assert answer.status_code == 200, (role, answer.text[:300])
        assert seeded.account in answer.text
        assert ("Add contact" in answer.text) == (role in AGENT_ONLY)
        assert ("Assign tariff" in answer.text) == (role == "admin")
        assert ("Replace meter" in answer.text) == (role == "admin")
    number = seeded.account
    for path, form, allowed in [
        (f"{page}/contacts", {"channel": "sms", "address": "13712345678"}, AGENT_ONLY),
        (f"/console/accounts/{number}/reading-day", {"reading_day": "9"}, ("admin",)),
        (f"/console/accounts/{number}/tariff",
         {"tariff_code": "beijing-residential", "effective_from": "2026-12-01"}, ("admin",)),
        (f"/console/meters/{meter_id}/replace",
         {"final_total": "120.5", "read_at": "2026-11-25T10:00", "initial_total": "0",
          "serial": f"C{uuid.uuid4().hex[:12]}"}, ("admin",)),
    ]:  # fmt: skip
        for role in ROLES:
            browser, token = signed_in[role]
            actor = f"staff:{seeded.staff[role]}"
            with session_scope(console_engine) as session:
                before = session.scalar(select(func.count()).select_from(AuditEntry)
                                        .where(col(AuditEntry.actor) == actor))  # fmt: skip
            answer = browser.post(path, data={**form, "csrf_token": token})
            with session_scope(console_engine) as session:
                after = session.scalar(select(func.count()).select_from(AuditEntry)
                                       .where(col(AuditEntry.actor) == actor))  # fmt: skip
            if role in allowed:
                assert answer.status_code == 303, (path, role, answer.text[:300])
                assert after is not None and before is not None
                if role == allowed[0]:  # the first one changes it (the second is a repeat)
                    assert after > before, (path, role)
                    assert "problem=" not in answer.headers["location"], answer.headers
            else:
                assert answer.status_code == 403, (path, role)
                assert after == before, (path, role)
        assert Browser(client).post(path, data=form).status_code == 303  # to the sign-in
    shown = signed_in["admin"][0].get(page).text
    assert "+8613712345678" in shown and "beijing-residential" in shown
    assert "2026-11-25" in shown  # the old meter's removal day


def audit_actions(engine: Engine, actor: str) -> list[str]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditEntry.action).where(
            col(AuditEntry.actor) == actor).order_by(col(AuditEntry.id))))  # fmt: skip


def test_an_agent_attests_and_removes_contacts_and_the_last_one_stays(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]], console_engine: Engine,
) -> None:  # fmt: skip
    from billing_core.customers.tables import Contact

    browser, token = signed_in["agent"]
    with session_scope(console_engine) as session:
        customer = make_customer(session, at=NOW, name="王芳")
        first = make_contact(session, customer=customer, at=NOW,
                             address=f"+86137{uuid.uuid4().int % 10**8:08d}")  # fmt: skip
        customer_id, first_id = customer.id, first.id
    page = f"/console/customers/{customer_id}"
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    added = submit(browser, token, f"{page}/contacts", channel="sms", address=phone)
    assert "unverified until the customer confirms" in added.text
    with session_scope(console_engine) as session:
        contact = session.exec(select(Contact).where(Contact.address == f"+86{phone}")).one()
        assert not contact.verified
        contact_id = contact.id
    assert f'action="/console/contacts/{contact_id}/verify"' in added.text
    unsaid = submit(browser, token, f"/console/contacts/{contact_id}/verify", attested=" ")
    assert "attested: must not be empty" in unsaid.text
    verified = submit(browser, token, f"/console/contacts/{contact_id}/verify",
                      attested="called the number on file back")  # fmt: skip
    assert f"contact +86{phone} verified" in verified.text
    assert f'action="/console/contacts/{contact_id}/verify"' not in verified.text
    again = submit(browser, token, f"/console/contacts/{contact_id}/verify", attested="again")
    assert "already verified" in again.text
    removed = submit(browser, token, f"/console/contacts/{first_id}/remove", reason="moved away")
    assert "removed" in removed.text and f'data-contact-id="{first_id}"' not in removed.text
    last = submit(browser, token, f"/console/contacts/{contact_id}/remove", reason="x")
    assert "only contact: add another first" in last.text  # refused, said on the page
    assert f'data-contact-id="{contact_id}"' in last.text
    actor = f"staff:{seeded.staff['agent']}"
    assert audit_actions(console_engine, actor)[-3:] == [
        "contact.add", "contact.verify", "contact.remove"]  # fmt: skip


def test_an_admin_creates_a_customer_opens_an_account_and_installs_links_removes_meters(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]], console_engine: Engine,
) -> None:  # fmt: skip
    from billing_core.customers.tables import Customer
    from billing_core.readings.tables import Meter

    browser, token = signed_in["admin"]
    created = browser.post("/console/customers", data={
        "name": "Tom Reed", "kind": "residential", "language": "en", "household_size": "2",
        "csrf_token": token})  # fmt: skip
    assert created.status_code == 303 and "done=" in created.headers["location"]
    customer_id = int(re.search(r"/console/customers/(\d+)", created.headers["location"])[1])
    page = browser.get(created.headers["location"]).text
    assert "customer Tom Reed created" in page and "No accounts." in page
    renamed = submit(browser, token, f"/console/customers/{customer_id}/edit", name="Tom Reed",
                     kind="residential", language="zh-CN", household_size="3")  # fmt: skip
    assert "household_size, language changed" in renamed.text
    with session_scope(console_engine) as session:
        stored = session.get(Customer, customer_id)
        assert stored is not None and (stored.language, stored.household_size) == ("zh-CN", 3)
    same = submit(browser, token, f"/console/customers/{customer_id}/edit", name="Tom Reed",
                  kind="residential", language="zh-CN", household_size="3")  # fmt: skip
    assert "nothing to change" in same.text
    number = f"{uuid.uuid4().int % 10**10:010d}"
    opened = submit(browser, token, f"/console/customers/{customer_id}/accounts", number=number,
                    service_address="1 River Road", reading_day="12", opened_on="2026-11-01",
                    tariff_code="beijing-residential", payment_terms_days="")  # fmt: skip
    assert f"account {number} opened" in opened.text and "No meter yet." in opened.text
    bad_terms = submit(browser, token, f"/console/customers/{customer_id}/accounts",
                       number=f"{number[:-1]}x", service_address="2 River Road",
                       reading_day="12", opened_on="2026-11-01",
                       tariff_code="beijing-residential", payment_terms_days="ten")  # fmt: skip
    assert "payment_terms_days: a whole number" in bad_terms.text
    serial = f"M{uuid.uuid4().hex[:10]}"
    installed = submit(browser, token, f"/console/accounts/{number}/meters", serial=serial,
                       installed_on="2026-11-01", initial_total="12.5")  # fmt: skip
    assert f"meter {serial} installed" in installed.text
    assert "Install meter" not in installed.text  # one meter in service at a time
    with session_scope(console_engine) as session:
        meter = session.exec(select(Meter).where(Meter.serial == serial)).one()
        meter_id = meter.id
    twice = submit(browser, token, f"/console/accounts/{number}/meters", serial=f"{serial}b",
                   installed_on="2026-11-02")  # fmt: skip
    assert f"has meter {serial} in service: replace it" in twice.text
    loop = submit(browser, token, f"/console/meters/{meter_id}/parent",
                  parent_meter_id=str(meter_id))  # fmt: skip
    assert "would make the meter its own ancestor" in loop.text
    unlinked = submit(browser, token, f"/console/meters/{meter_id}/parent", parent_meter_id="")
    assert f"meter {meter_id} has no parent meter" in unlinked.text
    # a reading typed the way people do (a comma): the form comes back, the field named
    typo = browser.post(f"/console/meters/{meter_id}/remove", headers={
        "Referer": f"http://testserver/console/customers/{customer_id}?done=old"}, data={
        "final_total": "130,5", "read_at": "2026-11-25T10:00", "reason": "moved away",
        "csrf_token": token})  # fmt: skip
    assert typo.status_code == 303
    assert typo.headers["location"].startswith(f"/console/customers/{customer_id}?problem=")
    assert "final_total" in browser.get(typo.headers["location"]).text
    with session_scope(console_engine) as session:
        assert session.get(Meter, meter_id).removed_on is None  # type: ignore[union-attr]
    removed = submit(browser, token, f"/console/meters/{meter_id}/remove", final_total="130.5",
                     read_at="2026-11-25T10:00", reason="moved away")  # fmt: skip
    assert f"meter {serial} removed on 2026-11-25" in removed.text
    assert "Install meter" in removed.text  # none in service again
    actor = f"staff:{seeded.staff['admin']}"
    assert {"customer.create", "customer.update", "account.open", "meter.install",
            "meter.remove"} <= set(audit_actions(console_engine, actor))  # fmt: skip


def test_a_console_form_a_type_refuses_goes_back_to_its_page_but_the_api_answers_422(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]],
) -> None:  # fmt: skip
    browser, token = signed_in["admin"]
    answer = browser.post(f"/console/accounts/{seeded.account}/reading-day", headers={
        "Referer": "http://testserver/console/customers?q=x&problem=old"},
        data={"reading_day": "31", "csrf_token": token})  # fmt: skip
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/customers?q=x&problem=reading_day")
    elsewhere = browser.post(f"/console/accounts/{seeded.account}/reading-day", headers={
        "Referer": "https://evil.example/console/x"}, data={"reading_day": "x",
        "csrf_token": token})  # fmt: skip
    assert elsewhere.headers["location"].startswith("/console?problem=")
    api = browser.client.post("/api/v1/customers", json={"name": 5})
    assert api.status_code in (401, 403, 422) and "location" not in api.headers


def test_an_admin_makes_a_group_its_members_and_its_consolidated_notice(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]], console_engine: Engine,
) -> None:  # fmt: skip
    from billing_core.customers.tables import CustomerGroup

    browser, token = signed_in["admin"]
    code = f"G{uuid.uuid4().hex[:8]}"
    made = submit(browser, token, "/console/groups", code=code, name="River Works",
                  consolidated_notice="true")  # fmt: skip
    assert f"group {code} created" in made.text
    with session_scope(console_engine) as session:
        group = session.exec(select(CustomerGroup).where(CustomerGroup.code == code)).one()
        group_id = group.id
        member = make_customer(session, at=NOW, name="River Works Canteen")
        member_id = member.id
    assert f'data-group-id="{group_id}"' in made.text
    assert "per account (consolidated, but no contact customer)" in made.text
    joined = submit(browser, token, f"/console/customers/{member_id}/edit",
                    name="River Works Canteen", kind="residential", language="zh-CN",
                    household_size="1", group_code=code)  # fmt: skip
    assert "group_code changed" in joined.text and f">{code}</a>" in joined.text
    edit = f"/console/groups/{group_id}/edit"
    wrong = submit(browser, token, edit, name="River Works", consolidated_notice="true",
                   contact_customer_id="the canteen")  # fmt: skip
    assert "contact_customer_id: a whole number" in wrong.text
    nobody = submit(browser, token, edit, name="River Works", consolidated_notice="true",
                    contact_customer_id="999999")  # fmt: skip
    assert "no customer 999999" in nobody.text
    set_contact = submit(browser, token, edit, name="River Works Ltd", consolidated_notice="true",
                         contact_customer_id=str(member_id))  # fmt: skip
    assert f"one consolidated notice, to customer {member_id}" in set_contact.text
    row_html = re.search(rf'<tr data-group-id="{group_id}">.*?</tr>', set_contact.text, re.S)
    assert row_html is not None
    assert "River Works Ltd" in row_html[0] and "River Works Canteen" in row_html[0]
    assert "<td>1</td>" in row_html[0]  # one member
    per_account = submit(browser, token, edit, name="River Works Ltd", contact_customer_id="")
    assert f"group {code}: a notice per account" in per_account.text
    with session_scope(console_engine) as session:
        stored = session.get(CustomerGroup, group_id)
        assert stored is not None and stored.name == "River Works Ltd"
        assert (stored.consolidated_notice, stored.contact_customer_id) == (False, None)
    actor = f"staff:{seeded.staff['admin']}"
    assert {"group.create", "group.update", "group.notice"} <= set(
        audit_actions(console_engine, actor))  # fmt: skip
    assert "Save group" not in signed_in["agent"][0].get("/console/groups").text


def test_a_care_flag_from_the_customer_page_withdraws_the_pending_disconnection(
    seeded: Seeded, signed_in: dict[str, tuple[Browser, str]], console_engine: Engine,
) -> None:  # fmt: skip
    from billing_core.customers.tables import Account, CustomerSensitivity

    case = arrears_case(console_engine)
    with session_scope(console_engine) as session:
        account = session.exec(select(Account).where(Account.number == case.account)).one()
        customer_id = account.customer_id
    page = f"/console/customers/{customer_id}"
    agent, agent_token = signed_in["agent"]
    assert "None recorded." in agent.get(page).text
    wrong = submit(agent, agent_token, f"{page}/sensitivities", kind="infant", note="a baby",
                   valid_to="2026-01-01")  # fmt: skip
    assert "valid_to: before valid_from" in wrong.text
    recorded = submit(agent, agent_token, f"{page}/sensitivities", kind="medical_equipment",
                      note="her father uses a home oxygen concentrator", valid_to="")  # fmt: skip
    assert "care flag recorded: medical equipment at home" in recorded.text
    assert f"disconnection order {case.order_id} withdrawn" in recorded.text
    assert row(console_engine, ORDER, case.order_id).status == "cancelled"
    with session_scope(console_engine) as session:
        task = session.execute(select(TASK.c.kind, TASK.c.detail).where(
            TASK.c.case_id == case.case_id, TASK.c.reason == "sensitive_customer",
        )).one()  # fmt: skip
        flag = session.exec(select(CustomerSensitivity).where(
            CustomerSensitivity.customer_id == customer_id)).one()  # fmt: skip
    assert task.kind == "review" and "oxygen concentrator" in task.detail
    assert (flag.valid_from, flag.valid_to) == (date(2026, 11, 26), None)
    assert f'data-flag-id="{flag.id}" class="care"' in recorded.text
    assert f'action="/console/sensitivities/{flag.id}/end"' not in recorded.text  # not agents'
    refused = agent.post(f"/console/sensitivities/{flag.id}/end",
                         data={"reason": "x", "csrf_token": agent_token})  # fmt: skip
    assert refused.status_code == 403
    boss, boss_token = signed_in["collections"]
    ended = submit(boss, boss_token, f"/console/sensitivities/{flag.id}/end",
                   reason="moved to his son's home")  # fmt: skip
    assert "care flag ended: its last day was 2026-11-25" in ended.text
    assert f'data-flag-id="{flag.id}" class="care"' not in ended.text
    again = submit(boss, boss_token, f"/console/sensitivities/{flag.id}/end", reason="again")
    assert "ended on 2026-11-25" in again.text
    assert {"sensitivity.add", "disconnection.withdraw"} <= set(
        audit_actions(console_engine, f"staff:{seeded.staff['agent']}"))  # fmt: skip
    assert "sensitivity.end" in audit_actions(
        console_engine, f"staff:{seeded.staff['collections']}")  # fmt: skip


def test_an_admin_installs_replaces_and_removes_a_time_of_use_meter_with_its_registers(
    signed_in: dict[str, tuple[Browser, str]], console_engine: Engine,
) -> None:  # fmt: skip
    from billing_core.readings.tables import Meter, MeterReading

    with session_scope(console_engine) as session:
        customer = make_customer(session, at=NOW, name="峰谷用户")
        account = make_account(session, customer=customer,
                               number=f"6{uuid.uuid4().int % 10**9:09d}")  # fmt: skip
        customer_id, number = customer.id, account.number
    browser, token = signed_in["admin"]
    page = f"/console/customers/{customer_id}"
    assert 'name="initial_peak"' in browser.get(page).text
    tou = f"T{uuid.uuid4().hex[:10]}"
    install = f"/console/accounts/{number}/meters"
    missing = submit(browser, token, install, serial=tou, installed_on="2026-11-01", tou="true",
                     initial_total="100")  # fmt: skip
    assert "initial.peak: required on a time-of-use meter" in missing.text
    garbled = submit(browser, token, install, serial=tou, installed_on="2026-11-01", tou="true",
                     initial_total="100", initial_peak="30,5", initial_flat="40",
                     initial_valley="29.5")  # fmt: skip
    assert "initial.peak: a number such as 1234.5" in garbled.text
    installed = submit(browser, token, install, serial=tou, installed_on="2026-11-01",
                       tou="true", initial_total="100", initial_peak="30.5",
                       initial_flat="40", initial_valley="29.5")  # fmt: skip
    assert f"meter {tou} installed" in installed.text and "time-of-use" in installed.text
    assert 'name="final_peak"' in installed.text  # its replace and remove forms ask for them
    with session_scope(console_engine) as session:
        meter = session.exec(select(Meter).where(Meter.serial == tou)).one()
        assert meter.tou
        meter_id = meter.id
    plain = f"P{uuid.uuid4().hex[:10]}"
    replaced = submit(browser, token, f"/console/meters/{meter_id}/replace",
                      read_at="2026-11-25T10:00", final_total="250", final_peak="80",
                      final_flat="100", final_valley="70", serial=plain,
                      initial_total="0")  # fmt: skip
    assert f"meter {plain} replaces meter {meter_id}" in replaced.text
    with session_scope(console_engine) as session:
        last = select(MeterReading).where(MeterReading.meter_id == meter_id)
        final = session.exec(last.order_by(col(MeterReading.id).desc())).first()
        new = session.exec(select(Meter).where(Meter.serial == plain)).one()
        assert final is not None and (final.peak, final.valley) == (80, 70)
        assert not new.tou
        new_id = new.id
    wrong = submit(browser, token, f"/console/meters/{new_id}/remove", read_at="2026-11-26T10:00",
                   final_total="5", final_peak="1", reason="moved")  # fmt: skip
    assert "final.peak: only on a time-of-use meter" in wrong.text
