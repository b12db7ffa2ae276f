"""reading plans

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:38:07.430676

Applying a rolling reading plan (docs/readings.md): the plan (proposed, approved or rejected
by a second reviewer, applied on or after its effective date) and each account's reading-day
change with its transition, which the bill run reads to bill the one longer or shorter period.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reading_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.String(length=100), nullable=False),
        sa.Column("proposed_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=True),
        sa.Column("reviewed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("review_note", sa.String(length=500), nullable=False),
        sa.Column("applied_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("tolerance", sa.Float(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_plan")),
    )
    with op.batch_alter_table("reading_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reading_plan_status"), ["status"], unique=False)

    op.create_table(
        "reading_day_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("old_day", sa.Integer(), nullable=False),
        sa.Column("new_day", sa.Integer(), nullable=False),
        sa.Column("last_old_reading_on", sa.Date(), nullable=False),
        sa.Column("first_new_reading_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_reading_day_change_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["reading_plan.id"],
            name=op.f("fk_reading_day_change_plan_id_reading_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_day_change")),
        sa.UniqueConstraint(
            "plan_id", "account_id", name=op.f("uq_reading_day_change_plan_id_account_id")
        ),
    )
    with op.batch_alter_table("reading_day_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reading_day_change_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reading_day_change_first_new_reading_on"),
            ["first_new_reading_on"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("reading_day_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reading_day_change_first_new_reading_on"))
        batch_op.drop_index(batch_op.f("ix_reading_day_change_account_id"))

    op.drop_table("reading_day_change")
    with op.batch_alter_table("reading_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reading_plan_status"))

    op.drop_table("reading_plan")
