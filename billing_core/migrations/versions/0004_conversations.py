"""conversations, messages, verification codes, opt-outs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 18:25:36.711266
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "opt_out",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opt_out")),
        sa.UniqueConstraint("channel", "address", name=op.f("uq_opt_out_channel_address")),
    )
    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("selected_account_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("agent_username", sa.String(length=64), nullable=True),
        sa.Column("unrecognised_streak", sa.Integer(), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("last_message_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_conversation_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["selected_account_id"],
            ["account.id"],
            name=op.f("fk_conversation_selected_account_id_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
        sa.UniqueConstraint("channel", "address", name=op.f("uq_conversation_channel_address")),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_last_message_at"), ["last_message_at"], unique=False
        )

    op.create_table(
        "verification_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("sent_to", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("used_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_verification_code_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_code")),
    )
    with op.batch_alter_table("verification_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_code_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_verification_code_address"), ["address"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_verification_code_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "conversation_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=24), nullable=True),
        sa.Column("provider_message_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("agent_username", sa.String(length=64), nullable=True),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_message_conversation_id_conversation"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox_message.id"],
            name=op.f("fk_conversation_message_outbox_message_id_outbox_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_message")),
        sa.UniqueConstraint(
            "channel",
            "provider_message_id",
            name=op.f("uq_conversation_message_channel_provider_message_id"),
        ),
    )
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_message_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_message_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_message_created_at"))
        batch_op.drop_index(batch_op.f("ix_conversation_message_conversation_id"))

    op.drop_table("conversation_message")
    with op.batch_alter_table("verification_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_code_created_at"))
        batch_op.drop_index(batch_op.f("ix_verification_code_address"))
        batch_op.drop_index(batch_op.f("ix_verification_code_account_id"))

    op.drop_table("verification_code")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_last_message_at"))
        batch_op.drop_index(batch_op.f("ix_conversation_customer_id"))

    op.drop_table("conversation")
    op.drop_table("opt_out")
