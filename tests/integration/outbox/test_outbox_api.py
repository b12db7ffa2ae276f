"""Staff see the messages that could not be delivered, and why: `GET /api/v1/outbox` (role
agent) lists an outbox status, undeliverable by default (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.outbox.fallback import reroute_stranded
from billing_core.outbox.service import AUTOMATED, Recipient, enqueue_message
from billing_core.settings import Settings
from billing_core.staff import passwords as staff_passwords
from billing_core.staff.service import add_staff
from tests.factories import make_contact, make_customer

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the cheapest parameters: every request checks a password."""
    monkeypatch.setattr(
        staff_passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


def test_an_agent_sees_an_undeliverable_message_with_its_reason(
    fresh_engine: Engine, settings: Settings, clock: FixedClock
) -> None:
    with session_scope(fresh_engine) as session:
        for username, role in (("ann", "agent"), ("rex", "reviewer")):
            add_staff(session=session, clock=clock, username=username, role=role,
                      password=PASSWORD, actor="test")  # fmt: skip
        customer = make_customer(session, at=clock.now())
        make_contact(session, customer=customer, at=clock.now(), channel="telegram", address="5")
        enqueue_message(
            session=session, clock=clock, dedupe_key="api:dead",
            recipient=Recipient("telegram", "5"), template="bill_notice", language="en",
            body="Your bill", kind=AUTOMATED, customer_id=customer.id,
        )  # fmt: skip
        reroute_stranded(session=session, clock=clock, deliverable={"sms"})
    app = create_app(settings, engine=fresh_engine, clock=clock, configure_logs=False)
    with TestClient(app) as client:
        assert client.get("/api/v1/outbox").status_code == 401
        assert client.get("/api/v1/outbox", auth=("rex", PASSWORD)).status_code == 403
        answer = client.get("/api/v1/outbox", auth=("ann", PASSWORD))
        assert answer.status_code == 200, answer.text
        [item] = answer.json()["items"]
        assert item["status"] == "undeliverable" and item["channel"] == "telegram"
        assert item["recipient"] == "5" and item["customer_id"] == customer.id
        assert item["error_detail"] == (
            "undeliverable: telegram not configured; no other verified channel"
        )
        sent = client.get("/api/v1/outbox", params={"status": "sent"}, auth=("ann", PASSWORD))
        assert sent.json() == {"items": []}
