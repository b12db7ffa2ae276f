"""The scheduled bill run's record: one row per reading day the scheduler billed (its counts,
whether it was a catch-up, its errors) and the day's missed readings, for staff to see."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant


class ScheduledBillRun(SQLModel, table=True):
    """The scheduler's run of one reading day: one row per day (a rerun after a crash updates
    it), pointing at the `bill_run` that billed it."""

    __tablename__ = "scheduled_bill_run"

    id: int | None = Field(default=None, primary_key=True)
    run_date: date = Field(unique=True)  # the reading day billed
    bill_run_id: int | None = Field(
        default=None, sa_column=foreign_key("bill_run.id", nullable=True, index=False)
    )
    status: str = Field(default="running", max_length=16)  # running, finished, failed
    catch_up: bool = False  # billed on a later day than its own (after downtime)
    started_at: datetime = Field(sa_column=instant())
    finished_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    accounts_due: int = 0
    issued: int = 0
    in_review: int = 0
    already_billed: int = 0  # billed before (by hand, or an earlier attempt): not again
    missed_readings: int = 0  # meters due without an actual reading (a row each below)
    failed: int = 0  # accounts the run could not bill (their reasons in `errors`)
    errors: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class MissedReading(SQLModel, table=True):
    """A meter due on a scheduled run's day without an actual reading in the window (or a due
    account with no meter in service): what staff chase."""

    __tablename__ = "scheduled_bill_run_missed"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(sa_column=foreign_key("scheduled_bill_run.id", ondelete="CASCADE"))
    account_number: str = Field(max_length=20)
    book_code: str | None = Field(default=None, max_length=32)
    meter_serial: str | None = Field(default=None, max_length=32)
    last_read_on: date | None = None
