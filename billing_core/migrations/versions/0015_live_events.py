"""live_event

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 10:00:00.000000

The staff console's live events (docs/live.md): one row per change to a conversation, read
by id (the id is the Server-Sent Events id a browser resumes after). No index beside the
primary key: readers and the retention job both walk it. AUTOINCREMENT on SQLite, so that an
id is never given twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_event")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("live_event")
