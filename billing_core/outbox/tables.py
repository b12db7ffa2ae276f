"""The outbox message table, and the opt-outs that stop automated messages to an address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_due", "status", "not_before"),
        # The dispatcher's claim order (billing_core.outbox.claims.claim_batch).
        Index("ix_outbox_message_claim", "status", "priority", "not_before", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # One message per thing to say: running a job twice never sends twice.
    dedupe_key: str = Field(max_length=160, unique=True)
    account_id: int | None = Field(default=None, sa_column=foreign_key("account.id", nullable=True))
    customer_id: int | None = Field(
        default=None, sa_column=foreign_key("customer.id", nullable=True)
    )
    channel: str = Field(max_length=16)  # sms, telegram, email
    recipient: str = Field(max_length=128)
    template: str = Field(max_length=48)  # bill_notice, due_reminder, receipt, code, reply …
    language: str = Field(max_length=10)
    body: str = Field(sa_column=Column(Text, nullable=False))
    # What a richer channel adds to the text, as JSON (None: text only): buttons (a pay link,
    # menu choices) and a photo, for Telegram. SMS ignores it: the text says everything.
    payload: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    segments: int = 1  # SMS segments (GSM-7 160/153, UCS-2 70/67)
    kind: str = Field(default="automated", max_length=16)  # automated (quiet hours) or reply
    # What the message is about, so a payment can cancel the reminders it makes moot.
    purpose: str = Field(default="", max_length=64, index=True)
    priority: int = 5  # lower goes first
    not_before: datetime = Field(sa_column=instant())
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    error_code: str | None = Field(default=None, max_length=32)
    error_detail: str = Field(default="", max_length=500)
    cancelled_reason: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_column=instant())
    sent_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))


class OptOut(SQLModel, table=True):
    """An address that said STOP (or that the provider reports opted out): no automated
    message goes to it until it says START."""

    __tablename__ = "opt_out"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128)
    source: str = Field(max_length=32)  # keyword, provider (21610, OptOutType)
    created_at: datetime = Field(sa_column=instant())
