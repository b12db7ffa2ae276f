"""Reads never write, on SQLite and PostgreSQL: every GET route of the app answers while
another connection holds the database's write lock, and issues no INSERT, UPDATE or DELETE.
A GET that wrote would wait for the lock and then fail (here after 2 s instead of the
production 30 s), after or instead of its page: an expired pay link did."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import SQLModel, col, select

import billing_core.tables  # noqa: F401  (every table in SQLModel.metadata, to lock them all)
from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.db import create_db_engine, session_scope
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.service import (
    PaymentContext,
    accept_payment,
    create_pay_link,
    hash_token,
    receipt_url,
    start_checkout,
)
from billing_core.payments.tables import PayLink
from billing_core.settings import Settings, load_settings
from billing_core.staff.service import add_staff
from billing_core.transcripts.tables import Conversation, ConversationMessage
from tests.conftest import migrated_database
from tests.factories import make_account, make_bill, make_charge, make_customer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)
PASSWORD = "a-long-enough-password-for-tests"
LOCK_WAIT_MS = 2000
INVALID = "Reply BILL for a new one"  # the page of a link that cannot be paid
WRITES = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
# Query parameters a GET route requires.
REQUIRED_QUERY = {"/api/v1/reports/review": "?month=2026-11"}


@dataclass(frozen=True)
class Data:
    token: str  # a payable link
    expired_token: str
    attempt_id: int  # the payable link's sandbox checkout
    receipt_path: str
    account_number: str
    admin: tuple[str, str]
    conversation_id: int  # the customer's, with a message in


@pytest.fixture(scope="module")
def reads_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("reads")) as engine:
        yield engine


@pytest.fixture(scope="module")
def reads_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(data_dir=tmp_path_factory.mktemp("reads"), _env_file=None)


@pytest.fixture(scope="module")
def data(reads_engine: Engine, reads_settings: Settings) -> Data:
    context = payment_context(reads_settings, load_payments_policy(reads_settings.policy_dir))
    return seed(reads_engine, context)


def seed(engine: Engine, context: PaymentContext) -> Data:
    """A customer with an issued bill, a link for it that expired a day ago, a payable link
    for the balance with a sandbox checkout, a payment and its receipt; an admin."""
    username = f"admin-{uuid.uuid4().hex[:12]}"
    with session_scope(engine) as session:
        customer = make_customer(session, at=NOW - timedelta(days=40), name="王芳")
        account = make_account(session, customer=customer)
        bill = make_bill(
            session, account=account, period_start=date(2026, 10, 10), total=Decimal("80.25"),
            due_date=date(2026, 11, 30), at=NOW - timedelta(days=30),
        )  # fmt: skip
        make_charge(session, bill=bill, on=date(2026, 11, 11), at=NOW - timedelta(days=30))
        ttl_ago = FixedClock(NOW - context.pay_link_ttl - timedelta(days=1))
        _, expired_url = create_pay_link(
            session=session, clock=ttl_ago, context=context, account_id=account.id or 0,
            bill_id=bill.id,
        )  # fmt: skip
        link, url = create_pay_link(
            session=session, clock=CLOCK, context=context, account_id=account.id or 0
        )
        attempt = start_checkout(
            session=session, clock=CLOCK, context=context, link=link, provider="sandbox"
        )
        paid = accept_payment(
            session=session, clock=CLOCK, context=context, account_id=account.id or 0,
            amount=Decimal("10.00"), channel="counter", provider_reference=f"C-{uuid.uuid4()}",
            received_at=NOW,
        )  # fmt: skip
        add_staff(session=session, clock=CLOCK, username=username, role="admin",
                  password=PASSWORD, actor="test")  # fmt: skip
        conversation = Conversation(
            channel="sms", address=f"+86139{uuid.uuid4().int % 10**8:08d}",
            customer_id=customer.id, language="zh-CN", state="queued", queued_at=NOW,
            created_at=NOW, last_message_at=NOW,
        )  # fmt: skip
        session.add(conversation)
        session.flush()
        session.add(ConversationMessage(
            conversation_id=conversation.id or 0, direction="in", author="customer",
            channel="sms", body="人工", created_at=NOW,
        ))  # fmt: skip
        return Data(
            token=url.rsplit("/", 1)[1], expired_token=expired_url.rsplit("/", 1)[1],
            attempt_id=attempt.id or 0,
            receipt_path=urlsplit(receipt_url(context, paid.payment.id or 0)).path,
            account_number=account.number, admin=(username, PASSWORD),
            conversation_id=conversation.id or 0,
        )  # fmt: skip


@pytest.fixture(scope="module")
def impatient_engine(reads_engine: Engine) -> Iterator[Engine]:
    """The app's own engine on the same database, waiting 2 s for a lock, not 30 s."""
    url = reads_engine.url.render_as_string(hide_password=False)
    if reads_engine.dialect.name == "sqlite":
        engine = create_db_engine(url)

        def short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")

        event.listen(engine, "connect", short_busy_timeout)  # after the engine's own pragmas
    else:
        engine = create_db_engine(url, connect_args={"options": f"-c lock_timeout={LOCK_WAIT_MS}"})
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(reads_settings: Settings, impatient_engine: Engine) -> FastAPI:
    return create_app(reads_settings, engine=impatient_engine, clock=CLOCK, configure_logs=False)


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as test_client:
        yield test_client


@contextmanager
def write_locked(engine: Engine) -> Iterator[None]:
    """Another connection holds the write lock: SQLite's (BEGIN IMMEDIATE), or on PostgreSQL
    every table locked EXCLUSIVE (reads go on, every write waits)."""
    if engine.dialect.name == "sqlite":
        holder = sqlite3.connect(str(engine.url.database), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.connect() as holder:
        holder.exec_driver_sql(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            holder.rollback()


@contextmanager
def writes_seen(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if WRITES.match(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


STREAMS = {"/api/v1/conversations/events"}


def get_routes(app: FastAPI) -> list[str]:
    """The path of every route answering GET, included routers' too."""
    found: list[str] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                walk(included.routes)
            elif "GET" in (getattr(route, "methods", None) or ()):
                found.append(route.path)

    walk(app.router.routes)
    return found


def urls_of(path: str, data: Data) -> list[str]:
    """The URLs a GET route is tried at, its path parameters filled with real rows."""
    values = {
        "{token}": [data.token, data.expired_token],
        "{attempt_id}": [str(data.attempt_id)],
        "{number}": [data.account_number],
        "{conversation_id}": [str(data.conversation_id)],
        "{case_id}": ["1"],
        "{run_id}": ["1"],
        "{plan_id}": ["1"],
        "{customer_id}": ["1"],
        "/receipts/{payment_id}/{signature}": [data.receipt_path],
    }
    urls = [path]
    for placeholder, fillings in values.items():
        if placeholder.startswith("/"):
            urls = fillings if path == placeholder else urls
            continue
        urls = [url.replace(placeholder, filling) for url in urls for filling in fillings]
    assert all("{" not in url for url in urls), f"no test values for a parameter of {path}"
    return [url + REQUIRED_QUERY.get(path, "") for url in urls]


def test_every_get_route_answers_under_a_held_write_lock_and_writes_nothing(
    app: FastAPI, client: TestClient, data: Data, reads_engine: Engine, impatient_engine: Engine
) -> None:
    # The console's event stream never ends, so a plain GET would wait for ever: it is read
    # through a real server in tests/integration/live/test_events_stream.py.
    paths = [path for path in get_routes(app) if path not in STREAMS]
    assert {"/p/{token}", "/p/{token}/done", "/receipts/{payment_id}/{signature}",
            "/sandbox/checkout/{attempt_id}", "/api/v1/review-items", "/healthz",
            "/api/v1/accounts/{number}/statement"} <= set(paths)  # fmt: skip
    answers = {}
    with write_locked(reads_engine), writes_seen(impatient_engine) as writes:
        for path in paths:
            for url in urls_of(path, data):
                answer = client.get(url, auth=data.admin)
                answers[url] = answer.status_code
                assert answer.status_code < 500, (url, answer.status_code, answer.text[:300])
    assert writes == []
    assert answers[f"/p/{data.token}"] == 200
    assert answers[f"/p/{data.expired_token}"] == 404
    # The console's pages are read as the admin (HTTP Basic works there too), in full.
    assert answers[f"/console/conversations/{data.conversation_id}"] == 200
    assert answers["/console"] == 200 and answers["/console/review"] == 200


def test_an_expired_pay_link_answers_its_page_under_a_held_write_lock(
    client: TestClient, data: Data, reads_engine: Engine
) -> None:
    with write_locked(reads_engine):
        expired = client.get(f"/p/{data.expired_token}")
        payable = client.get(f"/p/{data.token}")
    assert expired.status_code == 404, expired.text[:300]
    assert INVALID in expired.text
    assert payable.status_code == 200
    assert "70.25" in payable.text  # 80.25 billed, 10.00 paid


def test_a_checkout_on_an_expired_link_records_the_expiry(
    client: TestClient, data: Data, reads_engine: Engine
) -> None:
    def status() -> str:
        with session_scope(reads_engine) as session:
            link = session.exec(
                select(PayLink).where(col(PayLink.token_hash) == hash_token(data.expired_token))
            ).one()
            return link.status

    assert client.get(f"/p/{data.expired_token}").status_code == 404
    assert status() == "active"  # the read changed nothing
    assert client.post(f"/p/{data.expired_token}/checkout").status_code == 404
    assert status() == "expired"  # the write path records it
