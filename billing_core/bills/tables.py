"""SQLModel tables for bills, their lines, review items and bill runs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, index_where_set, instant, money
from billing_core.db.columns import quantity as decimal_column

_LIVE = text("status != 'cancelled'")


class BillRun(SQLModel, table=True):
    __tablename__ = "bill_run"

    id: int | None = Field(default=None, primary_key=True)
    run_date: date
    book_code: str | None = Field(default=None, max_length=32)
    status: str = Field(default="running", max_length=16)
    started_at: datetime = Field(sa_column=instant())
    finished_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    issued: int = 0
    in_review: int = 0
    skipped: int = 0
    missed: int = 0
    failed: int = 0
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Bill(SQLModel, table=True):
    """One bill per account and period: a partial unique index allows a cancelled bill and
    its re-bill (退补) to share a period, never two live ones."""

    __tablename__ = "bill"
    __table_args__ = (
        Index(
            "uq_bill_live_period",
            "account_id",
            "period_start",
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        ),
        index_where_set("bill", "replaces_bill_id"),  # only a re-bill (退补) has one
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    period_start: date  # the previous reading's local date
    period_end: date  # the current reading's local date
    status: str = Field(max_length=16, index=True)  # in_review, issued, cancelled
    kwh: Decimal = Field(sa_column=decimal_column())
    total: Decimal = Field(sa_column=money())
    currency: str = Field(max_length=3)
    estimated: bool = False
    due_date: date | None = None
    issued_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    prev_reading_id: int | None = Field(
        default=None, sa_column=foreign_key("meter_reading.id", nullable=True, index=False)
    )
    curr_reading_id: int | None = Field(
        default=None, sa_column=foreign_key("meter_reading.id", nullable=True, index=False)
    )
    bill_run_id: int | None = Field(
        default=None, sa_column=foreign_key("bill_run.id", nullable=True)
    )
    replaces_bill_id: int | None = Field(
        default=None, sa_column=foreign_key("bill.id", nullable=True, index=False)
    )
    cancelled_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    cancel_reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=instant())


class BillLine(SQLModel, table=True):
    __tablename__ = "bill_line"

    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(sa_column=foreign_key("bill.id", ondelete="CASCADE"))
    position: int
    kind: str = Field(default="charge", max_length=16)  # charge, adjustment (退补)
    component: str = Field(max_length=64)
    quantity: Decimal = Field(sa_column=decimal_column(3))
    unit_price: Decimal = Field(sa_column=decimal_column(6))
    amount: Decimal = Field(sa_column=money())


class ReviewItem(SQLModel, table=True):
    """A rule that fired on a bill (电费复核); the bill waits until a reviewer resolves it."""

    __tablename__ = "review_item"
    __table_args__ = (UniqueConstraint("bill_id", "rule"),)

    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(sa_column=foreign_key("bill.id", ondelete="CASCADE"))
    rule: str = Field(max_length=32, index=True)
    detail: str = Field(default="", max_length=500)
    status: str = Field(default="open", max_length=16, index=True)  # open, approved, corrected
    cause: str | None = Field(default=None, max_length=32)
    note: str = Field(default="", max_length=500)
    resolved_by: str | None = Field(default=None, max_length=64)
    # The staff user whose correction raised the item (a re-bill's REFUND_OR_REBILL): never the
    # one to resolve it (four eyes). None for an item the bill run raised.
    raised_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    created_at: datetime = Field(sa_column=instant())
