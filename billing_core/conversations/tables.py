"""Verification codes (LINK). The conversations and their messages are the transcript's
(`billing_core.transcripts.tables`), opt-outs the outbox's (`billing_core.outbox.tables`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant


class VerificationCode(SQLModel, table=True):
    """A one-time code sent to an account's registered number (LINK). Only its hash is
    stored; it expires, and it allows a few attempts."""

    __tablename__ = "verification_code"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128, index=True)  # who asked
    account_id: int = Field(sa_column=foreign_key("account.id"))
    sent_to: str = Field(max_length=32)  # the registered number the code went to
    code_hash: str = Field(max_length=64)
    attempts: int = 0
    created_at: datetime = Field(sa_column=instant(index=True))
    expires_at: datetime = Field(sa_column=instant())
    used_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
