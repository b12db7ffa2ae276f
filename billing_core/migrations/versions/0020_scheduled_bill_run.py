"""scheduled_bill_run and scheduled_bill_run_missed

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 01:45:00.000000

The scheduler's daily bill run: one row per reading day it billed (counts, catch-up, errors),
pointing at its `bill_run`, and the day's missed readings (docs/billing.md, "The scheduled
bill run").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from billing_core.db.types import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_bill_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("bill_run_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("catch_up", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("accounts_due", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("in_review", sa.Integer(), nullable=False),
        sa.Column("already_billed", sa.Integer(), nullable=False),
        sa.Column("missed_readings", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["bill_run_id"], ["bill_run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_date"),
    )
    op.create_table(
        "scheduled_bill_run_missed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("account_number", sa.String(length=20), nullable=False),
        sa.Column("book_code", sa.String(length=32), nullable=True),
        sa.Column("meter_serial", sa.String(length=32), nullable=True),
        sa.Column("last_read_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["scheduled_bill_run.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scheduled_bill_run_missed_run_id", "scheduled_bill_run_missed", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_bill_run_missed_run_id", table_name="scheduled_bill_run_missed")
    op.drop_table("scheduled_bill_run_missed")
    op.drop_table("scheduled_bill_run")
