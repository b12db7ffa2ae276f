"""outbox: an index in the dispatcher's claim order

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:05:00.000000

The dispatcher claims pending rows by priority, then not_before, then id. Without an index in
that order every claim sorts the whole due backlog (20 ms a claim at 20,000 rows, growing with
it); with it, a claim reads only the rows it takes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_message_claim", ["status", "priority", "not_before", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_claim")
