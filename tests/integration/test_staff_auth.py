"""Staff sign-in on the staff API, on SQLite and PostgreSQL: no transaction begins before the
user is signed in and authorised (a wrong password is answered while another connection
holds SQLite's write lock); failed sign-ins back off per username and per client address,
with 429 and Retry-After, and a lock-out is audited once; writes are refused cross-site
(CSRF); personal API tokens sign in until they expire or are revoked."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, event, func
from sqlmodel import Session, select
from starlette.types import ASGIApp, Receive, Scope, Send

import api.routes
from api.app import create_app
from api.auth import current_staff
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.db.engine import IMMEDIATE, SQLITE_BEGIN
from billing_core.payments.tables import Payment
from billing_core.settings import Settings
from billing_core.staff import passwords, tokens
from billing_core.staff.service import add_staff
from billing_core.staff.tables import StaffUser
from billing_core.staff.throttle import ADDRESS_BACKOFF, USER_BACKOFF
from tests.conftest import migrated_database
from tests.factories import make_account, make_customer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PASSWORD = "a-long-enough-password-for-tests"
WRONG = "not-the-password-at-all"
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def auth_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A database of each kind for this module, with one account to pay into."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("auth")) as engine:
        with session_scope(engine) as session:
            make_account(session, customer=make_customer(session, at=NOW), number="8100000001")
        yield engine


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with the cheapest parameters: these tests sign in many times."""
    monkeypatch.setattr(
        passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


def hire(engine: Engine, role: str = "collections") -> str:
    """A new staff user of `role` (a fresh name: the module's tests share the database)."""
    username = f"{role}-{uuid.uuid4().hex[:10]}"
    with session_scope(engine) as session:
        add_staff(session=session, clock=FixedClock(NOW), username=username, role=role,
                  password=PASSWORD, actor="test")  # fmt: skip
    return username


ADDRESS_HEADER = "x-test-client-address"


def from_address(app: ASGIApp) -> ASGIApp:
    """`app` seeing the client address a request names in ADDRESS_HEADER (as a server sees
    the peer's), so that one test client can be many clients."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            named = dict(scope["headers"]).get(ADDRESS_HEADER.encode())
            if named:
                scope = {**scope, "client": (named.decode(), 50000)}
        await app(scope, receive, send)

    return asgi


def at(address: str) -> dict[str, str]:
    return {ADDRESS_HEADER: address}


@dataclass
class Desk:
    app: FastAPI
    client: TestClient
    clock: FixedClock
    engine: Engine


@pytest.fixture
def desk(settings: Settings, auth_engine: Engine) -> Iterator[Desk]:
    clock = FixedClock(NOW)
    app = create_app(settings, engine=auth_engine, clock=clock, configure_logs=False)
    with TestClient(from_address(app)) as client:
        yield Desk(app, client, clock, auth_engine)


def payment(reference: str) -> dict[str, Any]:
    return {"source": "bank", "payments": [{
        "channel": "bank", "reference": reference, "account_number": "8100000001",
        "amount": "10.00", "paid_at": "2026-11-25T20:15"}]}  # fmt: skip


def payments_with(engine: Engine, reference: str) -> int:
    with Session(engine) as session:
        return session.exec(
            select(func.count()).select_from(Payment).where(Payment.provider_reference == reference)
        ).one()


def duplicates(
    client: TestClient, auth: tuple[str, str], address: str = "testclient"
) -> httpx.Response:
    """A read any collections user may make, from `address`."""
    return client.get("/api/v1/payments/duplicates", auth=auth, headers=at(address))


def lockouts(engine: Engine, key: str) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEntry).where(
                    AuditEntry.action == "staff.sign_in.locked_out", AuditEntry.entity_id == key
                )
            )
        )


def count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords whose hash the app checks from now on."""
    checked: list[str] = []
    real_verify = passwords.verify_password

    def verify(stored: str | None, given: str) -> bool:
        checked.append(given)
        return real_verify(stored, given)

    monkeypatch.setattr("api.auth.verify_password", verify)
    return checked


# --- no transaction before sign-in ------------------------------------------------------------


@pytest.fixture
def begins(auth_engine: Engine) -> Iterator[list[str]]:
    """How each transaction on the engine begins while the test runs: "write" (IMMEDIATE on
    SQLite; the same option, ignored, on PostgreSQL) or "read"."""
    seen: list[str] = []

    def begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(SQLITE_BEGIN) == IMMEDIATE
        seen.append("write" if immediate else "read")

    event.listen(auth_engine, "begin", begin)
    yield seen
    event.remove(auth_engine, "begin", begin)


def test_no_write_transaction_begins_before_the_user_is_signed_in_and_authorised(
    desk: Desk, begins: list[str]
) -> None:
    collections, agent = hire(desk.engine), hire(desk.engine, "agent")
    # The live hub's polls (every 100 ms on SQLite) are read transactions of their own, on
    # the same engine: stopped, so that what is counted is the requests'.
    desk.client.portal.call(desk.app.state.live.aclose)  # type: ignore[union-attr]
    begins.clear()
    wrong = desk.client.post("/api/v1/payments", json=payment("NB-1"), auth=(collections, WRONG))
    assert wrong.status_code == 401
    assert "write" not in begins  # the user was read in a read-only transaction, then closed

    begins.clear()
    refused = desk.client.post("/api/v1/payments", json=payment("NB-2"), auth=(agent, PASSWORD))
    assert refused.status_code == 403  # an agent may not record payments
    assert "write" not in begins

    begins.clear()
    cross_site = desk.client.post("/api/v1/payments", content=b"{}",
                                  headers={"Content-Type": "text/plain"},
                                  auth=(collections, PASSWORD))  # fmt: skip
    assert cross_site.status_code == 403
    assert begins == []  # refused before even the user was read

    begins.clear()
    ok = desk.client.post("/api/v1/payments", json=payment("NB-3"), auth=(collections, PASSWORD))
    assert ok.status_code == 200, ok.text
    assert begins == ["read", "write"]  # the sign-in's read, then the route's unit of work


@pytest.fixture
def sqlite_desk(settings: Settings, tmp_path: Path) -> Iterator[Desk]:
    with migrated_database("sqlite", tmp_path) as engine:
        clock = FixedClock(NOW)
        app = create_app(settings, engine=engine, clock=clock, configure_logs=False)
        with TestClient(app) as client:
            yield Desk(app, client, clock, engine)


def answer_within(seconds: float, send: Any) -> httpx.Response:
    """`send()`'s answer, which must come within `seconds` (the request runs in a thread)."""
    answers: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: answers.append(send()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert answers, f"no answer within {seconds} s"
    return answers[0]


def test_a_wrong_password_is_answered_while_another_connection_holds_sqlites_write_lock(
    sqlite_desk: Desk,
) -> None:
    """Before, the POST began SQLite's write transaction (BEGIN IMMEDIATE) before checking
    the password: with the lock held elsewhere it waited out the 30 s busy timeout."""
    desk = sqlite_desk
    collections, agent = hire(desk.engine), hire(desk.engine, "agent")
    database = desk.engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the one write lock
    try:
        wrong = answer_within(5, lambda: desk.client.post(
            "/api/v1/payments", json=payment("LK-1"), auth=(collections, WRONG)))  # fmt: skip
        assert wrong.status_code == 401
        refused = answer_within(5, lambda: desk.client.post(
            "/api/v1/payments", json=payment("LK-2"), auth=(agent, PASSWORD)))  # fmt: skip
        assert refused.status_code == 403
        read = answer_within(5, lambda: duplicates(desk.client, (collections, PASSWORD)))
        assert read.status_code == 200
    finally:
        holder.execute("ROLLBACK")
        holder.close()


# --- back-off -----------------------------------------------------------------------------------


def test_after_a_few_failures_even_the_right_password_waits_and_the_wait_grows(desk: Desk) -> None:
    user = hire(desk.engine)
    for _ in range(USER_BACKOFF.free_failures):
        assert duplicates(desk.client, (user, WRONG)).status_code == 401

    locked = duplicates(desk.client, (user, PASSWORD))
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "1"
    assert "try again" in locked.json()["detail"]

    desk.clock.advance(timedelta(seconds=1))
    assert duplicates(desk.client, (user, WRONG)).status_code == 401  # the 6th failure
    again = duplicates(desk.client, (user, PASSWORD))
    assert (again.status_code, again.headers["Retry-After"]) == (429, "2")

    desk.clock.advance(timedelta(seconds=2))
    assert duplicates(desk.client, (user, PASSWORD)).status_code == 200
    # Signed in, the user's failures are forgiven: the next mistake is not yet locked out.
    assert duplicates(desk.client, (user, WRONG)).status_code == 401
    assert duplicates(desk.client, (user, PASSWORD)).status_code == 200


def test_a_locked_username_is_refused_from_every_address_and_costs_no_hash(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = hire(desk.engine)
    for _ in range(USER_BACKOFF.free_failures):
        assert duplicates(desk.client, (user, WRONG)).status_code == 401

    checked = count_hashes(monkeypatch)
    for _ in range(10):
        assert duplicates(desk.client, (user, PASSWORD), "192.0.2.7").status_code == 429
    assert checked == []


def test_failures_from_one_address_lock_that_address_out_for_every_user(desk: Desk) -> None:
    victim, guesser = hire(desk.engine), "198.51.100.9"
    for index in range(ADDRESS_BACKOFF.free_failures):
        # A different name each time: no username reaches its own limit.
        assert duplicates(desk.client, (f"guess-{index}", WRONG), guesser).status_code == 401
    locked = duplicates(desk.client, (victim, PASSWORD), guesser)
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "1"
    # A token from there is refused too: the address is locked, not a name.
    token = desk.client.get("/api/v1/payments/duplicates",
                            headers={**at(guesser), **bearer("wdt_x")})  # fmt: skip
    assert token.status_code == 429

    # Elsewhere the same user signs in.
    assert duplicates(desk.client, (victim, PASSWORD), "203.0.113.5").status_code == 200
    assert lockouts(desk.engine, guesser)[0].entity == "client_address"

    desk.clock.advance(timedelta(seconds=1))
    assert duplicates(desk.client, (victim, PASSWORD), guesser).status_code == 200


def test_an_ipv6_client_is_counted_by_its_64_network(desk: Desk) -> None:
    for index in range(ADDRESS_BACKOFF.free_failures):
        address = f"2001:db8:1:2::{index + 1:x}"
        assert duplicates(desk.client, (f"v6-{index}", WRONG), address).status_code == 401
    assert duplicates(desk.client, ("anyone", WRONG), "2001:db8:1:2:ffff::1").status_code == 429
    assert duplicates(desk.client, ("anyone", WRONG), "2001:db8:1:3::1").status_code == 401


def test_a_lock_out_is_audited_once_however_many_attempts_follow(desk: Desk) -> None:
    user = hire(desk.engine)
    for _ in range(USER_BACKOFF.free_failures):
        assert duplicates(desk.client, (user, WRONG)).status_code == 401
    for _ in range(20):
        assert duplicates(desk.client, (user, WRONG)).status_code == 429
    # Later, longer waits of the same run of failures are not new lock-outs.
    for seconds in (1, 2, 4):
        desk.clock.advance(timedelta(seconds=seconds))
        assert duplicates(desk.client, (user, WRONG)).status_code == 401

    (entry,) = lockouts(desk.engine, user)
    assert (entry.entity, entry.actor, entry.reason) == (
        "staff_user", "system:sign-in", "too many failed sign-ins")  # fmt: skip
    assert entry.after == {
        "failures": USER_BACKOFF.free_failures,
        "locked_until": (NOW + timedelta(seconds=1)).isoformat(),
    }


def test_a_password_verified_recently_is_not_hashed_again_until_it_changes(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = hire(desk.engine)
    checked = count_hashes(monkeypatch)
    for _ in range(5):
        assert duplicates(desk.client, (user, PASSWORD)).status_code == 200
    assert checked == [PASSWORD]

    assert duplicates(desk.client, (user, WRONG)).status_code == 401  # a wrong one is hashed
    assert checked == [PASSWORD, WRONG]

    with session_scope(desk.engine) as session:  # a new password: a new stored hash
        row = session.exec(select(StaffUser).where(StaffUser.username == user)).one()
        row.password_hash = passwords.hash_password("another-long-password")
    assert duplicates(desk.client, (user, PASSWORD)).status_code == 401
    assert duplicates(desk.client, (user, "another-long-password")).status_code == 200

    with session_scope(desk.engine) as session:  # deactivated: refused at once
        session.exec(select(StaffUser).where(StaffUser.username == user)).one().active = False
    assert duplicates(desk.client, (user, "another-long-password")).status_code == 401


# --- cross-site request forgery -------------------------------------------------------------------


def test_a_json_payment_sent_as_text_plain_from_another_site_is_refused(desk: Desk) -> None:
    """What a form or `fetch(no-cors)` on another site can send with the browser's cached
    Basic credentials; before, it recorded the payment."""
    user = hire(desk.engine)
    forged = desk.client.post(
        "/api/v1/payments",
        content=json.dumps(payment("CSRF-1")).encode(),
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        auth=(user, PASSWORD),
    )
    assert forged.status_code == 403
    assert "Content-Type: application/json" in forged.json()["detail"]
    assert payments_with(desk.engine, "CSRF-1") == 0

    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = desk.client.post(
            "/api/v1/payments",
            content=json.dumps(payment("CSRF-1")),
            headers={"Content-Type": content_type},
            auth=(user, PASSWORD),
        )
        assert answer.status_code == 403, content_type
    assert desk.client.post("/api/v1/refunds/1/approve", auth=(user, PASSWORD)).status_code == 403
    assert payments_with(desk.engine, "CSRF-1") == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1:8001"},  # another port is another origin
        {"Origin": "null"},  # a sandboxed frame, a file
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_json_write_from_another_origin_is_refused(desk: Desk, headers: dict[str, str]) -> None:
    user = hire(desk.engine)
    reference = f"ORIGIN-{uuid.uuid4().hex[:8]}"
    answer = desk.client.post("/api/v1/payments", json=payment(reference),
                              headers=headers, auth=(user, PASSWORD))  # fmt: skip
    assert answer.status_code == 403
    assert "own origin" in answer.json()["detail"]
    assert payments_with(desk.engine, reference) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a script: no Origin
        {"Origin": "http://127.0.0.1:8000"},  # WATTDESK_PUBLIC_BASE_URL's origin
        {"Origin": "http://testserver"},  # the development default: the request's own Host
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        {"Content-Type": "application/json; charset=utf-8"},
    ],
)
def test_a_json_write_with_no_origin_or_our_own_is_accepted(
    desk: Desk, headers: dict[str, str]
) -> None:
    user = hire(desk.engine)
    reference = f"OWN-{uuid.uuid4().hex[:8]}"
    answer = desk.client.post("/api/v1/payments", json=payment(reference),
                              headers=headers, auth=(user, PASSWORD))  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert payments_with(desk.engine, reference) == 1


def test_a_configured_public_address_is_the_only_origin_accepted(
    settings: Settings, auth_engine: Engine
) -> None:
    configured = settings.model_copy(update={"public_base_url": "https://desk.example.com"})
    app = create_app(configured, engine=auth_engine, clock=FixedClock(NOW), configure_logs=False)
    user = hire(auth_engine)
    with TestClient(app) as client:
        for origin, status in (
            ("https://desk.example.com", 200),
            ("https://DESK.example.com:443", 200),
            ("http://testserver", 403),
            ("http://desk.example.com", 403),
        ):
            answer = client.post(
                "/api/v1/payments",
                json=payment(f"CFG-{uuid.uuid4().hex[:8]}"),
                headers={"Origin": origin},
                auth=(user, PASSWORD),
            )
            assert answer.status_code == status, origin


def test_reads_need_no_json_nor_origin(desk: Desk) -> None:
    user = hire(desk.engine)
    answer = desk.client.get("/api/v1/payments/duplicates", auth=(user, PASSWORD),
                             headers={"Origin": "https://evil.example"})  # fmt: skip
    assert answer.status_code == 200  # a cross-site page cannot read the answer (no CORS)


# --- personal API tokens --------------------------------------------------------------------------


def make_token(engine: Engine, username: str, *, days: int = 30) -> tuple[int, str]:
    with session_scope(engine) as session:
        row, token = tokens.create_token(session=session, clock=FixedClock(NOW),
                                         username=username, days=days, actor="test")  # fmt: skip
        assert row.id is not None
        return row.id, token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_signs_in_until_it_expires_or_is_revoked(desk: Desk) -> None:
    user = hire(desk.engine)
    token_id, token = make_token(desk.engine, user, days=2)
    with Session(desk.engine) as session:  # only its hash is stored
        assert token not in str(session.get(tokens.StaffToken, token_id))

    assert desk.client.get("/api/v1/payments/duplicates", headers=bearer(token)).status_code == 200
    posted = desk.client.post("/api/v1/payments", json=payment("TOK-1"), headers=bearer(token))
    assert posted.status_code == 200 and posted.json()["actor"] == f"staff:{user}"

    desk.clock.advance(timedelta(days=2))  # expired at exactly its end
    expired = desk.client.get("/api/v1/payments/duplicates", headers=bearer(token))
    assert expired.status_code == 401

    desk.clock.current = NOW
    with session_scope(desk.engine) as session:
        tokens.revoke_token(session=session, clock=FixedClock(NOW), token_id=token_id, actor="t")
    assert desk.client.get("/api/v1/payments/duplicates", headers=bearer(token)).status_code == 401


def test_a_wrong_token_or_an_inactive_users_token_is_refused(desk: Desk) -> None:
    user = hire(desk.engine)
    _, token = make_token(desk.engine, user)
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "wdt_", "not-a-token"):
        assert desk.client.get("/api/v1/payments/duplicates",
                               headers=bearer(wrong)).status_code == 401  # fmt: skip
    with session_scope(desk.engine) as session:
        session.exec(select(StaffUser).where(StaffUser.username == user)).one().active = False
    assert desk.client.get("/api/v1/payments/duplicates", headers=bearer(token)).status_code == 401


def test_a_token_still_works_while_its_users_password_is_locked_out(desk: Desk) -> None:
    """Guessing a 256-bit token is hopeless: a lock-out of the password being guessed does
    not stop the user's integrations."""
    user = hire(desk.engine)
    _, token = make_token(desk.engine, user)
    for index in range(USER_BACKOFF.free_failures):
        assert duplicates(desk.client, (user, WRONG), f"192.0.2.{index + 1}").status_code == 401
    assert duplicates(desk.client, (user, PASSWORD)).status_code == 429
    assert desk.client.get("/api/v1/payments/duplicates", headers=bearer(token)).status_code == 200


# --- every staff route ----------------------------------------------------------------------------


def staff_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path with every path parameter 1) of every operation under /api/."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/"):
            url = re.sub(r"\{[^}]+\}", "1", path)
            found += [(method.upper(), url) for method in operations]
    return found


def test_every_staff_api_route_signs_in_before_anything_of_its_own(
    desk: Desk, begins: list[str]
) -> None:
    """Whatever routes exist (a new one on a `staff_router` gets this without a thought):
    no credentials, a wrong password or a cross-site write is refused before the route
    reads its body or path, and before its unit of work begins."""
    operations = staff_operations(desk.app)
    assert len(operations) >= 12
    assert any(method == "POST" for method, _ in operations)
    user = hire(desk.engine, "admin")
    for method, url in operations:
        begins.clear()
        nobody = desk.client.request(method, url, content=b"{not json", headers=JSON)
        assert nobody.status_code == 401, (method, url, nobody.text)
        wrong = desk.client.request(method, url, content=b"{not json", headers=JSON,
                                    auth=(user, WRONG))  # fmt: skip
        assert wrong.status_code == 401, (method, url, wrong.text)
        assert "write" not in begins, (method, url)
        if method != "GET":
            forged = desk.client.request(method, url, content=b"{}", auth=(user, PASSWORD),
                                         headers={"Content-Type": "text/plain"})  # fmt: skip
            assert forged.status_code == 403, (method, url, forged.text)
            assert "write" not in begins, (method, url)
        # Until the failures so far are forgotten: no lock-out (and its audit write) here.
        desk.clock.advance(USER_BACKOFF.forget_after)


def test_every_staff_api_router_signs_in_first() -> None:
    """Each router with routes under /api/ is a `staff_router`: its first dependency is the
    sign-in. A route added on a plain APIRouter with a role dependency after its session
    would still answer 401 (the test above), but only after its own work began."""
    checked = 0
    for module_info in pkgutil.iter_modules(api.routes.__path__):
        module = importlib.import_module(f"api.routes.{module_info.name}")
        for router in (v for v in vars(module).values() if isinstance(v, APIRouter)):
            paths = [getattr(route, "path", "") for route in router.routes]
            if any(path.startswith("/api/") for path in paths):
                assert router.dependencies, (module_info.name, paths)
                assert router.dependencies[0].dependency is current_staff, module_info.name
                checked += 1
    assert checked >= 5


def test_a_request_without_credentials_is_401_and_counts_nothing(desk: Desk) -> None:
    for _ in range(ADDRESS_BACKOFF.free_failures + 1):
        answer = desk.client.get("/api/v1/payments/duplicates")
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
