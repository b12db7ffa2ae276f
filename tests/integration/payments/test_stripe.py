"""Stripe Checkout on loopback, on SQLite and PostgreSQL: the real stripe client creates
Checkout Sessions on a fake Stripe API, and events signed the way stripe-python's own tests
sign them reach a real uvicorn server running the app."""

from __future__ import annotations

import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlmodel import col

from api.app import create_app
from api.payments import stripe_webhook
from api.payments.stripe_provider import StripeProvider, minor_units
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account
from billing_core.db import session_scope
from billing_core.errors import InvalidInput
from billing_core.events.tables import DomainEvent
from billing_core.ledger.tables import LedgerEntry
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.providers import ProviderUnavailable
from billing_core.payments.service import create_pay_link, start_checkout
from billing_core.payments.tables import CheckoutAttempt, PayLink, Payment, ProviderEvent
from billing_core.settings import Settings, load_settings
from tests.conftest import migrated_database
from tests.factories import (
    make_account,
    make_bill,
    make_charge,
    make_contact,
    make_customer,
)
from tests.fakes.stripe_api import (
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripeApi,
    checkout_event,
    encode,
    sign,
)

CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # 10:00 in Asia/Shanghai
WEBHOOK = "/payments/stripe/webhook"
SUCCESS_URL = "http://127.0.0.1:8000/p/done"
CANCEL_URL = "http://127.0.0.1:8000/p/cancelled"


# --- the servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripeApi]:
    api = FakeStripeApi().start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def stripe_settings(
    tmp_path_factory: pytest.TempPathFactory, stripe_api: FakeStripeApi
) -> Settings:
    return load_settings(
        data_dir=tmp_path_factory.mktemp("stripe"),
        payment_provider="stripe",
        stripe_api_key=API_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_api.url,
        _env_file=None,
    )


@pytest.fixture(scope="module")
def stripe_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A dedicated, migrated database of each kind: the server commits into it."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("stripe-db")) as engine:
        yield engine


@pytest.fixture(scope="module")
def server(stripe_settings: Settings, stripe_engine: Engine) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread of this process."""
    app = create_app(stripe_settings, engine=stripe_engine, clock=CLOCK, configure_logs=False)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


# --- set-up: a bill, its pay link and a Stripe checkout -----------------------------------


@dataclass(frozen=True)
class Checkout:
    account_id: int
    link_id: int
    attempt_id: int
    amount: Decimal
    session_id: str
    session: dict[str, Any]  # the Checkout Session as the fake Stripe API holds it
    redirect_url: str


def open_checkout(
    engine: Engine,
    settings: Settings,
    stripe_api: FakeStripeApi,
    *,
    amount: Decimal = Decimal("123.45"),
    store_session_id: bool = True,
) -> Checkout:
    """A customer with an issued bill opens its pay link and is sent to Stripe."""
    context = payment_context(settings, load_payments_policy(settings.policy_dir))
    provider = StripeProvider(
        API_KEY, settings.stripe_api_base, settings.currency, clock=CLOCK, max_network_retries=0
    )
    with session_scope(engine) as session:
        at = CLOCK.now() - timedelta(days=10)
        customer = make_customer(session, at=at)
        make_contact(session, customer=customer, at=at)
        account = make_account(session, customer=customer)
        bill = make_bill(
            session, account=account, period_start=date(2026, 10, 5), total=amount,
            due_date=date(2026, 12, 1), at=at,
        )  # fmt: skip
        make_charge(session, bill=bill, on=at.date(), at=at)
        link, link_url = create_pay_link(
            session=session, clock=CLOCK, context=context, account_id=account.id or 0
        )
        attempt = start_checkout(
            session=session, clock=CLOCK, context=context, link=link, provider="stripe"
        )
        redirect_url = provider.begin(
            attempt=attempt, link_url=link_url, success_url=SUCCESS_URL,
            cancel_url=CANCEL_URL, description=f"Electricity, account {account.number}",
        )  # fmt: skip
        session_id = attempt.provider_session_id
        assert session_id is not None
        if not store_session_id:  # as if the process died before its commit
            attempt.provider_session_id = None
        ids = (account.id or 0, link.id or 0, attempt.id or 0)
    return Checkout(*ids, amount, session_id, stripe_api.sessions[session_id], redirect_url)


def deliver(server: str, payload: str, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return httpx.post(f"{server}{WEBHOOK}", content=payload.encode(), headers=headers, timeout=60)


@dataclass(frozen=True)
class Recorded:
    payments: list[Payment]
    events: int
    ledger_entries: int
    receipts: int
    attempt: CheckoutAttempt
    link: PayLink


def recorded(engine: Engine, checkout: Checkout, event_ids: list[str]) -> Recorded:
    with session_scope(engine) as session:
        payments = list(
            session.scalars(
                select(Payment).where(col(Payment.account_id) == checkout.account_id)
            ).all()
        )
        payment_ids = [p.id for p in payments]
        events = session.scalar(
            select(func.count()).select_from(ProviderEvent)
            .where(col(ProviderEvent.event_id).in_(event_ids))
        )  # fmt: skip
        entries = session.scalar(
            select(func.count()).select_from(LedgerEntry)
            .where(col(LedgerEntry.payment_id).in_(payment_ids))
        )  # fmt: skip
        receipts = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(
                col(OutboxMessage.account_id) == checkout.account_id,
                col(OutboxMessage.template) == "receipt",
            )
        )  # fmt: skip
        attempt = session.get(CheckoutAttempt, checkout.attempt_id)
        link = session.get(PayLink, checkout.link_id)
        assert attempt is not None and link is not None
        return Recorded(payments, events or 0, entries or 0, receipts or 0, attempt, link)


# --- creating the Checkout Session ----------------------------------------------------------


def test_checkout_session_asks_stripe_for_the_server_amount_in_fen(
    stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    stripe_api.requests.clear()
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api, amount=Decimal("123.45"))

    (sent,) = stripe_api.requests
    assert sent.path == "/v1/checkout/sessions"
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers.get("Idempotency-Key")
    params = sent.params
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == f"attempt:{checkout.attempt_id}"
    (item,) = params["line_items"]
    assert item["quantity"] == "1"
    assert item["price_data"]["unit_amount"] == "12345"
    assert item["price_data"]["currency"] == "cny"
    assert item["price_data"]["product_data"]["name"].startswith("Electricity, account")
    with session_scope(stripe_engine) as session:
        link = session.get(PayLink, checkout.link_id)
        assert link is not None
        account = session.get(Account, link.account_id)
        assert account is not None
        number = account.number
    assert params["metadata"] == {
        "pay_link_id": str(checkout.link_id),
        "attempt_id": str(checkout.attempt_id),
        "account_number": number,
    }
    assert params["payment_intent_data"]["metadata"] == params["metadata"]
    expires_at = int(params["expires_at"])
    assert expires_at == int((CLOCK.now() + timedelta(minutes=35)).timestamp())
    assert params["success_url"] == SUCCESS_URL
    assert params["cancel_url"] == CANCEL_URL
    # The pay link's URL carries its token, a secret: it never goes to Stripe.
    assert "/p/" not in str({k: v for k, v in params.items() if not k.endswith("_url")})

    assert checkout.session_id.startswith("cs_test_")
    assert checkout.redirect_url == checkout.session["url"]
    state = recorded(stripe_engine, checkout, [])
    assert state.attempt.provider_session_id == checkout.session_id
    assert state.attempt.status == "open"
    assert state.attempt.amount == Decimal("123.45")


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [(Decimal("123.45"), "CNY", 12345), (Decimal("0.01"), "CNY", 1), (Decimal("12.3"), "usd", 1230),
     (Decimal("500"), "JPY", 500), (Decimal("7.000"), "CNY", 700)],
)  # fmt: skip
def test_minor_units_are_exact(amount: Decimal, currency: str, minor: int) -> None:
    assert minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(Decimal("0.005"), "CNY"), (Decimal("1.5"), "JPY"), (Decimal(0), "CNY"),
     (Decimal("-1.00"), "CNY")],
)  # fmt: skip
def test_amounts_finer_than_the_minor_unit_are_refused(amount: Decimal, currency: str) -> None:
    with pytest.raises(InvalidInput):
        minor_units(amount, currency)


# --- the webhook ------------------------------------------------------------------------------


def test_a_signed_completed_event_records_one_payment(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.completed", checkout.session)
    payload = encode(event)

    response = deliver(server, payload, sign(payload))

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "recorded"
    state = recorded(stripe_engine, checkout, [event["id"]])
    (payment,) = state.payments
    assert (payment.channel, payment.provider_reference) == ("stripe", checkout.session_id)
    assert payment.amount == Decimal("123.45")
    assert payment.currency == "CNY"
    assert payment.received_at == datetime.fromtimestamp(event["created"], UTC)
    assert payment.pay_link_id == checkout.link_id
    assert state.events == 1
    assert state.ledger_entries == 1
    assert state.receipts == 1
    assert (state.attempt.status, state.attempt.payment_id) == ("completed", payment.id)
    assert state.link.status == "paid"
    with session_scope(stripe_engine) as session:
        entry = session.scalars(
            select(LedgerEntry).where(col(LedgerEntry.payment_id) == payment.id)
        ).one()
        assert entry.amount == Decimal("-123.45")


def test_the_same_event_delivered_100_times_concurrently_records_one_payment(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.completed", checkout.session)
    payload = encode(event)
    header = sign(payload)
    start = threading.Barrier(100)

    def one_delivery(_: int) -> tuple[int, str]:
        start.wait()
        response = deliver(server, payload, header)
        return response.status_code, response.json().get("outcome", response.text)

    with ThreadPoolExecutor(max_workers=100) as pool:
        answers = list(pool.map(one_delivery, range(100)))

    assert sorted(answers) == [(200, "duplicate")] * 99 + [(200, "recorded")]
    state = recorded(stripe_engine, checkout, [event["id"]])
    assert len(state.payments) == 1
    assert state.events == 1
    assert state.ledger_entries == 1
    assert state.receipts == 1
    assert state.attempt.status == "completed"


def test_different_events_about_one_session_record_one_payment(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    """`completed` and `async_payment_succeeded` for one session, several of each, at once."""
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    events = [
        checkout_event(kind, checkout.session)
        for kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded")
        for _ in range(10)
    ]
    start = threading.Barrier(len(events))

    def one_delivery(event: dict[str, Any]) -> int:
        payload = encode(event)
        header = sign(payload)
        start.wait()
        return deliver(server, payload, header).status_code

    with ThreadPoolExecutor(max_workers=len(events)) as pool:
        statuses = list(pool.map(one_delivery, events))

    assert statuses == [200] * len(events)
    state = recorded(stripe_engine, checkout, [e["id"] for e in events])
    assert len(state.payments) == 1
    assert state.events == len(events)
    assert state.ledger_entries == 1
    assert state.receipts == 1


def _forged(payload: str) -> tuple[str, str | None]:
    return payload, sign(payload, signature="0" * 64)


def _wrong_secret(payload: str) -> tuple[str, str | None]:
    return payload, sign(payload, secret="whsec_not_ours_0123456789")


def _too_old(payload: str) -> tuple[str, str | None]:
    return payload, sign(payload, timestamp=int(time.time()) - 301)


def _missing_header(payload: str) -> tuple[str, str | None]:
    return payload, None


def _altered_after_signing(payload: str) -> tuple[str, str | None]:
    return payload.replace('"amount_total": 12345', '"amount_total": 1'), sign(payload)


def _garbled_header(payload: str) -> tuple[str, str | None]:
    return payload, "this is not a stripe signature"


@pytest.mark.parametrize(
    "tamper",
    [_forged, _wrong_secret, _too_old, _missing_header, _altered_after_signing, _garbled_header],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_bad_signature_gets_400_and_records_nothing(
    server: str,
    stripe_engine: Engine,
    stripe_settings: Settings,
    stripe_api: FakeStripeApi,
    tamper: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.completed", checkout.session)
    payload, header = tamper(encode(event))

    with caplog.at_level(logging.WARNING, logger="wattdesk.payments.stripe"):
        response = deliver(server, payload, header)

    assert response.status_code == 400
    state = recorded(stripe_engine, checkout, [event["id"]])
    assert state.payments == []
    assert state.events == 0
    assert state.attempt.status == "open"
    assert "stripe webhook refused" in caplog.text
    assert WEBHOOK_SECRET not in caplog.text


def test_async_payment_failed_fails_the_attempt_and_records_nothing(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    completed = checkout_event(
        "checkout.session.completed", checkout.session, payment_status="unpaid"
    )
    failed = checkout_event("checkout.session.async_payment_failed", checkout.session)

    for event, outcome in ((completed, "awaiting_payment"), (failed, "failed")):
        payload = encode(event)
        response = deliver(server, payload, sign(payload))
        assert (response.status_code, response.json()["outcome"]) == (200, outcome)

    state = recorded(stripe_engine, checkout, [completed["id"], failed["id"]])
    assert state.payments == []
    assert state.events == 2
    assert state.attempt.status == "failed"
    assert state.link.status == "active"


def test_a_delayed_payment_is_recorded_when_it_succeeds(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    completed = checkout_event(
        "checkout.session.completed", checkout.session, payment_status="unpaid"
    )
    succeeded = checkout_event("checkout.session.async_payment_succeeded", checkout.session)

    outcomes = []
    for event in (completed, succeeded):
        payload = encode(event)
        outcomes.append(deliver(server, payload, sign(payload)).json()["outcome"])

    assert outcomes == ["awaiting_payment", "recorded"]
    state = recorded(stripe_engine, checkout, [completed["id"], succeeded["id"]])
    assert [p.amount for p in state.payments] == [Decimal("123.45")]
    assert state.attempt.status == "completed"


def test_an_amount_other_than_the_attempts_records_nothing_and_is_raised_for_staff(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.completed", checkout.session, amount_total=100)
    payload = encode(event)

    response = deliver(server, payload, sign(payload))

    assert (response.status_code, response.json()["outcome"]) == (200, "amount_mismatch")
    state = recorded(stripe_engine, checkout, [event["id"]])
    assert state.payments == []
    assert state.ledger_entries == 0
    assert state.events == 1  # kept, with Stripe's payload, for staff to reconcile
    assert state.attempt.status == "open"
    with session_scope(stripe_engine) as session:
        alert = session.scalars(
            select(DomainEvent).where(
                col(DomainEvent.dedupe_key) == f"stripe_amount_mismatch:{checkout.session_id}"
            )
        ).one()
    assert alert.account_id == checkout.account_id
    assert alert.payload["amount_total"] == 100
    assert alert.payload["attempt_amount"] == "123.45"


def test_another_currency_records_nothing(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.completed", checkout.session, currency="usd")
    payload = encode(event)

    assert deliver(server, payload, sign(payload)).json()["outcome"] == "amount_mismatch"
    assert recorded(stripe_engine, checkout, [event["id"]]).payments == []


def test_an_expired_session_expires_the_attempt(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.expired", checkout.session)
    payload = encode(event)

    assert deliver(server, payload, sign(payload)).json()["outcome"] == "expired"
    state = recorded(stripe_engine, checkout, [event["id"]])
    assert (state.attempt.status, state.payments) == ("expired", [])


def test_the_attempt_is_found_by_client_reference_when_its_session_id_was_not_stored(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api, store_session_id=False)
    assert recorded(stripe_engine, checkout, []).attempt.provider_session_id is None
    event = checkout_event("checkout.session.completed", checkout.session)
    payload = encode(event)

    assert deliver(server, payload, sign(payload)).json()["outcome"] == "recorded"
    state = recorded(stripe_engine, checkout, [event["id"]])
    assert len(state.payments) == 1
    assert state.attempt.provider_session_id == checkout.session_id
    assert state.attempt.status == "completed"


def test_other_event_types_and_unknown_sessions_are_acknowledged(
    server: str, stripe_engine: Engine, stripe_settings: Settings, stripe_api: FakeStripeApi
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    other = checkout_event("payment_intent.created", checkout.session)
    stranger = checkout_event(
        "checkout.session.completed", {**checkout.session, "id": "cs_test_not_ours"},
        client_reference_id=None,
    )  # fmt: skip

    outcomes = []
    for event in (other, stranger):
        payload = encode(event)
        response = deliver(server, payload, sign(payload))
        assert response.status_code == 200
        outcomes.append(response.json()["outcome"])

    assert outcomes == ["ignored", "unknown_session"]
    assert recorded(stripe_engine, checkout, []).payments == []


def test_a_transaction_that_finds_the_database_locked_is_retried(
    stripe_engine: Engine,
    stripe_settings: Settings,
    stripe_api: FakeStripeApi,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout = open_checkout(stripe_engine, stripe_settings, stripe_api)
    event = checkout_event("checkout.session.completed", checkout.session)
    real = stripe_webhook.record_checkout_event
    calls = []

    def locked_once(**kwargs: Any) -> str:
        calls.append(1)
        if len(calls) == 1:
            real(**kwargs)  # does the work, then the commit "fails": all of it rolls back
            raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))
        return real(**kwargs)

    monkeypatch.setattr(stripe_webhook, "record_checkout_event", locked_once)
    context = payment_context(stripe_settings, load_payments_policy(stripe_settings.policy_dir))

    outcome = stripe_webhook.apply_stripe_event(
        engine=stripe_engine, clock=CLOCK, context=context, event=event
    )

    assert (outcome, len(calls)) == ("recorded", 2)
    assert len(recorded(stripe_engine, checkout, [event["id"]]).payments) == 1


def test_without_a_webhook_secret_the_endpoint_is_unavailable(stripe_engine: Engine) -> None:
    settings = load_settings(payment_provider="sandbox", _env_file=None)
    app = create_app(settings, engine=stripe_engine, clock=CLOCK, configure_logs=False)
    payload = encode(checkout_event("checkout.session.completed", {"id": "cs_test_x"}))
    with TestClient(app) as client:
        response = client.post(
            WEBHOOK, content=payload, headers={"Stripe-Signature": sign(payload)}
        )
    assert response.status_code == 503


def test_a_refused_session_is_provider_unavailable_and_the_key_is_not_logged(
    stripe_api: FakeStripeApi, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "sk_test_not_the_right_key_42"
    provider = StripeProvider(wrong_key, stripe_api.url, "CNY", clock=CLOCK, max_network_retries=0)
    attempt = CheckoutAttempt(
        id=10**9, pay_link_id=1, provider="stripe", amount=Decimal("12.30"), currency="CNY",
        status="open", created_at=CLOCK.now(),
    )  # fmt: skip

    with (
        caplog.at_level(logging.INFO, logger="wattdesk.payments.stripe"),
        pytest.raises(ProviderUnavailable) as refused,
    ):
        provider.begin(
            attempt=attempt, link_url="http://x/p/secret-token", success_url=SUCCESS_URL,
            cancel_url=CANCEL_URL, description="Electricity",
        )  # fmt: skip

    assert "Invalid API Key" in str(refused.value)
    assert attempt.provider_session_id is None
    assert wrong_key not in caplog.text + str(refused.value)
