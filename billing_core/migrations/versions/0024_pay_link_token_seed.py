"""pay_link.token_seed: the random seed a link's token is derived from

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 11:00:00.000000

A pay link's token was random and shown once; only its hash was kept, so a customer who
asked for their bill twice got a new link each time and the link in the earlier message
stopped working ("replaced"). A token is now derived from a stored random seed under the
secret key (HMAC-SHA256), so the same link can be offered again while it has time left.
Links made before have no seed: they keep working and are replaced when next offered.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("pay_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_seed", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pay_link", schema=None) as batch_op:
        batch_op.drop_column("token_seed")
