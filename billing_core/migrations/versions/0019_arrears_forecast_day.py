"""arrears_forecast_day

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 01:45:00.000000

The arrears ladder's imported daily weather forecast (docs/arrears.md, "The forecast"): one
row per day with its low and high in °C; a day reaching the policy's temperature limits holds
disconnections back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "arrears_forecast_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "low_c", billing_core.db.types.DecimalType(scale=1, precision=18), nullable=False
        ),
        sa.Column(
            "high_c", billing_core.db.types.DecimalType(scale=1, precision=18), nullable=False
        ),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("imported_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrears_forecast_day")),
    )
    with op.batch_alter_table("arrears_forecast_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_arrears_forecast_day_day"), ["day"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("arrears_forecast_day", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arrears_forecast_day_day"))
    op.drop_table("arrears_forecast_day")
