"""SQLModel tables for reading books (抄表段), meters and readings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant, quantity


class ReadingBook(SQLModel, table=True):
    """A book of accounts read together on one reading day (抄表段, 抄表例日)."""

    __tablename__ = "reading_book"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    reading_day: int = Field(ge=1, le=28)


class Meter(SQLModel, table=True):
    __tablename__ = "meter"

    id: int | None = Field(default=None, primary_key=True)
    serial: str = Field(max_length=32, unique=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    multiplier: Decimal = Field(default=Decimal(1), sa_column=quantity(4))  # 倍率
    digits: int = Field(default=6, ge=3, le=10)  # register rolls over at 10**digits
    tou: bool = False  # has peak / flat / valley registers besides the total
    parent_meter_id: int | None = Field(
        default=None, sa_column=foreign_key("meter.id", nullable=True)
    )
    installed_on: date
    removed_on: date | None = None
    initial_total: Decimal = Field(default=Decimal(0), sa_column=quantity())
    initial_peak: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))
    initial_flat: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))
    initial_valley: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))


class ReadingBatch(SQLModel, table=True):
    """One import (a CSV file, a Green Button document, an API call) and its report."""

    __tablename__ = "reading_batch"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=16)  # csv, green_button, api, customer
    name: str = Field(default="", max_length=255)
    content_sha256: str = Field(max_length=64, unique=True)  # the same file twice is a no-op
    actor: str = Field(max_length=100)
    imported_at: datetime = Field(sa_column=instant())
    accepted: int = 0
    rejected: int = 0
    flagged: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class MeterReading(SQLModel, table=True):
    __tablename__ = "meter_reading"
    __table_args__ = (UniqueConstraint("meter_id", "read_at"),)

    id: int | None = Field(default=None, primary_key=True)
    meter_id: int = Field(sa_column=foreign_key("meter.id", index=False))
    read_at: datetime = Field(sa_column=instant())
    total: Decimal = Field(sa_column=quantity())
    peak: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))
    flat: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))
    valley: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))
    source: str = Field(max_length=16)
    reactive: Decimal | None = Field(default=None, sa_column=quantity(nullable=True))  # kvarh
    reader_id: str | None = Field(default=None, max_length=32)
    estimated: bool = False
    batch_id: int | None = Field(
        default=None, sa_column=foreign_key("reading_batch.id", nullable=True, index=False)
    )


class ReadingPlan(SQLModel, table=True):
    """A rolling plan applied to the accounts' reading days (docs/readings.md): proposed by one
    staff user, approved (or rejected) by another, applied on or after its effective date."""

    __tablename__ = "reading_plan"

    id: int | None = Field(default=None, primary_key=True)
    month: date  # the first day of the first month read on the new days
    effective_on: date  # at least the notice period after it was proposed
    status: str = Field(max_length=16, index=True)  # proposed, approved, rejected, applied
    proposed_by: str = Field(max_length=100)
    proposed_at: datetime = Field(sa_column=instant())
    reviewed_by: str | None = Field(default=None, max_length=100)
    reviewed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    review_note: str = Field(default="", max_length=500)
    applied_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    tolerance: float  # the policy's largest imbalance (max / mean − 1) a day
    accounts: int = 0  # accounts whose reading day changes
    notices: int = 0  # notices put in the outbox on approval
    # {"before": LoadSummary, "after": LoadSummary, "books": [{code, old_day, new_day}, ...]}
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReadingDayChange(SQLModel, table=True):
    """One account's reading-day change in a plan, and its transition: the last reading on the
    old day and the first on the new day bound the one longer or shorter period billed."""

    __tablename__ = "reading_day_change"
    __table_args__ = (UniqueConstraint("plan_id", "account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(sa_column=foreign_key("reading_plan.id", index=False))
    account_id: int = Field(sa_column=foreign_key("account.id"))
    old_day: int = Field(ge=1, le=28)
    new_day: int = Field(ge=1, le=28)
    last_old_reading_on: date
    first_new_reading_on: date = Field(index=True)
