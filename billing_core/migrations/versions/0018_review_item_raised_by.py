"""review_item.raised_by

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:30:00.000000

Four-eyes re-billing (退补): the staff user whose correction raised a review item (a re-bill's
REFUND_OR_REBILL), so that a second reviewer, never that one, resolves it. Empty for the items
the bill run raises.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raised_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.drop_column("raised_by")
