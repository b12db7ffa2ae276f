"""outbox_message.payload; contact.unreachable_at, contact.unreachable_reason

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 20:10:00.000000

A message can carry what a richer channel adds to its text (Telegram's buttons and photos) as
JSON; a contact the provider says cannot be reached (a Telegram user who blocked the bot) is
marked, so messages go by the customer's next verified channel.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unreachable_at", billing_core.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("unreachable_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("unreachable_reason")
        batch_op.drop_column("unreachable_at")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("payload")
