"""customer_request; conversation.queued_at

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 18:00:00.000000

What customers ask a person for in a conversation (a payment arrangement, a dispute, a
report of no power) is recorded as a `customer_request`; a conversation in the agents'
queue keeps when it went there, so that one nobody takes goes back to the bot.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_customer_request_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_request_customer_id_customer"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_customer_request_conversation_id_conversation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_request")),
    )
    with op.batch_alter_table("customer_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_request_account_id"), ["account_id"], unique=False
        )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("queued_at", billing_core.db.types.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("queued_at")
    with op.batch_alter_table("customer_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_request_account_id"))
    op.drop_table("customer_request")
