"""Refunds (退费) on both databases: probable duplicates to act on, request → approve (by
someone else) → refunded with its ledger entry, customer notice and audit trail, over-refunds
and steps out of order refused, and the same through the staff API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api.app import create_app
from billing_core.audit.tables import AuditEntry
from billing_core.bills.statement import account_statement
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Contact
from billing_core.db import session_scope
from billing_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from billing_core.ledger.tables import LedgerEntry
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.refunds import (
    approve_refund,
    mark_refunded,
    probable_duplicates,
    refundable_amount,
    reject_refund,
    request_refund,
)
from billing_core.payments.service import PaymentContext, accept_payment
from billing_core.payments.tables import Payment, Refund
from billing_core.settings import Settings
from billing_core.staff.service import add_staff
from billing_core.staff.tables import StaffUser
from tests.conftest import migrated_database
from tests.factories import (
    make_account,
    make_bill,
    make_charge,
    make_contact,
    make_customer,
    make_staff,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def paid(
    session: Session,
    clock: FixedClock,
    context: PaymentContext,
    account: Account,
    *,
    channel: str,
    reference: str,
    amount: str,
    at: datetime,
    bill_id: int | None,
) -> Payment:
    return accept_payment(
        session=session, clock=clock, context=context, account_id=account.id or 0,
        amount=Decimal(amount), channel=channel, provider_reference=reference,
        received_at=at, bill_id=bill_id, source="test",
    ).payment  # fmt: skip


@dataclass
class Case:
    """An account whose October bill (80.00) was paid twice: by bank, then at the counter
    the next morning (flagged). Staff: two collections officers, an admin and an agent."""

    session: Session
    clock: FixedClock
    context: PaymentContext
    account: Account
    original: Payment
    duplicate: Payment
    cora: StaffUser
    colin: StaffUser
    ada: StaffUser
    andy: StaffUser

    def balance(self) -> Decimal:
        return account_statement(
            session=self.session,
            account_id=self.account.id or 0,
            today=self.context.today(self.clock),
            currency="CNY",
        ).balance

    def request(self, amount: str = "80.00", actor: StaffUser | None = None) -> Refund:
        return request_refund(
            session=self.session, clock=self.clock, payment_id=self.duplicate.id or 0,
            amount=Decimal(amount), reason="paid twice (bank and counter)",
            actor=actor or self.cora,
        )  # fmt: skip

    def approve(self, refund: Refund, actor: StaffUser | None = None) -> Refund:
        return approve_refund(session=self.session, clock=self.clock, refund_id=refund.id or 0,
                              actor=actor or self.colin)  # fmt: skip

    def refunded(self, refund: Refund, reference: str = "BANK-RF-1") -> Refund:
        return mark_refunded(
            session=self.session, clock=self.clock, context=self.context,
            refund_id=refund.id or 0, actor=self.cora, provider_reference=reference,
        )  # fmt: skip

    def reject(self, refund: Refund, actor: StaffUser | None = None) -> Refund:
        return reject_refund(
            session=self.session,
            clock=self.clock,
            refund_id=refund.id or 0,
            actor=actor or self.colin,
            reason="customer keeps it as credit",
        )


@pytest.fixture
def case(session: Session, clock: FixedClock, settings: Settings) -> Case:
    customer = make_customer(session, at=AT)
    make_contact(session, customer=customer, at=AT)
    account = make_account(session, customer=customer)
    bill = make_bill(session, account=account, period_start=date(2026, 10, 5),
                     total=Decimal("80.00"), due_date=date(2026, 11, 20), at=AT)  # fmt: skip
    make_charge(session, bill=bill, on=date(2026, 11, 5), at=AT)
    context = payment_context(settings, load_payments_policy(settings.policy_dir))
    original = paid(session, clock, context, account, channel="bank", reference="B-1",
                    amount="80.00", at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
                    bill_id=bill.id)  # fmt: skip
    duplicate = paid(session, clock, context, account, channel="counter", reference="C-1",
                     amount="80.00", at=datetime(2026, 11, 21, 0, 30, tzinfo=UTC),
                     bill_id=bill.id)  # fmt: skip
    assert duplicate.probable_duplicate_of == original.id
    return Case(
        session, clock, context, account, original, duplicate,
        cora=make_staff(session, role="collections", at=AT, username="cora"),
        colin=make_staff(session, role="collections", at=AT, username="colin"),
        ada=make_staff(session, role="admin", at=AT, username="ada"),
        andy=make_staff(session, role="agent", at=AT, username="andy"),
    )  # fmt: skip


def audit_actions(session: Session, refund: Refund) -> list[tuple[str, str]]:
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity == "refund", AuditEntry.entity_id == str(refund.id))
        .order_by(col(AuditEntry.id))
    ).all()
    return [(entry.action, entry.actor) for entry in entries]


def test_probable_duplicates_are_listed_until_a_refund_takes_them_up(case: Case) -> None:
    (found,) = probable_duplicates(session=case.session)
    assert (found.payment_id, found.duplicate_of) == (case.duplicate.id, case.original.id)
    assert (found.channel, found.duplicate_of_channel) == ("counter", "bank")
    assert (found.account_number, found.refundable) == (case.account.number, Decimal("80.00"))

    case.request("30.00")
    (found,) = probable_duplicates(session=case.session)
    assert (found.refund_committed, found.refundable) == (Decimal("30.00"), Decimal("50.00"))
    case.request("50.00")
    assert probable_duplicates(session=case.session) == []
    (settled,) = probable_duplicates(session=case.session, include_settled=True)
    assert settled.refundable == Decimal(0)


def test_a_refund_paid_out_is_a_ledger_entry_a_customer_notice_and_an_audit_trail(
    case: Case,
) -> None:
    assert case.balance() == Decimal("-80.00")  # 80 charged, 160 paid: 80 in credit
    refund = case.request()
    assert (refund.status, refund.requested_by, refund.amount) == (
        "requested", "staff:cora", Decimal("80.00"),
    )  # fmt: skip
    case.approve(refund)
    assert (refund.status, refund.decided_by) == ("approved", "staff:colin")
    assert case.session.exec(select(LedgerEntry).where(LedgerEntry.kind == "refund")).all() == []

    case.refunded(refund)
    assert (refund.status, refund.provider_reference) == ("refunded", "BANK-RF-1")
    assert refund.refunded_at == case.clock.now()
    (entry,) = case.session.exec(select(LedgerEntry).where(LedgerEntry.kind == "refund")).all()
    assert (entry.amount, entry.refund_id, entry.payment_id) == (
        Decimal("80.00"), refund.id, case.duplicate.id,
    )  # fmt: skip
    assert entry.dedupe_key == f"refund:{refund.id}"
    assert entry.effective_on == date(2026, 11, 26)  # local date
    assert case.balance() == Decimal("0.00")  # back up by the refunded amount

    (message,) = case.session.exec(
        select(OutboxMessage).where(OutboxMessage.template == "refund")
    ).all()
    assert message.dedupe_key == f"refund:{refund.id}" and message.kind == "automated"
    assert case.account.number in message.body and "80.00" in message.body
    assert audit_actions(case.session, refund) == [
        ("refund.request", "staff:cora"),
        ("refund.approve", "staff:colin"),
        ("refund.refunded", "staff:cora"),
    ]

    # Said again with the same reference (a retried request): nothing more happens.
    case.refunded(refund)
    assert (
        len(case.session.exec(select(LedgerEntry).where(LedgerEntry.kind == "refund")).all()) == 1
    )
    assert len(audit_actions(case.session, refund)) == 3
    with pytest.raises(Conflict, match="refunded"):
        case.refunded(refund, reference="BANK-RF-2")


def test_a_customer_without_a_reachable_contact_is_still_refunded(case: Case) -> None:
    for message in case.session.exec(select(OutboxMessage)).all():
        case.session.delete(message)
    for contact in case.session.exec(select(Contact)).all():
        contact.opted_out = True
        case.session.add(contact)
    case.session.flush()
    refund = case.request("10.00")
    case.approve(refund)
    case.refunded(refund)
    assert refund.status == "refunded"
    assert case.session.exec(select(OutboxMessage)).all() == []


def test_an_agent_may_not_request_approve_or_pay_out_a_refund(case: Case) -> None:
    with pytest.raises(PermissionDenied):
        case.request(actor=case.andy)
    refund = case.request()
    with pytest.raises(PermissionDenied):
        case.approve(refund, actor=case.andy)
    assert refund.status == "requested"


@pytest.mark.parametrize("requester", ["cora", "ada"])
def test_the_requester_may_not_approve_their_own_refund(case: Case, requester: str) -> None:
    user = getattr(case, requester)
    refund = case.request(actor=user)
    with pytest.raises(PermissionDenied, match="four eyes"):
        case.approve(refund, actor=user)
    assert refund.status == "requested"
    case.approve(refund, actor=case.colin)  # anyone else with the role may
    assert refund.status == "approved"


def test_more_than_is_left_of_the_payment_is_refused(case: Case) -> None:
    first = case.request("50.00")
    with pytest.raises(InvalidInput, match=r"more than is left to refund .*\(30.00 of 80.00"):
        case.request("30.01")
    case.request("30.00")
    with pytest.raises(InvalidInput):
        case.request("0.01")
    case.reject(first)  # a rejected refund gives its amount back
    assert refundable_amount(session=case.session, payment_id=case.duplicate.id or 0) == Decimal(
        "50.00"
    )
    case.request("50.00")
    assert audit_actions(case.session, first) == [
        ("refund.request", "staff:cora"),
        ("refund.reject", "staff:colin"),
    ]


@pytest.mark.parametrize(
    ("amount", "reason", "error"),
    [
        ("0", "paid twice", InvalidInput),
        ("-5", "paid twice", InvalidInput),
        ("1.005", "paid twice", InvalidInput),
        ("10", "   ", InvalidInput),
    ],
)
def test_a_refund_needs_a_positive_amount_in_cents_and_a_reason(
    case: Case, amount: str, reason: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        request_refund(session=case.session, clock=case.clock, payment_id=case.duplicate.id or 0,
                       amount=Decimal(amount), reason=reason, actor=case.cora)  # fmt: skip
    with pytest.raises(NotFound):
        request_refund(session=case.session, clock=case.clock, payment_id=10**9,
                       amount=Decimal(1), reason="x", actor=case.cora)  # fmt: skip


def test_steps_out_of_order_are_refused(case: Case) -> None:
    refund = case.request()
    with pytest.raises(Conflict, match="only a approved refund can be marked refunded"):
        case.refunded(refund)
    case.reject(refund)
    with pytest.raises(Conflict):
        case.approve(refund)
    with pytest.raises(Conflict):
        case.reject(refund)
    paid_out = case.request()
    case.approve(paid_out)
    case.refunded(paid_out)
    with pytest.raises(Conflict):
        case.reject(paid_out)
    with pytest.raises(NotFound):
        approve_refund(session=case.session, clock=case.clock, refund_id=10**9, actor=case.colin)


# --- the API --------------------------------------------------------------------------------

API_CLOCK = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class ApiCase:
    duplicate_id: int
    original_id: int


@pytest.fixture(scope="module")
def api_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("refunds-api")) as engine:
        yield engine


@pytest.fixture
def api_case(api_engine: Engine, settings: Settings) -> ApiCase:
    """Staff users (once) and, for each test, a fresh account whose bill was paid twice."""
    clock = FixedClock(API_CLOCK)
    context = payment_context(settings, load_payments_policy(settings.policy_dir))
    with session_scope(api_engine) as session:
        if not session.exec(select(StaffUser)).first():
            for username, role in (("cora", "collections"), ("colin", "collections"),
                                   ("andy", "agent")):  # fmt: skip
                add_staff(session=session, clock=clock, username=username, role=role,
                          password=PASSWORD, actor="test")  # fmt: skip
        customer = make_customer(session, at=AT)
        make_contact(session, customer=customer, at=AT)
        account = make_account(session, customer=customer)
        bill = make_bill(session, account=account, period_start=date(2026, 10, 5),
                         total=Decimal("80.00"), due_date=date(2026, 11, 20), at=AT)  # fmt: skip
        make_charge(session, bill=bill, on=date(2026, 11, 5), at=AT)
        original = paid(session, clock, context, account, channel="bank",
                        reference=f"B-{account.number}", amount="80.00",
                        at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC), bill_id=bill.id)  # fmt: skip
        duplicate = paid(session, clock, context, account, channel="kiosk",
                         reference=f"K-{account.number}", amount="80.00",
                         at=datetime(2026, 11, 20, 6, 0, tzinfo=UTC), bill_id=bill.id)  # fmt: skip
        return ApiCase(duplicate.id or 0, original.id or 0)


@pytest.fixture
def client(settings: Settings, api_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=api_engine, clock=FixedClock(API_CLOCK), configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


CORA, COLIN, ANDY = ("cora", PASSWORD), ("colin", PASSWORD), ("andy", PASSWORD)
JSON = {"Content-Type": "application/json"}  # a body-less staff write too (api/csrf.py)


def test_api_takes_a_duplicate_through_the_refund_workflow(
    client: TestClient, api_case: ApiCase, api_engine: Engine
) -> None:
    listed = client.get("/api/v1/payments/duplicates", auth=CORA)
    assert listed.status_code == 200
    mine = [d for d in listed.json()["duplicates"] if d["payment_id"] == api_case.duplicate_id]
    assert mine[0]["duplicate_of"]["payment_id"] == api_case.original_id
    assert mine[0]["refundable"] == "80.00"

    url = f"/api/v1/payments/{api_case.duplicate_id}/refunds"
    body = {"amount": "80.00", "reason": "paid at the kiosk after the bank debit"}
    assert client.post(url, json=body, auth=ANDY).status_code == 403
    requested = client.post(url, json=body, auth=CORA)
    assert requested.status_code == 201, requested.text
    refund = requested.json()
    assert (refund["status"], refund["amount"], refund["requested_by"]) == (
        "requested", "80.00", "staff:cora",
    )  # fmt: skip
    assert client.post(url, json={**body, "amount": "0.01"}, auth=CORA).status_code == 422

    refund_url = f"/api/v1/refunds/{refund['id']}"
    own = client.post(f"{refund_url}/approve", headers=JSON, auth=CORA)
    assert own.status_code == 403 and "four eyes" in own.json()["detail"]
    early = client.post(f"{refund_url}/refunded", json={"provider_reference": "R-1"}, auth=CORA)
    assert early.status_code == 409
    approved = client.post(f"{refund_url}/approve", headers=JSON, auth=COLIN)
    assert approved.json()["status"] == "approved"
    done = client.post(f"{refund_url}/refunded", json={"provider_reference": "R-1"}, auth=CORA)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["provider_reference"]) == ("refunded", "R-1")
    rejected = client.post(f"{refund_url}/reject", json={"reason": "too late"}, auth=COLIN)
    assert rejected.status_code == 409

    with session_scope(api_engine) as session:
        entry = session.exec(
            select(LedgerEntry).where(LedgerEntry.dedupe_key == f"refund:{refund['id']}")
        ).one()
        assert entry.amount == Decimal("80.00")
        assert session.exec(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == f"refund:{refund['id']}")
        ).one()
    listed = client.get("/api/v1/payments/duplicates", auth=CORA).json()["duplicates"]
    assert api_case.duplicate_id not in [d["payment_id"] for d in listed]


def test_api_rejects_a_refund_with_a_reason(client: TestClient, api_case: ApiCase) -> None:
    url = f"/api/v1/payments/{api_case.duplicate_id}/refunds"
    refund = client.post(url, json={"amount": 20.5, "reason": "partly"}, auth=CORA).json()
    assert refund["amount"] == "20.50"
    missing = client.post(f"/api/v1/refunds/{refund['id']}/reject", json={}, auth=COLIN)
    assert missing.status_code == 422
    rejected = client.post(f"/api/v1/refunds/{refund['id']}/reject",
                           json={"reason": "customer keeps the credit"}, auth=CORA)  # fmt: skip
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    unknown = client.post("/api/v1/refunds/999999/approve", headers=JSON, auth=COLIN)
    assert unknown.status_code == 404
    assert client.post("/api/v1/payments/999999/refunds", json={"amount": "1", "reason": "x"},
                       auth=CORA).status_code == 404  # fmt: skip
    assert client.get("/api/v1/payments/duplicates", auth=ANDY).status_code == 403
