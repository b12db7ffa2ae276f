"""The domain event table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from billing_core.db.columns import instant


class DomainEvent(SQLModel, table=True):
    __tablename__ = "domain_event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(48), nullable=False, index=True))
    # One event per thing that happened, however often the job that records it runs.
    dedupe_key: str = Field(max_length=128, unique=True)
    account_id: int | None = None  # not indexed: nothing reads events by account
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=instant())
    consumed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
