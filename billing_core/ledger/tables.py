"""The ledger entry table. Rows are only ever inserted; a correction is a new entry."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, index_where_set, instant, money


class LedgerEntry(SQLModel, table=True):
    """One movement on an account. `amount` is signed: positive increases what the customer
    owes (charge, late fee, refund paid out), negative decreases it (payment, waiver,
    write-off, a reversed charge)."""

    __tablename__ = "ledger_entry"
    # Most entries are bill charges: the payment, refund and related entry are indexed only
    # where an entry has them.
    __table_args__ = (
        index_where_set("ledger_entry", "payment_id"),
        index_where_set("ledger_entry", "refund_id"),
        index_where_set("ledger_entry", "related_entry_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    kind: str = Field(max_length=24)
    amount: Decimal = Field(sa_column=money())
    currency: str = Field(max_length=3)
    effective_on: date  # the business date (local): issue date, payment date, accrual day
    bill_id: int | None = Field(default=None, sa_column=foreign_key("bill.id", nullable=True))
    payment_id: int | None = Field(
        default=None, sa_column=foreign_key("payment.id", nullable=True, index=False)
    )
    refund_id: int | None = Field(
        default=None, sa_column=foreign_key("refund.id", nullable=True, index=False)
    )
    related_entry_id: int | None = Field(
        default=None, sa_column=foreign_key("ledger_entry.id", nullable=True, index=False)
    )
    # One entry per thing that happened, however often the job that posts it runs.
    dedupe_key: str = Field(max_length=128, unique=True)
    actor: str = Field(default="system", max_length=100)
    note: str = Field(default="", max_length=300)
    created_at: datetime = Field(sa_column=instant())
