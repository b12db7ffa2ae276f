"""Pay links through the web app, on SQLite and PostgreSQL: the page behind a token, the
checkout whose amount only the server decides, the sandbox's outcomes, what follows a payment
(ledger, link, reminders, receipt, event) and the e-receipt; and the sandbox refused in
production."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from sqlmodel import Session, col

from api.app import create_app
from billing_core.app_services import services
from billing_core.bills.statement import account_statement
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.events.tables import DomainEvent
from billing_core.outbox.service import Recipient, enqueue_message
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.pages import mask_name
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.service import (
    PAYMENT_RECEIVED,
    PaymentContext,
    accept_payment,
    create_pay_link,
    find_pay_link,
    issue_balance_links,
    link_token,
    offer_pay_link,
    receipt_url,
    start_checkout,
)
from billing_core.payments.tables import CheckoutAttempt, PayLink, Payment
from billing_core.settings import Environment, Settings, SettingsError, load_settings
from tests.conftest import migrated_database
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
FIRST = Decimal("120.50")
SECOND = Decimal("80.25")
BALANCE = FIRST + SECOND  # 200.75
INVALID = "Reply BILL for a new one"


@pytest.fixture(scope="module")
def pay_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A dedicated, migrated database of each kind: the app commits into it."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("pay-db")) as engine:
        yield engine


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def context(settings: Settings) -> PaymentContext:
    return payment_context(settings, load_payments_policy(settings.policy_dir))


@pytest.fixture
def client(settings: Settings, pay_engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(settings, engine=pay_engine, clock=clock, configure_logs=False)
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@dataclass(frozen=True)
class Household:
    account_id: int
    account_number: str
    customer_id: int
    bill_ids: tuple[int, int]
    reminder_keys: tuple[str, ...]
    link_id: int
    token: str
    url: str


def household(
    engine: Engine,
    context: PaymentContext,
    clock: FixedClock,
    *,
    name: str = "李娜",
    language: str = "zh-CN",
    bill_id_link: bool = False,
) -> Household:
    """A customer with a verified phone, two issued and charged bills (one overdue), a
    reminder waiting in the outbox for each, and a fresh pay link for the balance."""
    with session_scope(engine) as session:
        customer = make_customer(session, at=NOW, name=name, language=language)
        account = make_account(session, customer=customer)
        contact = make_contact(session, customer=customer, at=NOW)
        bills = []
        for start, total, due in ((date(2026, 9, 10), FIRST, date(2026, 10, 25)),
                                  (date(2026, 10, 10), SECOND, date(2026, 11, 30))):  # fmt: skip
            bill = make_bill(
                session, account=account, period_start=start, total=total, due_date=due,
                at=NOW - timedelta(days=30),
            )  # fmt: skip
            make_charge(session, bill=bill, on=start + timedelta(days=31), at=NOW)
            bills.append(bill.id or 0)
        keys = []
        for bill_id in bills:
            key = f"test-reminder:{bill_id}"
            enqueue_message(
                session=session, clock=clock, dedupe_key=key,
                recipient=Recipient(contact.channel, contact.address), template="due_reminder",
                language=language, body="reminder", purpose=f"reminder:bill:{bill_id}",
                account_id=account.id, customer_id=customer.id, not_before=NOW + timedelta(days=2),
            )  # fmt: skip
            keys.append(key)
        link, url = create_pay_link(
            session=session, clock=clock, context=context, account_id=account.id or 0,
            bill_id=bills[0] if bill_id_link else None,
        )  # fmt: skip
        return Household(
            account_id=account.id or 0, account_number=account.number,
            customer_id=customer.id or 0, bill_ids=(bills[0], bills[1]),
            reminder_keys=tuple(keys), link_id=link.id or 0, token=url.rsplit("/", 1)[1],
            url=url,
        )  # fmt: skip


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def balance(engine: Engine, account_id: int) -> Decimal:
    with Session(engine) as session:
        return account_statement(
            session=session, account_id=account_id, today=date(2026, 11, 26), currency="CNY"
        ).balance


def payments_of(engine: Engine, account_id: int) -> list[Payment]:
    with Session(engine) as session:
        return list(
            session.scalars(select(Payment).where(col(Payment.account_id) == account_id)).all()
        )


def checkout(client: TestClient, token: str, **form: str) -> CheckoutAttempt:
    """Post the pay page's form; returns the attempt the sandbox URL points at."""
    response = client.post(f"/p/{token}/checkout", data=form)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    match = re.fullmatch(r"http://127\.0\.0\.1:8000/sandbox/checkout/(\d+)", location)
    assert match, location
    with Session(services(client).engine) as session:
        attempt = session.get(CheckoutAttempt, int(match.group(1)))
    assert attempt is not None
    return attempt


# --- the link and its token ----------------------------------------------------------------


def test_token_comes_from_128_random_bits_and_the_key_and_is_not_stored(
    pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    assert home.url == f"{context.public_base_url}/p/{home.token}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", home.token)
    with Session(pay_engine) as session:
        link = session.get(PayLink, home.link_id)
        assert link is not None
        assert link.token_hash == hashlib.sha256(home.token.encode()).hexdigest()
        stored = " ".join(str(value) for value in link.model_dump().values())
    assert home.token not in stored
    seed = link.token_seed
    assert seed is not None
    assert len(base64.urlsafe_b64decode(seed + "=" * (-len(seed) % 4))) * 8 >= 128
    assert link_token(context.secret_key, seed) == home.token
    assert link_token("another key of the same length as it is", seed) != home.token
    assert link.expires_at - link.created_at == timedelta(days=7)  # policies/payments.yaml
    other = household(pay_engine, context, clock)
    assert other.token != home.token


def test_unknown_expired_replaced_and_paid_links_get_the_same_page(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    unknown = client.get("/p/not-a-real-token-at-all-1234567890")
    assert unknown.status_code == 404
    assert INVALID in unknown.text and "回复 BILL" in unknown.text

    replaced = household(pay_engine, context, clock)
    with session_scope(pay_engine) as session:
        create_pay_link(
            session=session, clock=clock, context=context, account_id=replaced.account_id
        )
    paid = household(pay_engine, context, clock)
    with session_scope(pay_engine) as session:
        accept_payment(
            session=session, clock=clock, context=context, account_id=paid.account_id,
            amount=BALANCE, channel="counter", provider_reference="C-paid", received_at=NOW,
        )  # fmt: skip
    expired = household(pay_engine, context, clock)
    assert client.get(f"/p/{expired.token}").status_code == 200
    clock.advance(timedelta(days=7, seconds=1))

    for token in (replaced.token, paid.token, expired.token, "x" * 500):
        page = client.get(f"/p/{token}")
        assert (page.status_code, page.text) == (404, unknown.text), token
        posted = client.post(f"/p/{token}/checkout")
        assert (posted.status_code, posted.text) == (404, unknown.text), token
    with Session(pay_engine) as session:
        link = session.get(PayLink, expired.link_id)
        assert link is not None and link.status == "expired"


# --- a link offered again ------------------------------------------------------------------


def offer(engine: Engine, context: PaymentContext, clock: FixedClock, account_id: int,
          bill_id: int | None = None) -> tuple[int, str]:  # fmt: skip
    with session_scope(engine) as session:
        link_id, _, url = offer_pay_link(
            session=session, clock=clock, context=context, account_id=account_id,
            bill_id=bill_id,
        )  # fmt: skip
    return link_id, url


def links_of(engine: Engine, account_id: int) -> list[tuple[int, str]]:
    with Session(engine) as session:
        return [
            (link.id or 0, link.status)
            for link in session.scalars(
                select(PayLink).where(col(PayLink.account_id) == account_id).order_by(PayLink.id)
            )
        ]


def test_asked_again_the_customer_gets_the_same_link_and_nothing_is_written(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    clock.advance(timedelta(days=3))  # four of its seven days left: more than half
    assert offer(pay_engine, context, clock, home.account_id) == (home.link_id, home.url)
    assert offer(pay_engine, context, clock, home.account_id) == (home.link_id, home.url)
    assert links_of(pay_engine, home.account_id) == [(home.link_id, "active")]
    assert client.get(path(home.url)).status_code == 200  # the first message's link works

    clock.advance(timedelta(days=1, seconds=1))  # under half left: a new link replaces it
    link_id, url = offer(pay_engine, context, clock, home.account_id)
    assert link_id != home.link_id and url != home.url
    assert links_of(pay_engine, home.account_id) == [(home.link_id, "replaced"),
                                                     (link_id, "active")]  # fmt: skip
    assert client.get(path(url)).status_code == 200
    assert client.get(path(home.url)).status_code == 404


def test_a_link_the_key_no_longer_derives_or_without_a_seed_is_replaced(
    pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    rotated = replace(context, secret_key="a new secret key, after a rotation, 32+")
    link_id, url = offer(pay_engine, rotated, clock, home.account_id)
    assert link_id != home.link_id and url.rsplit("/", 1)[1] != home.token
    assert offer(pay_engine, rotated, clock, home.account_id) == (link_id, url)

    with session_scope(pay_engine) as session:  # a link made before links had seeds
        session.execute(update(PayLink).where(col(PayLink.id) == link_id).values(token_seed=None))
    newer, _ = offer(pay_engine, rotated, clock, home.account_id)
    assert newer not in (home.link_id, link_id)
    assert [status for _, status in links_of(pay_engine, home.account_id)] == [
        "replaced", "replaced", "active",
    ]  # fmt: skip


def test_a_paid_link_or_one_for_a_bill_is_not_offered_for_the_balance(
    pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock, bill_id_link=True)
    link_id, _ = offer(pay_engine, context, clock, home.account_id)  # the balance's own
    assert link_id != home.link_id
    assert offer(pay_engine, context, clock, home.account_id, home.bill_ids[0]) == (
        home.link_id, home.url,
    )  # fmt: skip
    with session_scope(pay_engine) as session:
        accept_payment(
            session=session, clock=clock, context=context, account_id=home.account_id,
            amount=Decimal("10.00"), channel="counter", provider_reference="C-offer",
            received_at=NOW,
        )  # fmt: skip
        session.execute(update(PayLink).where(col(PayLink.id) == link_id).values(status="paid"))
    again, _ = offer(pay_engine, context, clock, home.account_id)
    assert again != link_id


def test_a_reminders_link_is_the_one_a_customer_is_offered_next(
    pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    with session_scope(pay_engine) as session:
        urls = issue_balance_links(
            session=session, clock=clock, context=context, account_ids=[home.account_id]
        )
    _, url = offer(pay_engine, context, clock, home.account_id)
    assert url == urls[home.account_id] != home.url


# --- the page ------------------------------------------------------------------------------


def test_page_shows_the_masked_name_account_bills_and_the_amount_due_now(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    page = client.get(f"/p/{home.token}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    text = page.text
    assert '<html lang="zh-CN">' in text
    for expected in ("李*", home.account_number, "¥120.50", "¥80.25", "¥200.75", "已逾期",
                     "立即缴费", f'action="/p/{home.token}/checkout"', "测试模式"):  # fmt: skip
        assert expected in text, expected
    assert "李娜" not in text
    assert "<script" not in text  # works without JavaScript
    assert "amount" not in re.search(r"<form.*?</form>", text, re.S).group(0)  # type: ignore[union-attr]

    # Part of the balance paid at the counter between two page loads: the page asks less.
    with session_scope(pay_engine) as session:
        accept_payment(
            session=session, clock=clock, context=context, account_id=home.account_id,
            amount=Decimal("50.00"), channel="counter", provider_reference="C-part",
            received_at=NOW,
        )  # fmt: skip
    again = client.get(f"/p/{home.token}").text
    assert "¥150.75" in again and "¥200.75" not in again


def test_the_language_switch_changes_only_the_display_language(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    english = client.get(f"/p/{home.token}?lang=en").text
    assert '<html lang="en">' in english
    for expected in ("Pay now", "Amount due now", "CNY 200.75", "李*", "TEST MODE"):
        assert expected in english, expected
    assert f'action="/p/{home.token}/checkout?lang=en"' in english
    assert 'href="?lang=zh-CN"' in english
    # An unknown language falls back to the customer's.
    assert '<html lang="zh-CN">' in client.get(f"/p/{home.token}?lang=fr").text

    emma = household(pay_engine, context, clock, name="Emma Brown", language="en")
    page = client.get(f"/p/{emma.token}").text
    assert "E*** B****" in page and "Emma" not in page and "Pay now" in page
    assert "立即缴费" in client.get(f"/p/{emma.token}?lang=zh-CN").text


def test_a_bill_link_asks_only_for_its_bill(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock, bill_id_link=True)
    page = client.get(f"/p/{home.token}").text
    assert "¥120.50" in page and "¥80.25" not in page
    assert checkout(client, home.token).amount == FIRST


@pytest.mark.parametrize(
    ("name", "masked"),
    [("李娜", "李*"), ("欧阳娜娜", "欧***"), ("Emma Brown", "E*** B****"), ("A", "A"), ("", "*")],
)
def test_names_are_masked_to_their_first_letters(name: str, masked: str) -> None:
    assert mask_name(name) == masked


# --- the amount cannot be changed by the customer --------------------------------------------


def test_tampered_forms_and_urls_change_nothing(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    other = household(pay_engine, context, clock)
    tampered = {
        "amount": "0.01", "account_id": str(other.account_id), "account": other.account_number,
        "bill_id": str(other.bill_ids[1]), "currency": "USD", "pay_link_id": str(other.link_id),
        "token": other.token, "provider": "counter",
    }  # fmt: skip
    response = client.post(
        f"/p/{home.token}/checkout?amount=0.01&account_id={other.account_id}"
        f"&bill_id={other.bill_ids[1]}&lang=en",
        data=tampered,
    )
    assert response.status_code == 303
    attempt_id = int(response.headers["location"].rsplit("/", 1)[1])
    with Session(pay_engine) as session:
        attempt = session.get(CheckoutAttempt, attempt_id)
        assert attempt is not None
        assert (attempt.pay_link_id, attempt.amount, attempt.currency, attempt.provider) == (
            home.link_id, BALANCE, "CNY", "sandbox",
        )  # fmt: skip
    # The sandbox's form is tampered with too: only the outcome is read.
    settled = client.post(
        f"/sandbox/checkout/{attempt_id}?amount=0.01",
        data={"outcome": "succeed", **tampered},
    )
    assert settled.status_code == 303
    [payment] = payments_of(pay_engine, home.account_id)
    assert (payment.amount, payment.currency, payment.channel) == (BALANCE, "CNY", "sandbox")
    assert payment.pay_link_id == home.link_id and payment.bill_id is None
    assert balance(pay_engine, home.account_id) == 0
    assert payments_of(pay_engine, other.account_id) == []
    assert balance(pay_engine, other.account_id) == BALANCE


# --- the sandbox ---------------------------------------------------------------------------


def test_sandbox_success_records_the_payment_once_and_everything_that_follows(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    attempt = checkout(client, home.token)
    sandbox = f"/sandbox/checkout/{attempt.id}"

    page = client.get(sandbox)
    assert page.status_code == 200
    assert "测试模式" in page.text and "¥200.75" in page.text and "李*" in page.text
    assert 'value="succeed"' in page.text and 'value="fail"' in page.text
    assert "TEST MODE" in client.get(f"{sandbox}?lang=en").text

    for _ in range(2):  # completing twice changes nothing
        done = client.post(sandbox, data={"outcome": "succeed"})
        assert (done.status_code, done.headers["location"]) == (303, sandbox)
    client.post(sandbox, data={"outcome": "fail"})  # nor does a later failure

    [payment] = payments_of(pay_engine, home.account_id)
    assert payment.amount == BALANCE
    assert payment.provider_reference == f"sandbox-{attempt.id}"
    assert balance(pay_engine, home.account_id) == 0
    with Session(pay_engine) as session:
        link = session.get(PayLink, home.link_id)
        assert link is not None and link.status == "paid"
        stored = session.get(CheckoutAttempt, attempt.id)
        assert stored is not None and stored.status == "completed"
        assert stored.payment_id == payment.id
        receipt = session.scalars(
            select(OutboxMessage).where(
                col(OutboxMessage.dedupe_key) == f"receipt:payment:{payment.id}"
            )
        ).one()
        reminders = session.scalars(
            select(OutboxMessage).where(col(OutboxMessage.dedupe_key).in_(home.reminder_keys))
        ).all()
        events = session.scalar(
            select(func.count()).select_from(DomainEvent).where(
                col(DomainEvent.kind) == PAYMENT_RECEIVED,
                col(DomainEvent.account_id) == home.account_id,
            )
        )  # fmt: skip
    assert receipt.status == "pending" and receipt.language == "zh-CN"
    assert "已收到" in receipt.body and "¥200.75" in receipt.body
    assert receipt_url(context, payment.id or 0) in receipt.body
    assert {r.status for r in reminders} == {"cancelled"}
    assert events == 1

    result = client.get(sandbox).text
    assert "缴费成功" in result and receipt_url(context, payment.id or 0) in result
    assert "测试模式" in result
    done_page = client.get(f"/p/{home.token}/done")
    assert done_page.status_code == 200
    assert receipt_url(context, payment.id or 0) in done_page.text
    # The paid link is no longer a pay page.
    assert client.get(f"/p/{home.token}").status_code == 404


@pytest.mark.parametrize(("outcome", "status"), [("fail", "failed"), ("cancel", "cancelled")])
def test_sandbox_failure_or_cancel_records_nothing(
    client: TestClient,
    pay_engine: Engine,
    context: PaymentContext,
    clock: FixedClock,
    outcome: str,
    status: str,
) -> None:
    home = household(pay_engine, context, clock)
    attempt = checkout(client, home.token)
    sandbox = f"/sandbox/checkout/{attempt.id}"
    assert client.post(sandbox, data={"outcome": outcome}).status_code == 303
    client.post(sandbox, data={"outcome": "succeed"})  # too late: it is no longer open

    assert payments_of(pay_engine, home.account_id) == []
    assert balance(pay_engine, home.account_id) == BALANCE
    with Session(pay_engine) as session:
        stored = session.get(CheckoutAttempt, attempt.id)
        assert stored is not None and stored.status == status
        assert find_pay_link(session=session, clock=clock, token=home.token) is not None
        pending = session.scalars(
            select(OutboxMessage.status).where(
                col(OutboxMessage.dedupe_key).in_(home.reminder_keys)
            )
        ).all()
    assert set(pending) == {"pending"}
    page = client.get(sandbox).text
    assert "未产生任何扣款" in page and "测试模式" in page
    assert "¥200.75" in client.get(f"/p/{home.token}").text  # still payable


def test_an_unknown_outcome_is_refused(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    attempt = checkout(client, home.token)
    response = client.post(f"/sandbox/checkout/{attempt.id}", data={"outcome": "refund"})
    assert response.status_code == 422
    assert payments_of(pay_engine, home.account_id) == []


def test_sandbox_never_settles_another_providers_checkout(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    with session_scope(pay_engine) as session:
        link = session.get(PayLink, home.link_id)
        assert link is not None
        stripe_attempt = start_checkout(
            session=session, clock=clock, context=context, link=link, provider="stripe"
        )
    for sandbox in (f"/sandbox/checkout/{stripe_attempt.id}", "/sandbox/checkout/999999999",
                    "/sandbox/checkout/abc"):  # fmt: skip
        assert client.get(sandbox).status_code == 404
        assert client.post(sandbox, data={"outcome": "succeed"}).status_code == 404
    assert payments_of(pay_engine, home.account_id) == []


def test_a_checkout_for_a_link_paid_meanwhile_expires_unpaid(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    attempt = checkout(client, home.token)
    with session_scope(pay_engine) as session:
        accept_payment(
            session=session, clock=clock, context=context, account_id=home.account_id,
            amount=BALANCE, channel="counter", provider_reference="C-first", received_at=NOW,
        )  # fmt: skip
    client.post(f"/sandbox/checkout/{attempt.id}", data={"outcome": "succeed"})
    assert [p.channel for p in payments_of(pay_engine, home.account_id)] == ["counter"]
    with Session(pay_engine) as session:
        stored = session.get(CheckoutAttempt, attempt.id)
        assert stored is not None and stored.status == "expired"


def test_nothing_due_gets_a_friendly_page_and_no_checkout(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    # A customer who owes nothing opens a balance link.
    with session_scope(pay_engine) as session:
        customer = make_customer(session, at=NOW, name="王芳")
        account = make_account(session, customer=customer)
        _, url = create_pay_link(
            session=session, clock=clock, context=context, account_id=account.id or 0
        )
    token = url.rsplit("/", 1)[1]
    page = client.get(f"/p/{token}")
    assert page.status_code == 200 and "当前没有需要缴纳的电费" in page.text
    assert "<form" not in page.text
    posted = client.post(f"/p/{token}/checkout", data={"amount": "100"})
    assert posted.status_code == 409 and "当前没有需要缴纳的电费" in posted.text
    with Session(pay_engine) as session:
        attempts = session.scalar(
            select(func.count()).select_from(CheckoutAttempt).join(PayLink).where(
                col(PayLink.account_id) == account.id
            )
        )  # fmt: skip
    assert attempts == 0


# --- the e-receipt -------------------------------------------------------------------------


def test_receipt_page_shows_the_payment_and_refuses_a_bad_signature(
    client: TestClient, pay_engine: Engine, context: PaymentContext, clock: FixedClock
) -> None:
    home = household(pay_engine, context, clock)
    attempt = checkout(client, home.token)
    client.post(f"/sandbox/checkout/{attempt.id}", data={"outcome": "succeed"})
    [payment] = payments_of(pay_engine, home.account_id)
    url = path(receipt_url(context, payment.id or 0))

    page = client.get(url)
    assert page.status_code == 200
    for expected in ("电子收据", "李*", home.account_number, "¥200.75", "沙箱测试支付",
                     "2026年11月26日 10:00:00", "¥120.50", "¥80.25", "缴费后应缴余额", "¥0.00",
                     "测试收据", "@media print"):  # fmt: skip
        assert expected in page.text, expected
    assert "李娜" not in page.text
    assert "Paid with" in client.get(f"{url}?lang=en").text

    signature = url.rsplit("/", 1)[1]
    forged = "0" * len(signature) if signature != "0" * len(signature) else "1" * len(signature)
    unknown_id = (payment.id or 0) + 1000
    for bad in (f"/receipts/{payment.id}/{forged}", f"/receipts/{payment.id}/short",
                f"/receipts/{unknown_id}/{signature}", f"/receipts/x/{signature}"):  # fmt: skip
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "¥200.75" not in response.text and home.account_number not in response.text


# --- production ----------------------------------------------------------------------------


def test_production_refuses_the_sandbox(settings: Settings, pay_engine: Engine) -> None:
    with pytest.raises(SettingsError, match="WATTDESK_PAYMENT_PROVIDER: the sandbox takes no"):
        load_settings(env="production", _env_file=None)
    # A Settings copied past its validators is refused by create_app all the same.
    production = settings.model_copy(update={"env": Environment.production})
    with pytest.raises(SettingsError, match="set WATTDESK_PAYMENT_PROVIDER=stripe"):
        create_app(production, engine=pay_engine, configure_logs=False)


def test_stripe_needs_its_key_and_webhook_secret() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env="production", payment_provider="stripe", _env_file=None)
    assert "WATTDESK_STRIPE_API_KEY" in str(info.value)
    assert "WATTDESK_STRIPE_WEBHOOK_SECRET" in str(info.value)


def test_the_sandbox_is_not_mounted_when_stripe_is_the_provider(
    tmp_path_factory: pytest.TempPathFactory, pay_engine: Engine
) -> None:
    stripe = load_settings(
        data_dir=tmp_path_factory.mktemp("stripe-mode"), payment_provider="stripe",
        stripe_api_key="sk_test_x", stripe_webhook_secret="whsec_x", _env_file=None,
    )  # fmt: skip
    app = create_app(stripe, engine=pay_engine, configure_logs=False)
    with TestClient(app) as test_client:
        assert test_client.get("/sandbox/checkout/1").status_code == 404
        posted = test_client.post("/sandbox/checkout/1", data={"outcome": "succeed"})
        assert posted.status_code == 404
