"""Send tallies: how many sends each dispatcher attempted on a channel over a stretch of time,
and how many failed. The delivery watch sums those in its window. The outbox row keeps only
its latest state, not when each attempt failed; a tally is one row a minute per dispatcher
and channel, written off the send path."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from billing_core.db.columns import instant


class DeliveryTally(SQLModel, table=True):
    __tablename__ = "delivery_tally"

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    started_at: datetime = Field(sa_column=instant())
    # The watch reads the tallies that ended in its window (and deletes old ones) by this.
    ended_at: datetime = Field(sa_column=instant(index=True))
    attempts: int
    failures: int
