"""SQLModel tables for customers, groups, accounts, tariff assignments and contacts."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from billing_core.customers.model import AccountStatus, CustomerKind, Language
from billing_core.db.columns import foreign_key, instant


class CustomerGroup(SQLModel, table=True):
    """A group customer (集团客户) whose accounts may share one consolidated notice."""

    __tablename__ = "customer_group"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    consolidated_notice: bool = True
    # Who gets the group's consolidated bill notice (docs/messages.md): a customer, reached on
    # their own reachable contact in their language. None: each account gets its own notice.
    contact_customer_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey("customer.id", use_alter=True),
            nullable=True,
        ),
    )


class Customer(SQLModel, table=True):
    __tablename__ = "customer"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    kind: str = Field(default=CustomerKind.residential, max_length=20)
    language: str = Field(default=Language.zh_cn, max_length=10)
    timezone: str | None = Field(default=None, max_length=64)
    household_size: int = 1
    group_id: int | None = Field(
        default=None, sa_column=foreign_key("customer_group.id", nullable=True)
    )
    created_at: datetime = Field(sa_column=instant())


class CustomerSensitivity(SQLModel, table=True):
    """A sensitivity flag (medical equipment, elderly living alone, hardship, an infant),
    with its validity."""

    __tablename__ = "customer_sensitivity"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(sa_column=foreign_key("customer.id", ondelete="CASCADE"))
    kind: str = Field(max_length=32)
    valid_from: date
    valid_to: date | None = None
    note: str = Field(default="", max_length=500)


class Account(SQLModel, table=True):
    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True)
    customer_id: int = Field(sa_column=foreign_key("customer.id"))
    service_address: str = Field(max_length=300)
    reading_book_id: int | None = Field(
        default=None, sa_column=foreign_key("reading_book.id", nullable=True)
    )
    reading_day: int = Field(ge=1, le=28)  # a bill run selects by it: see ix_account_due
    billing_cycle_months: int = Field(default=1, ge=1, le=12)
    status: str = Field(default=AccountStatus.active, max_length=20)
    # the days from a bill's issue to its due date agreed with this account; empty: the
    # policy's terms for the customer's kind (policies/payment_terms.yaml, bills/terms.py)
    payment_terms_days: int | None = Field(default=None, ge=0, le=90)
    opened_on: date
    closed_on: date | None = None

    # The accounts due on a reading day (day, active, opened by then) from the index alone:
    # a bill run looked up each of a day's accounts in the table for its status and opening.
    __table_args__ = (Index("ix_account_due", "reading_day", "status", "opened_on"),)


class TariffAssignment(SQLModel, table=True):
    """Which tariff an account is on from a date; history is kept, never overwritten."""

    __tablename__ = "tariff_assignment"
    __table_args__ = (UniqueConstraint("account_id", "effective_from"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id", ondelete="CASCADE"))
    tariff_code: str = Field(max_length=64)
    effective_from: date
    effective_to: date | None = None
    reason: str = Field(default="", max_length=300)


class Contact(SQLModel, table=True):
    """A way to reach a customer: an E.164 phone, a Telegram user id or an e-mail address,
    with its verification, notice preference, opt-out and allowed hours."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(sa_column=foreign_key("customer.id", ondelete="CASCADE"))
    channel: str = Field(max_length=16)
    address: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    verified: bool = False
    verified_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    notify: bool = True
    opted_out: bool = False
    opted_out_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    allowed_from: time = time(8, 0)
    allowed_until: time = time(21, 0)
    # The provider says this address cannot be reached (a Telegram user who blocked the bot):
    # messages go by the customer's next verified channel until the customer writes again.
    unreachable_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    unreachable_reason: str | None = Field(default=None, max_length=200)


class BusinessChange(SQLModel, table=True):
    """A business change (业扩变更) that makes the next bill wait for review: new connection,
    capacity change, tariff or meter parameter change, meter replacement or fault."""

    __tablename__ = "business_change"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id", ondelete="CASCADE"))
    kind: str = Field(max_length=32)
    effective_on: date
    note: str = Field(default="", max_length=300)
    created_at: datetime = Field(sa_column=instant())


class CustomerRequest(SQLModel, table=True):
    """Something a customer asked for in a conversation that a person must act on: a payment
    arrangement (pay later or in parts), a dispute of a bill, a report of no power. Recorded
    on the account when the sender is verified (the arrears ladder reads open arrangement
    and dispute requests), on the conversation alone otherwise."""

    __tablename__ = "customer_request"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # arrangement, dispute, outage
    status: str = Field(default="open", max_length=16)  # open, closed
    account_id: int | None = Field(default=None, sa_column=foreign_key("account.id", nullable=True))
    customer_id: int | None = Field(
        default=None, sa_column=foreign_key("customer.id", nullable=True, index=False)
    )
    conversation_id: int | None = Field(
        default=None, sa_column=foreign_key("conversation.id", nullable=True, index=False)
    )
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=instant())
    closed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    closed_by: str | None = Field(default=None, max_length=64)
