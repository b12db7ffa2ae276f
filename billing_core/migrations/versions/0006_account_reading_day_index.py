"""account: an index on the reading day

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 20:10:00.000000

A bill run selects the accounts due by their reading day, in each of its queries. Without an
index every one of them scans the whole account table (5 ms at 100,000 accounts, a run's
eight queries 28 times a cycle); with it, it reads the day's accounts only.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index("ix_account_reading_day", ["reading_day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index("ix_account_reading_day")
