"""What the customer's payment pages show and do: the pay page behind a link, a checkout
through a provider, its result, the sandbox's outcomes and the e-receipt.

Nothing here takes an amount, an account or a customer from the request: the token (or a
receipt's signature) finds the link, and the ledger says what is due."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.bills.statement import BillLine
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.customers.tables import Account, Customer
from billing_core.errors import InvalidInput, NotFound, UnknownAccount
from billing_core.ledger.model import ZERO, EntryKind, allocate
from billing_core.ledger.service import ledger_entries
from billing_core.ledger.tables import LedgerEntry
from billing_core.payments.providers import SANDBOX, CheckoutProvider, ProviderUnavailable
from billing_core.payments.service import (
    PaymentContext,
    amount_due,
    complete_checkout,
    create_pay_link,
    expire_pay_link,
    fail_checkout,
    find_pay_link,
    hash_token,
    receipt_signature,
    receipt_url,
    start_checkout,
)
from billing_core.payments.tables import CheckoutAttempt, PayLink, Payment


def mask_name(name: str) -> str:
    """A name as a pay page may show it to whoever holds the link: the first character of
    each word (李娜 → 李*, Emma Brown → E*** B****)."""
    return " ".join(word[0] + "*" * (len(word) - 1) for word in name.split()) or "*"


def _customer_tz(customer: Customer, context: PaymentContext) -> ZoneInfo:
    return ZoneInfo(customer.timezone) if customer.timezone else context.tz


# --- the pay page --------------------------------------------------------------------------


@dataclass(frozen=True)
class PayPage:
    masked_name: str
    account_number: str
    language: str  # the customer's
    currency: str
    amount: Decimal  # due now, computed from the ledger at this request
    bills: tuple[BillLine, ...]  # the open bills the link pays, oldest first
    late_fees: Decimal  # open late fees included in the amount (balance links only)
    expires_at: datetime  # local to the customer


def pay_page(
    *, session: Session, clock: Clock, context: PaymentContext, token: str
) -> PayPage | None:
    """What the link behind the token asks for now; None for a token that is unknown,
    expired, replaced or paid (the page says the same for each)."""
    link = find_pay_link(session=session, clock=clock, token=token)
    if link is None:
        return None
    due = amount_due(session=session, clock=clock, context=context, link=link)
    paying = set(due.bill_ids)
    tz = _customer_tz(due.customer, context)
    return PayPage(
        masked_name=mask_name(due.customer.name),
        account_number=due.account.number,
        language=due.customer.language,
        currency=context.currency,
        amount=due.amount,
        bills=tuple(b for b in due.statement.open_bills if b.bill_id in paying),
        late_fees=due.statement.late_fees_open if link.bill_id is None else ZERO,
        expires_at=link.expires_at.astimezone(tz),
    )


def checkout_link(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    token: str,
    provider: CheckoutProvider,
    descriptions: dict[str, str],
) -> str | None:
    """Start paying the link behind the token for the amount due now, and open the
    provider's checkout; returns the URL to send the customer to (None: no such link).

    Raises Conflict when nothing is due, ProviderUnavailable when the provider failed (the
    attempt is then recorded as failed). `descriptions` is the line the provider shows, by
    language, with an {account} placeholder."""
    link = find_pay_link(session=session, clock=clock, token=token)
    if link is None:
        expire_pay_link(session=session, clock=clock, token=token)
        return None
    attempt = start_checkout(
        session=session, clock=clock, context=context, link=link, provider=provider.name
    )
    account = session.get(Account, link.account_id)
    customer = session.get(Customer, account.customer_id) if account else None
    assert account is not None and customer is not None
    description = descriptions.get(customer.language) or next(iter(descriptions.values()))
    link_url = f"{context.public_base_url}/p/{token}"
    try:
        return provider.begin(
            attempt=attempt,
            link_url=link_url,
            success_url=f"{link_url}/done",
            cancel_url=link_url,
            description=description.format(account=account.number),
        )
    except ProviderUnavailable:
        fail_checkout(session=session, clock=clock, attempt=attempt, status="failed")
        raise


# --- after the checkout --------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    """Where a checkout stands, for the page the customer comes back to."""

    attempt_id: int
    provider: str
    status: str  # open, completed, failed, cancelled, expired
    amount: Decimal
    currency: str
    masked_name: str
    account_number: str
    language: str
    receipt_url: str | None  # when completed
    link_payable: bool  # the link can still be paid (after a failure or a cancel)


def _result(
    session: Session, clock: Clock, context: PaymentContext, attempt: CheckoutAttempt
) -> CheckoutResult:
    link = session.get(PayLink, attempt.pay_link_id)
    assert link is not None
    account = session.get(Account, link.account_id)
    customer = session.get(Customer, account.customer_id) if account else None
    assert account is not None and customer is not None
    return CheckoutResult(
        attempt_id=attempt.id or 0,
        provider=attempt.provider,
        status=attempt.status,
        amount=attempt.amount,
        currency=attempt.currency,
        masked_name=mask_name(customer.name),
        account_number=account.number,
        language=customer.language,
        receipt_url=(
            receipt_url(context, attempt.payment_id) if attempt.payment_id is not None else None
        ),
        link_payable=_payable(link, clock),
    )


def _payable(link: PayLink, clock: Clock) -> bool:
    return link.status == "active" and link.expires_at > clock.now()


def checkout_result(
    *, session: Session, clock: Clock, context: PaymentContext, token: str
) -> CheckoutResult | None:
    """The latest checkout of the link behind the token, whatever the link's status now
    (a paid link still shows its receipt). None for an unknown token or no checkout yet."""
    if not token or len(token) > 100:
        return None
    link = session.scalars(
        select(PayLink).where(col(PayLink.token_hash) == hash_token(token))
    ).first()
    if link is None:
        return None
    attempt = session.scalars(
        select(CheckoutAttempt)
        .where(col(CheckoutAttempt.pay_link_id) == link.id)
        .order_by(col(CheckoutAttempt.id).desc())
    ).first()
    return None if attempt is None else _result(session, clock, context, attempt)


# --- the sandbox (test mode) ---------------------------------------------------------------

SANDBOX_OUTCOMES = {"succeed", "fail", "cancel"}


def _sandbox_attempt(session: Session, attempt_id: int) -> CheckoutAttempt:
    attempt = session.get(CheckoutAttempt, attempt_id)
    # Never let the test page settle a real provider's checkout.
    if attempt is None or attempt.provider != SANDBOX:
        raise NotFound(f"no sandbox checkout {attempt_id}")
    return attempt


def sandbox_checkout(
    *, session: Session, clock: Clock, context: PaymentContext, attempt_id: int
) -> CheckoutResult:
    return _result(session, clock, context, _sandbox_attempt(session, attempt_id))


def settle_sandbox_checkout(
    *, session: Session, clock: Clock, context: PaymentContext, attempt_id: int, outcome: str
) -> CheckoutResult:
    """The tester's choice on the sandbox page. Only an open attempt changes: settling it
    again changes nothing. A success records the amount fixed when the checkout started,
    unless the link can no longer be paid (paid meanwhile, replaced, expired): then the
    attempt expires and nothing is recorded, as a real provider's expired session would."""
    if outcome not in SANDBOX_OUTCOMES:
        raise InvalidInput(f"unknown sandbox outcome {outcome!r}")
    attempt = _sandbox_attempt(session, attempt_id)
    if attempt.status == "open":
        link = session.get(PayLink, attempt.pay_link_id)
        assert link is not None
        if outcome == "succeed" and _payable(link, clock):
            complete_checkout(
                session=session, clock=clock, context=context, attempt=attempt,
                provider_reference=f"sandbox-{attempt.id}", source="sandbox checkout",
            )  # fmt: skip
        else:
            status = {"succeed": "expired", "fail": "failed", "cancel": "cancelled"}[outcome]
            fail_checkout(session=session, clock=clock, attempt=attempt, status=status)
        session.flush()
    return _result(session, clock, context, attempt)


# --- the e-receipt -------------------------------------------------------------------------


@dataclass(frozen=True)
class PaidBill:
    bill_id: int
    period_start: date
    period_end: date
    amount: Decimal  # the part of this payment that went to the bill


@dataclass(frozen=True)
class Receipt:
    payment_id: int
    masked_name: str
    account_number: str
    language: str
    amount: Decimal
    currency: str
    channel: str
    provider_reference: str
    received_at: datetime  # local to the customer
    paid_bills: tuple[PaidBill, ...]
    late_fees_paid: Decimal
    credit_added: Decimal  # what was left over as credit (预存)
    balance_after: Decimal  # positive: still owed; negative: in credit


def receipt(
    *, session: Session, context: PaymentContext, payment_id: int, signature: str
) -> Receipt | None:
    """The e-receipt, if the signature is the payment's; None otherwise (unknown payment or
    a guessed signature look the same). What the payment paid is read from the ledger as it
    stood just before and just after the payment's entry."""
    expected = receipt_signature(payment_id, context.secret_key)
    if not hmac.compare_digest(expected, signature):
        return None
    payment = session.get(Payment, payment_id)
    if payment is None:
        return None
    account = session.get(Account, payment.account_id)
    customer = session.get(Customer, account.customer_id) if account else None
    assert account is not None and customer is not None
    entry_id = session.scalars(
        select(col(LedgerEntry.id)).where(
            col(LedgerEntry.payment_id) == payment_id, col(LedgerEntry.kind) == EntryKind.payment
        )
    ).first()
    entries = ledger_entries(session, account.id or 0)
    cut = entry_id if entry_id is not None else max((e.id for e in entries), default=0)
    before = allocate([e for e in entries if e.id < cut])
    after = allocate([e for e in entries if e.id <= cut])
    paid_by_bill: dict[int, Decimal] = {}
    late_fees_paid = ZERO
    for entry in entries:
        if entry.id >= cut or entry.amount <= ZERO:
            continue
        paid = before.open_by_entry.get(entry.id, ZERO) - after.open_by_entry.get(entry.id, ZERO)
        if paid <= ZERO:
            continue
        if entry.kind == EntryKind.late_fee:
            late_fees_paid += paid
        elif entry.bill_id is not None:
            paid_by_bill[entry.bill_id] = paid_by_bill.get(entry.bill_id, ZERO) + paid
    bills = {
        bill.id: bill
        for bill in session.scalars(select(Bill).where(col(Bill.id).in_(list(paid_by_bill))))
    }
    return Receipt(
        payment_id=payment_id,
        masked_name=mask_name(customer.name),
        account_number=account.number,
        language=customer.language,
        amount=payment.amount,
        currency=payment.currency,
        channel=payment.channel,
        provider_reference=payment.provider_reference,
        received_at=payment.received_at.astimezone(_customer_tz(customer, context)),
        paid_bills=tuple(
            PaidBill(bill_id, bills[bill_id].period_start, bills[bill_id].period_end, amount)
            for bill_id, amount in sorted(paid_by_bill.items())
            if bill_id in bills
        ),
        late_fees_paid=late_fees_paid,
        credit_added=max(after.credit - before.credit, ZERO),
        balance_after=after.balance,
    )


# --- links made by staff and the demo -------------------------------------------------------


def create_pay_link_for_number(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    account_number: str,
    bill_id: int | None = None,
) -> tuple[PayLink, str]:
    """A fresh pay link for the account with this number (its balance, or one bill)."""
    account_id = session.scalars(
        select(col(Account.id)).where(col(Account.number) == account_number)
    ).first()
    if account_id is None:
        raise UnknownAccount(f"no account {account_number}")
    return create_pay_link(
        session=session, clock=clock, context=context, account_id=account_id, bill_id=bill_id
    )
