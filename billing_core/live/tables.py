"""The live-event table: what changed in a conversation, one row per change, read by id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from billing_core.db.columns import instant


class LiveEvent(SQLModel, table=True):
    """One change the console shows live. The id is the SSE event id: a client that
    reconnects asks for the rows after the last one it saw. AUTOINCREMENT on SQLite, so an
    id is never used twice, even after the newest rows are deleted."""

    __tablename__ = "live_event"
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    # Not indexed: read by id; the retention job's range on `at` is once a day.
    at: datetime = Field(sa_column=instant())
    kind: str = Field(max_length=32)
    conversation_id: int | None = None  # no foreign key: an event outlives nothing it names
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
