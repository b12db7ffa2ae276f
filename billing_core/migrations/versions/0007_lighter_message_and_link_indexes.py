"""conversation_message and pay_link: indexes an SMS answer no longer writes for nothing

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 00:50:00.000000

Answering a BILL by SMS writes two conversation messages and a pay link. Two of the indexes
it wrote were read by nothing: conversation_message.created_at (messages are read by
conversation) and, for the balance links that are most of them, pay_link.bill_id (every
balance link put one more NULL in it). The first goes; the second keeps the links for a
bill only (a partial index, which a lookup by bill, or the foreign key's check when a bill
is deleted, still uses).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOR_A_BILL = sa.text("bill_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_message_created_at")
    with op.batch_alter_table("pay_link", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_link_bill_id")
        batch_op.create_index(
            "ix_pay_link_bill_id", ["bill_id"], unique=False,
            sqlite_where=FOR_A_BILL, postgresql_where=FOR_A_BILL,
        )  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("pay_link", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_link_bill_id")
        batch_op.create_index("ix_pay_link_bill_id", ["bill_id"], unique=False)
    with op.batch_alter_table("conversation_message", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_message_created_at", ["created_at"], unique=False)
