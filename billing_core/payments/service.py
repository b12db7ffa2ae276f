"""Payment use cases every channel shares: pay links, checkout attempts whose amount the
server fixes, and `accept_payment` — the ledger entry plus what follows a payment (links
finished, messages about the bills it paid cancelled, a receipt in the outbox)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from billing_core.arrears.cases import after_payment
from billing_core.arrears.rules import ArrearsRules
from billing_core.bills.statement import Statement, account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.customers.model import Language
from billing_core.customers.tables import Account, Customer
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert
from billing_core.db.prepared import Prepared
from billing_core.dedupe_keys import event_key, payment_key, receipt_key, reminder_purpose
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.events.service import record_events
from billing_core.ledger.model import ZERO, EntryKind
from billing_core.ledger.tables import LedgerEntry
from billing_core.messages.templates import money, render
from billing_core.outbox.service import (
    REPLY,
    cancel_bill_messages,
    enqueue_message,
    reachable_contact,
)
from billing_core.payments.providers import SANDBOX
from billing_core.payments.tables import ACTIVE_LINK, CheckoutAttempt, PayLink, Payment

TOKEN_BYTES = 24  # 192 bits of HMAC, 32 URL-safe characters
SEED_BYTES = 16  # a link's stored random seed: 128 bits, 22 URL-safe characters
# A link is offered again (`offer_pay_link`) while at least this share of its life is left:
# a customer who asks again gets a link that still has days to run, not one about to end.
OFFER_AGAIN_WHILE_LEFT = 0.5
BALANCE = "balance"
PAYMENT_RECEIVED = "payment_received"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class PaymentContext:
    """What payment use cases need from the settings and the payments policy."""

    tz: ZoneInfo
    currency: str
    public_base_url: str
    secret_key: str
    pay_link_ttl: timedelta = timedelta(days=7)
    duplicate_window: timedelta = timedelta(hours=24)
    # The arrears ladder's rules: with them a payment in full stops the account's ladder at
    # once (pending ladder messages cancelled, a reconnection raised); without them the
    # daily ladder run notices the payment.
    arrears: ArrearsRules | None = None

    def today(self, clock: Clock) -> date:
        return clock.now().astimezone(self.tz).date()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def link_token(secret_key: str, seed: str) -> str:
    """A pay link's token: HMAC-SHA256 of the link's stored seed under the secret key, 32
    URL-safe characters. The database holds the seed and the token's hash, never the token;
    without the key neither gives it away. A new key derives other tokens: links made
    under the old one still pay (their hash is stored) but are not offered again."""
    digest = hmac.new(secret_key.encode(), f"pay-link:{seed}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode("ascii")


def _new_token(secret_key: str) -> tuple[str, str]:
    """(seed, token) for a new link."""
    seed = secrets.token_urlsafe(SEED_BYTES)
    return seed, link_token(secret_key, seed)


def purpose_of(bill_id: int | None) -> str:
    return BALANCE if bill_id is None else f"bill:{bill_id}"


def reminder_purposes(bill_ids: list[int]) -> list[str]:
    """The outbox purposes of reminders about these bills (the arrears ladder uses them)."""
    return [reminder_purpose(bill_id) for bill_id in bill_ids]


# --- pay links -----------------------------------------------------------------------------


def create_pay_link(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    account_id: int,
    bill_id: int | None = None,
) -> tuple[PayLink, str]:
    """A new link for the account's balance (or one bill): returns the link and its URL.
    The token is shown once; only its hash is stored. An earlier active link for the same
    purpose is replaced, so there is at most one."""
    if bill_id is not None:
        bill = session.get(Bill, bill_id)
        if bill is None or bill.account_id != account_id or bill.status != "issued":
            raise NotFound(f"no issued bill {bill_id} on this account")
    session.flush()  # as the ORM update's autoflush did; nothing when the session is clean
    link_id, values, url = issue_pay_link(
        session=session, clock=clock, context=context, account_id=account_id, bill_id=bill_id
    )
    # The row is written already: the object joins the session as loaded, without a flush.
    link = PayLink(id=link_id, **values)
    make_transient_to_detached(link)
    session.add(link)
    return link, url


def offer_pay_link(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    account_id: int,
    bill_id: int | None = None,
) -> tuple[int, dict[str, Any], str]:
    """The link a customer who asks to pay is given: the account's active link for the
    purpose again, while at least half its life is left and its token derives under the
    current key (one read, nothing written), else a new one (as `issue_pay_link`, which
    replaces it). So the link in an earlier answer keeps working when the customer asks
    again. Returns the link's id, its column values and its URL, as `issue_pay_link`."""
    purpose = purpose_of(bill_id)
    now = clock.now()
    found = _SELECT_ACTIVE.execute(
        session.connection(), {"b_account_id": account_id, "b_purpose": purpose}
    ).first()
    if found is not None:
        values = dict(zip(_OFFERED_COLUMNS, found, strict=True))
        link_id, seed = values.pop("id"), values["token_seed"]
        if seed and values["expires_at"] - now >= context.pay_link_ttl * OFFER_AGAIN_WHILE_LEFT:
            token = link_token(context.secret_key, seed)
            if hmac.compare_digest(hash_token(token), values["token_hash"]):
                return link_id, values, f"{context.public_base_url}/p/{token}"
    # None found: none to replace (the read was the UPDATE's search already)
    return _issue(session, now, context, account_id, bill_id, replace=found is not None)


def issue_pay_link(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    account_id: int,
    bill_id: int | None = None,
) -> tuple[int, dict[str, Any], str]:
    """create_pay_link's writes, without ORM objects: one UPDATE (the earlier active link for
    the purpose is replaced) and one INSERT. Returns the new link's id, its column values
    and its URL. The caller checks the bill; pending ORM changes are not flushed first."""
    return _issue(session, clock.now(), context, account_id, bill_id, replace=True)


def _issue(
    session: Session,
    now: datetime,
    context: PaymentContext,
    account_id: int,
    bill_id: int | None,
    *,
    replace: bool,
) -> tuple[int, dict[str, Any], str]:
    """`issue_pay_link`'s writes; `replace=False` when the caller has just read that the
    account has no active link for the purpose (its UPDATE would find nothing)."""
    purpose = purpose_of(bill_id)
    connection = session.connection()
    if replace:
        _REPLACE_ACTIVE.execute(
            connection, {"b_account_id": account_id, "b_purpose": purpose, "b_now": now}
        )
        for held in list(session.identity_map.values()):  # links this session holds, kept true
            if (isinstance(held, PayLink) and held.account_id == account_id
                    and held.purpose == purpose and held.status == "active"):  # fmt: skip
                set_committed_value(held, "status", "replaced")
                set_committed_value(held, "finished_at", now)
    seed, token = _new_token(context.secret_key)
    values: dict[str, Any] = {
        "account_id": account_id, "purpose": purpose, "bill_id": bill_id,
        "token_hash": hash_token(token), "token_seed": seed, "status": "active",
        "created_at": now, "expires_at": now + context.pay_link_ttl, "finished_at": None,
    }  # fmt: skip
    link_id: int = _INSERT_LINK.execute(connection, values).scalar()
    return link_id, values, f"{context.public_base_url}/p/{token}"


def issue_balance_links(
    *, session: Session, clock: Clock, context: PaymentContext, account_ids: Sequence[int]
) -> dict[int, str]:
    """`issue_pay_link` for the balance of many accounts at once (the arrears ladder's
    messages): one UPDATE replacing their active balance links and one bulk INSERT. Returns
    each account's URL."""
    if not account_ids:
        return {}
    now = clock.now()
    session.execute(
        update(_PAY_LINKS)
        .where(_PAY_LINKS.c.account_id.in_(list(account_ids)),
               _PAY_LINKS.c.purpose == BALANCE, ACTIVE_LINK)
        .values(status="replaced", finished_at=now)
    )  # fmt: skip
    urls, rows = {}, []
    for account_id in account_ids:
        seed, token = _new_token(context.secret_key)
        urls[account_id] = f"{context.public_base_url}/p/{token}"
        rows.append((account_id, BALANCE, None, hash_token(token), seed, "active", now,
                     now + context.pay_link_ttl, None))  # fmt: skip
    bulk_insert(session.connection(), _PAY_LINKS, _LINK_COLUMNS, rows)
    return urls


_PAY_LINKS = table_of(PayLink)
_LINK_COLUMNS = ("account_id", "purpose", "bill_id", "token_hash", "token_seed", "status",
                 "created_at", "expires_at", "finished_at")  # fmt: skip
_OFFERED_COLUMNS = ("id", *_LINK_COLUMNS)
_SELECT_ACTIVE = Prepared(
    select(*(_PAY_LINKS.c[name] for name in _OFFERED_COLUMNS))
    .where(_PAY_LINKS.c.account_id == bindparam("b_account_id"),
           _PAY_LINKS.c.purpose == bindparam("b_purpose"), ACTIVE_LINK)
)  # fmt: skip
_REPLACE_ACTIVE = Prepared(
    update(_PAY_LINKS)
    .where(_PAY_LINKS.c.account_id == bindparam("b_account_id"),
           _PAY_LINKS.c.purpose == bindparam("b_purpose"), ACTIVE_LINK)
    .values(status="replaced", finished_at=bindparam("b_now"))
)  # fmt: skip
_INSERT_LINK = Prepared(insert(_PAY_LINKS).returning(_PAY_LINKS.c.id))


def find_pay_link(*, session: Session, clock: Clock, token: str) -> PayLink | None:
    """The link behind a token, if it is one and still payable. Unknown, expired, replaced
    and finished links all come back as None: the page says the same for each.

    It only reads: the pay page, a GET, calls it, and a read never writes (under another
    writer's lock a write would wait, then fail, for a page that changes nothing). Expiry is
    computed from `expires_at`; a write path records it (`expire_pay_link`)."""
    link = _link_by_token(session, token)
    if link is None or link.status != "active" or link.expires_at <= clock.now():
        return None
    return link


def expire_pay_link(*, session: Session, clock: Clock, token: str) -> None:
    """Record that the link behind the token has expired, if it has and says otherwise: a
    write path (a checkout attempted on it) calls this where find_pay_link found nothing."""
    link = _link_by_token(session, token)
    if link is not None and link.status == "active" and link.expires_at <= clock.now():
        link.status, link.finished_at = "expired", clock.now()
        session.add(link)


def _link_by_token(session: Session, token: str) -> PayLink | None:
    if not token or len(token) > 100:
        return None
    return session.scalars(
        select(PayLink).where(col(PayLink.token_hash) == hash_token(token))
    ).first()


@dataclass(frozen=True)
class AmountDue:
    account: Account
    customer: Customer
    statement: Statement
    amount: Decimal  # what the link asks for, now
    bill_ids: tuple[int, ...]  # the bills this pays


def amount_due(
    *, session: Session, clock: Clock, context: PaymentContext, link: PayLink
) -> AmountDue:
    """What the link asks for at this moment, computed from the ledger: the balance, or
    what is open on its bill. Never taken from the URL or a form."""
    account = session.get(Account, link.account_id)
    if account is None:
        raise NotFound("account gone")
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    statement = account_statement(
        session=session,
        account_id=account.id or 0,
        today=context.today(clock),
        currency=context.currency,
    )
    if link.bill_id is None:
        return AmountDue(
            account,
            customer,
            statement,
            statement.amount_due,
            tuple(b.bill_id for b in statement.open_bills),
        )
    open_on_bill = next(
        (b.open_amount for b in statement.bills if b.bill_id == link.bill_id), Decimal(0)
    )
    return AmountDue(
        account, customer, statement, min(open_on_bill, statement.amount_due), (link.bill_id,)
    )


# --- checkout attempts ---------------------------------------------------------------------


def start_checkout(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    link: PayLink,
    provider: str,
) -> CheckoutAttempt:
    """An attempt to pay the link now, for the amount due now."""
    due = amount_due(session=session, clock=clock, context=context, link=link)
    if due.amount <= 0:
        raise Conflict("nothing is due on this link")
    attempt = CheckoutAttempt(
        pay_link_id=link.id or 0, provider=provider, amount=due.amount,
        currency=context.currency, status="open", created_at=clock.now(),
    )  # fmt: skip
    session.add(attempt)
    session.flush()
    return attempt


def complete_checkout(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    attempt: CheckoutAttempt,
    provider_reference: str,
    received_at: datetime | None = None,
    source: str = "",
) -> RecordedPayment:
    """The provider says the attempt was paid: record the payment once (a second call for
    the same attempt or reference changes nothing) for the amount fixed at the start."""
    link = session.get(PayLink, attempt.pay_link_id)
    assert link is not None
    recorded = accept_payment(
        session=session, clock=clock, context=context, account_id=link.account_id,
        amount=attempt.amount, channel=attempt.provider, provider_reference=provider_reference,
        received_at=received_at or clock.now(), bill_id=link.bill_id, pay_link_id=link.id,
        source=source,
    )  # fmt: skip
    if attempt.status != "completed":
        attempt.status, attempt.finished_at = "completed", clock.now()
        attempt.payment_id = recorded.payment.id
        session.add(attempt)
    return recorded


def fail_checkout(
    *, session: Session, clock: Clock, attempt: CheckoutAttempt, status: str = "failed"
) -> None:
    if status not in ("failed", "cancelled", "expired"):
        raise InvalidInput(f"unknown checkout outcome {status!r}")
    if attempt.status == "open":
        attempt.status, attempt.finished_at = status, clock.now()
        session.add(attempt)


@dataclass(frozen=True)
class RecordedPayment:
    payment: Payment
    created: bool  # False: this provider reference was recorded before; nothing changed


def record_payment(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    account_id: int,
    amount: Decimal,
    currency: str,
    channel: str,
    provider_reference: str,
    received_at: datetime,
    bill_id: int | None = None,
    pay_link_id: int | None = None,
    source: str = "",
    duplicate_window: timedelta = timedelta(hours=24),
    actor: str = "system",
) -> RecordedPayment:
    """Record money received, exactly once per (channel, provider reference), with its
    ledger entry and a `payment_received` event, in the caller's transaction.

    The same amount for the same bill from another channel within `duplicate_window` is
    recorded (the money did arrive) but flagged as a probable duplicate, for a refund."""
    if amount <= ZERO or amount != amount.quantize(CENT):
        raise InvalidInput(f"payment amount {amount} must be positive, in cents")
    if not provider_reference:
        raise InvalidInput("a payment needs the provider's reference")
    existing = _payment_by_reference(session, channel, provider_reference)
    if existing is not None:
        return RecordedPayment(existing, created=False)
    duplicate_of = None
    if bill_id is not None:
        duplicate_of = session.scalars(
            select(Payment)
            .where(
                col(Payment.bill_id) == bill_id,
                col(Payment.amount) == amount,
                col(Payment.channel) != channel,
                col(Payment.received_at) >= received_at - duplicate_window,
                col(Payment.received_at) <= received_at + duplicate_window,
            )
            .order_by(col(Payment.id))
        ).first()
    payment = Payment(
        account_id=account_id,
        channel=channel,
        provider_reference=provider_reference,
        amount=amount,
        currency=currency,
        received_at=received_at,
        bill_id=bill_id,
        pay_link_id=pay_link_id,
        source=source[:255],
        probable_duplicate_of=duplicate_of.id if duplicate_of else None,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        # Another request recorded the same reference a moment ago: theirs stands.
        again = _payment_by_reference(session, channel, provider_reference)
        if again is None:
            raise
        return RecordedPayment(again, created=False)
    assert payment.id is not None
    session.add(LedgerEntry(
        account_id=account_id, kind=EntryKind.payment, amount=-amount, currency=currency,
        effective_on=received_at.astimezone(tz).date(), bill_id=bill_id,
        payment_id=payment.id, dedupe_key=payment_key(payment.id), actor=actor,
        note=f"{channel} {provider_reference}"[:300], created_at=clock.now(),
    ))  # fmt: skip
    record_events(session=session, clock=clock, events=[{
        "kind": PAYMENT_RECEIVED, "dedupe_key": event_key(PAYMENT_RECEIVED, payment.id),
        "account_id": account_id,
        "payload": {"payment_id": payment.id, "amount": str(amount), "currency": currency,
                    "channel": channel, "bill_id": bill_id,
                    "probable_duplicate_of": payment.probable_duplicate_of},
    }])  # fmt: skip
    session.flush()
    return RecordedPayment(payment, created=True)


def _payment_by_reference(session: Session, channel: str, reference: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(
            col(Payment.channel) == channel, col(Payment.provider_reference) == reference
        )
    ).first()


# --- after a payment -----------------------------------------------------------------------


def accept_payment(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    account_id: int,
    amount: Decimal,
    channel: str,
    provider_reference: str,
    received_at: datetime,
    bill_id: int | None = None,
    pay_link_id: int | None = None,
    source: str = "",
    actor: str = "system",
) -> RecordedPayment:
    """Record a payment from any channel, exactly once, and what follows it in the same
    transaction: links whose purpose is now paid are finished, notices and reminders about
    bills now paid are cancelled, and a receipt goes to the customer through the outbox."""
    recorded = record_payment(
        session=session, clock=clock, tz=context.tz, account_id=account_id, amount=amount,
        currency=context.currency, channel=channel, provider_reference=provider_reference,
        received_at=received_at, bill_id=bill_id, pay_link_id=pay_link_id, source=source,
        duplicate_window=context.duplicate_window, actor=actor,
    )  # fmt: skip
    if not recorded.created:
        return recorded
    account = session.get(Account, account_id)
    assert account is not None
    statement = account_statement(
        session=session,
        account_id=account_id,
        today=context.today(clock),
        currency=context.currency,
    )
    paid_bills = [b.bill_id for b in statement.bills if b.open_amount <= 0]
    finished = [BALANCE] if statement.amount_due <= 0 else []
    finished += [purpose_of(b) for b in paid_bills]
    if finished:
        session.execute(
            update(PayLink)
            .where(col(PayLink.account_id) == account_id, ACTIVE_LINK,
                   col(PayLink.purpose).in_(finished))
            .values(status="paid", finished_at=clock.now())
        )  # fmt: skip
    cancel_bill_messages(
        session=session,
        bill_ids=paid_bills,
        reason=f"paid (payment {recorded.payment.id})",
    )
    if context.arrears is not None:
        after_payment(session=session, clock=clock, rules=context.arrears, account_id=account_id)
    _send_receipt(session=session, clock=clock, context=context, account=account,
                  payment_id=recorded.payment.id or 0, amount=amount,
                  now_due=statement.amount_due, test_mode=channel == SANDBOX)  # fmt: skip
    return recorded


def receipt_signature(payment_id: int, secret_key: str) -> str:
    """Makes the e-receipt URL unguessable without storing another token."""
    digest = hmac.new(secret_key.encode(), f"receipt:{payment_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def receipt_url(context: PaymentContext, payment_id: int) -> str:
    signature = receipt_signature(payment_id, context.secret_key)
    return f"{context.public_base_url}/receipts/{payment_id}/{signature}"


def _send_receipt(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    account: Account,
    payment_id: int,
    amount: Decimal,
    now_due: Decimal,
    test_mode: bool,
) -> None:
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    recipient = reachable_contact(session, customer.id or 0)
    if recipient is None:
        return  # no verified, reachable contact: the e-receipt page is the receipt
    language = customer.language
    body = render(
        "receipt", language, account=account.number,
        amount=money(amount, context.currency, language),
        balance=money(max(now_due, Decimal(0)), context.currency, language),
        url=receipt_url(context, payment_id),
    )  # fmt: skip
    if test_mode:  # a sandbox payment moved no money: say so wherever it appears
        body = ("【测试】" if language == Language.zh_cn else "[TEST] ") + body
    enqueue_message(
        session=session, clock=clock, dedupe_key=receipt_key(payment_id),
        recipient=recipient, template="receipt", language=language, body=body, kind=REPLY,
        purpose=receipt_key(payment_id), account_id=account.id,
        customer_id=customer.id, priority=2,
    )  # fmt: skip
