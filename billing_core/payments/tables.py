"""Tables for payments, pay links, checkout attempts, provider events and refunds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, literal_column, text
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, index_where_set, instant, money


class Payment(SQLModel, table=True):
    """Money received. One per provider reference and channel (a bank file line, a Stripe
    Checkout Session, a counter receipt number)."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("channel", "provider_reference"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    channel: str = Field(max_length=16)  # sandbox, stripe, bank, counter, atm, kiosk, ...
    provider_reference: str = Field(max_length=128)
    amount: Decimal = Field(sa_column=money())
    currency: str = Field(max_length=3)
    received_at: datetime = Field(sa_column=instant())
    bill_id: int | None = Field(default=None, sa_column=foreign_key("bill.id", nullable=True))
    pay_link_id: int | None = Field(
        default=None, sa_column=foreign_key("pay_link.id", nullable=True)
    )
    probable_duplicate_of: int | None = Field(
        default=None, sa_column=foreign_key("payment.id", nullable=True)
    )
    source: str = Field(default="", max_length=255)  # the file, API batch or webhook
    created_at: datetime = Field(sa_column=instant())


_ACTIVE = text("status = 'active'")


class PayLink(SQLModel, table=True):
    """A link a customer pays through; at most one active link per account and purpose
    ("balance", or "bill:<id>"). The token is not stored: its hash (how a token is looked
    up) and the random seed it was derived from under the secret key
    (`payments.service.link_token`), so that the service can offer the same link again
    while the database alone gives no token away. Links made before seeds have none."""

    __tablename__ = "pay_link"
    __table_args__ = (
        Index(
            "uq_pay_link_active_purpose",
            "account_id",
            "purpose",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        # Most links are for the balance (no bill): only those for a bill are indexed.
        index_where_set("pay_link", "bill_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    purpose: str = Field(max_length=32)
    bill_id: int | None = Field(
        default=None, sa_column=foreign_key("bill.id", nullable=True, index=False)
    )
    token_hash: str = Field(max_length=64, unique=True)
    token_seed: str | None = Field(default=None, max_length=32)
    status: str = Field(default="active", max_length=16)  # active, paid, expired, replaced
    created_at: datetime = Field(sa_column=instant())
    expires_at: datetime = Field(sa_column=instant())
    finished_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))


# The partial unique index's condition as a query must write it for the index to serve it:
# a literal. With a parameter SQLite prepares the statement again at every execution to see
# whether the index applies (8 against 1.4 µs), and PostgreSQL's generic plan cannot use it.
ACTIVE_LINK = PayLink.__table__.c.status == literal_column("'active'")  # type: ignore[attr-defined]


class CheckoutAttempt(SQLModel, table=True):
    """One attempt to pay a link with a provider (a Stripe Checkout Session, a sandbox
    checkout). The amount is fixed by the server when the attempt starts."""

    __tablename__ = "checkout_attempt"
    __table_args__ = (UniqueConstraint("provider", "provider_session_id"),)

    id: int | None = Field(default=None, primary_key=True)
    pay_link_id: int = Field(sa_column=foreign_key("pay_link.id"))
    provider: str = Field(max_length=16)
    provider_session_id: str | None = Field(default=None, max_length=255)
    amount: Decimal = Field(sa_column=money())
    currency: str = Field(max_length=3)
    status: str = Field(default="open", max_length=16)  # open, completed, failed, cancelled
    payment_id: int | None = Field(default=None, sa_column=foreign_key("payment.id", nullable=True))
    created_at: datetime = Field(sa_column=instant())
    finished_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))


class ProviderEvent(SQLModel, table=True):
    """A webhook event already processed: the same event delivered again changes nothing."""

    __tablename__ = "provider_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    kind: str = Field(max_length=64)
    received_at: datetime = Field(sa_column=instant())
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Refund(SQLModel, table=True):
    """A refund (退费) through its workflow: requested → approved → refunded (or rejected)."""

    __tablename__ = "refund"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(sa_column=foreign_key("payment.id"))
    account_id: int = Field(sa_column=foreign_key("account.id"))
    amount: Decimal = Field(sa_column=money())
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=300)
    status: str = Field(default="requested", max_length=16)
    requested_by: str = Field(max_length=100)
    requested_at: datetime = Field(sa_column=instant())
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    refunded_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    provider_reference: str | None = Field(default=None, max_length=128)
