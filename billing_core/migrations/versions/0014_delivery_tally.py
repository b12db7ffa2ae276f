"""delivery_tally

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00.000000

Send tallies for the delivery watch (billing_core/health): each dispatcher's attempts and
failures per channel over a minute or so, read by the time they ended.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("started_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("ended_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_tally")),
    )
    with op.batch_alter_table("delivery_tally", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_tally_ended_at"), ["ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("delivery_tally", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_tally_ended_at"))
    op.drop_table("delivery_tally")
