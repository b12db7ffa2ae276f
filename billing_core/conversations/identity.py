"""Who is writing: phone numbers in E.164, the accounts a sender may see (only through a
verified contact), and verifying a sender for an account with a one-time code sent to the
account's registered phone (LINK). Identity comes before data."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlmodel import Session, col

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.conversations.policy import ConversationsPolicy
from billing_core.conversations.tables import VerificationCode
from billing_core.customers.model import AccountStatus, Channel
from billing_core.customers.tables import Account, Contact, Customer
from billing_core.db.columns import table_of
from billing_core.db.prepared import Prepared
from billing_core.dedupe_keys import verification_key
from billing_core.messages.templates import render
from billing_core.outbox.service import REPLY, Recipient, enqueue_message
from billing_core.outbox.tables import OptOut

CODE_DIGITS = 6
MAX_PHONE_INPUT = 64  # longer than any phone number written any way; refused before parsing


@lru_cache(maxsize=8192)
def normalise_phone(raw: str, region: str) -> str | None:
    """The number in E.164 (+8613800000001), or None when it is not a valid phone number.
    A number without a country code is read in `region` (settings.phone_region)."""
    text = unicodedata.normalize("NFKC", raw or "").strip()  # full-width digits too
    if not text or len(text) > MAX_PHONE_INPUT:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_address(channel: str, address: str) -> str:
    """How a sender is named to someone else (the registered phone's owner): ...0142 (ASCII
    dots keep an English SMS in GSM-7)."""
    if channel == Channel.sms:
        return f"...{address[-4:]}"
    return f"{channel} ...{address[-4:]}"


def accounts_for(session: Session, channel: str, address: str) -> list[Account]:
    """The accounts this sender may see: those of every customer on whom this channel and
    address is a verified contact (a Telegram contact's address is the user id). Closed
    accounts are left out; ordered by account number, so "BILL 2" is stable."""
    if not address:
        return []
    customer_ids = (
        select(col(Contact.customer_id))
        .where(
            col(Contact.channel) == channel,
            col(Contact.address) == address,
            col(Contact.verified).is_(True),
        )
        .scalar_subquery()
    )
    return list(
        session.scalars(
            select(Account)
            .where(
                col(Account.customer_id).in_(customer_ids),
                col(Account.status) != AccountStatus.closed,
            )
            .order_by(col(Account.number))
        )
    )


class SenderAccount(NamedTuple):
    """An account a sender may see, with its customer's language (sender_accounts)."""

    id: int
    number: str
    customer_id: int
    customer_language: str


_CONTACTS, _ACCOUNTS, _CUSTOMERS = table_of(Contact), table_of(Account), table_of(Customer)
_SENDER_ACCOUNTS = Prepared(
    select(_ACCOUNTS.c.id, _ACCOUNTS.c.number, _ACCOUNTS.c.customer_id, _CUSTOMERS.c.language)
    .join(_CUSTOMERS, _CUSTOMERS.c.id == _ACCOUNTS.c.customer_id)
    .where(
        _ACCOUNTS.c.customer_id.in_(
            select(_CONTACTS.c.customer_id).where(
                _CONTACTS.c.channel == bindparam("channel"),
                _CONTACTS.c.address == bindparam("address"),
                _CONTACTS.c.verified.is_(True),
            )
        ),
        _ACCOUNTS.c.status != AccountStatus.closed.value,
    )
    .order_by(_ACCOUNTS.c.number)
)


def sender_accounts(session: Session, channel: str, address: str) -> list[SenderAccount]:
    """accounts_for in one round trip, as plain rows with the customer's language."""
    if not address:
        return []
    params = {"channel": channel, "address": address}
    rows = _SENDER_ACCOUNTS.execute(session.connection(), params).all()
    return [SenderAccount(*row) for row in rows]


# --- verification (LINK <account number>, then the code) --------------------------------


class LinkStatus(StrEnum):
    sent = "sent"
    already_linked = "already_linked"
    unknown_account = "unknown_account"
    no_registered_phone = "no_registered_phone"
    rate_limited = "rate_limited"


@dataclass(frozen=True)
class LinkStarted:
    """What start_link did. The customer is told the same whatever the status (except that
    an already linked sender hears so), so the reply never reveals whether an account
    exists; the status is for the log and the tests."""

    status: LinkStatus
    account_id: int | None = None


def code_hash(secret: str, verification: VerificationCode, code: str) -> str:
    """A keyed SHA-256 of the code, bound to who asked and for which account: a leaked
    table cannot be brute-forced over the million codes without the secret."""
    message = f"{verification.channel}|{verification.address}|{verification.account_id}|{code}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def registered_phone(session: Session, customer_id: int) -> Contact | None:
    """The number on file for the customer: an SMS contact, verified or not; one that is
    verified and has not opted out is preferred."""
    return session.scalars(
        select(Contact)
        .where(col(Contact.customer_id) == customer_id, col(Contact.channel) == Channel.sms)
        .order_by(col(Contact.opted_out), col(Contact.verified).desc(), col(Contact.id))
    ).first()


def start_link(
    *,
    session: Session,
    clock: Clock,
    policy: ConversationsPolicy,
    secret: str,
    channel: str,
    address: str,
    account_number: str,
) -> LinkStarted:
    """Send a one-time code to the account's registered phone through the outbox, unless the
    account is unknown, has no phone on file, or this sender or account had its share of
    codes in the window. A new code replaces the sender's earlier ones."""
    now = clock.now()
    account = session.scalars(select(Account).where(col(Account.number) == account_number)).first()
    if account is None or account.id is None:
        return LinkStarted(LinkStatus.unknown_account)
    if any(a.id == account.id for a in accounts_for(session, channel, address)):
        return LinkStarted(LinkStatus.already_linked, account.id)
    phone = registered_phone(session, account.customer_id)
    if phone is None:
        return LinkStarted(LinkStatus.no_registered_phone, account.id)
    since = now - timedelta(minutes=policy.code_rate_window_minutes)
    by_address = _codes_since(
        session,
        since,
        col(VerificationCode.channel) == channel,
        col(VerificationCode.address) == address,
    )
    by_account = _codes_since(session, since, col(VerificationCode.account_id) == account.id)
    if (
        by_address >= policy.codes_per_window_per_address
        or by_account >= policy.codes_per_window_per_account
    ):
        return LinkStarted(LinkStatus.rate_limited, account.id)

    session.execute(  # only the newest code counts
        update(VerificationCode)
        .where(
            col(VerificationCode.channel) == channel,
            col(VerificationCode.address) == address,
            col(VerificationCode.used_at).is_(None),
            col(VerificationCode.expires_at) > now,
        )
        .values(expires_at=now)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    verification = VerificationCode(
        channel=channel, address=address, account_id=account.id, sent_to=phone.address,
        code_hash="", created_at=now,
        expires_at=now + timedelta(minutes=policy.code_ttl_minutes),
    )  # fmt: skip
    verification.code_hash = code_hash(secret, verification, code)
    session.add(verification)
    session.flush()
    customer = session.get(Customer, account.customer_id)
    language = customer.language if customer is not None else "en"
    body = render(
        "link_code", language, code=code, requester=mask_address(channel, address),
        account=account.number, minutes=policy.code_ttl_minutes,
    )  # fmt: skip
    enqueue_message(
        session=session, clock=clock, dedupe_key=verification_key(verification.id or 0),
        recipient=Recipient(Channel.sms, phone.address), template="link_code",
        language=language, body=body, kind=REPLY, purpose=verification_key(verification.id or 0),
        account_id=account.id, customer_id=account.customer_id, priority=1,
    )  # fmt: skip
    return LinkStarted(LinkStatus.sent, account.id)


def _codes_since(session: Session, since: datetime, *conditions: ColumnElement[bool]) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(VerificationCode)
        .where(col(VerificationCode.created_at) >= since, *conditions)
    )
    return int(count or 0)


class CodeStatus(StrEnum):
    verified = "verified"
    wrong = "wrong"
    locked = "locked"  # too many attempts: a new LINK is needed
    expired = "expired"
    no_code = "no_code"


@dataclass(frozen=True)
class CodeChecked:
    status: CodeStatus
    account: Account | None = None  # the account now linked (verified only)


def check_code(
    *,
    session: Session,
    clock: Clock,
    policy: ConversationsPolicy,
    secret: str,
    channel: str,
    address: str,
    code: str,
    account_number: str | None = None,
) -> CodeChecked:
    """Check the sender's newest code (for that account, when named). Every check counts as
    an attempt; after `code_max_attempts` the code is dead even when right. On success the
    sender becomes a verified contact of the account's customer (audited)."""
    now = clock.now()
    query = select(VerificationCode).where(
        col(VerificationCode.channel) == channel,
        col(VerificationCode.address) == address,
        col(VerificationCode.used_at).is_(None),
    )
    if account_number is not None:
        query = query.join(Account, col(Account.id) == col(VerificationCode.account_id)).where(
            col(Account.number) == account_number
        )
    verification = session.scalars(
        query.order_by(col(VerificationCode.created_at).desc(), col(VerificationCode.id).desc())
        .with_for_update(of=VerificationCode)
    ).first()  # fmt: skip
    if verification is None:
        return CodeChecked(CodeStatus.no_code)
    if verification.expires_at <= now:
        return CodeChecked(CodeStatus.expired)
    if verification.attempts >= policy.code_max_attempts:
        return CodeChecked(CodeStatus.locked)
    verification.attempts += 1
    session.add(verification)
    expected = verification.code_hash
    if not hmac.compare_digest(expected, code_hash(secret, verification, code)):
        locked = verification.attempts >= policy.code_max_attempts
        return CodeChecked(CodeStatus.locked if locked else CodeStatus.wrong)
    verification.used_at = now
    phone = verification.sent_to
    account = session.get(Account, verification.account_id)
    assert account is not None
    verify_contact(
        session=session, clock=clock, customer_id=account.customer_id, channel=channel,
        address=address, reason=f"one-time code sent to {mask_address(Channel.sms, phone)}",
    )  # fmt: skip
    session.flush()
    return CodeChecked(CodeStatus.verified, account)


def verify_contact(
    *,
    session: Session,
    clock: Clock,
    customer_id: int,
    channel: str,
    address: str,
    reason: str,
) -> Contact:
    """Make this channel and address a verified contact of the customer (adding it if new),
    with an audit entry."""
    now = clock.now()
    contact = session.scalars(
        select(Contact).where(
            col(Contact.customer_id) == customer_id,
            col(Contact.channel) == channel,
            col(Contact.address) == address,
        )
    ).first()
    before = snapshot(contact) if contact is not None else None
    if contact is None:
        # A number that said STOP before it was linked stays opted out.
        opt_out = session.scalars(
            select(OptOut).where(col(OptOut.channel) == channel, col(OptOut.address) == address)
        ).first()
        contact = Contact(
            customer_id=customer_id, channel=channel, address=address,
            opted_out=opt_out is not None, opted_out_at=opt_out.created_at if opt_out else None,
        )  # fmt: skip
    if contact.verified:
        return contact
    contact.verified, contact.verified_at = True, now
    session.add(contact)
    session.flush()
    record_change(
        session=session, clock=clock, actor=f"{channel}:{address}"[:100],
        action="contact.verify" if before is not None else "contact.add",
        entity="contact", entity_id=contact.id, before=before, after=snapshot(contact),
        reason=reason,
    )  # fmt: skip
    return contact
