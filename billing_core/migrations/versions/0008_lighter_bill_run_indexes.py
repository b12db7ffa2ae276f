"""bill, ledger_entry, domain_event: indexes a bill run no longer writes for nothing

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 03:40:00.000000

A bill run stores, per issued bill, the bill, its lines, a "bill issued" event and a ledger
charge. Four indexes took an entry for every one of those rows though the column was NULL
in nearly all of them: bill.replaces_bill_id (only a re-bill has one) and the ledger's
payment_id, refund_id and related_entry_id (a charge has none of them). They now index only
the rows where the column is set (partial indexes), which is all a lookup by that value,
or the foreign key's check, reads. domain_event.consumed_at loses its index: nothing reads
events by it (the notice job reads them by kind and id).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE_SET = {
    "bill": ["replaces_bill_id"],
    "ledger_entry": ["payment_id", "refund_id", "related_entry_id"],
}


def upgrade() -> None:
    for table, columns in WHERE_SET.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                where = sa.text(f"{column} IS NOT NULL")
                batch_op.drop_index(f"ix_{table}_{column}")
                batch_op.create_index(
                    f"ix_{table}_{column}", [column], unique=False,
                    sqlite_where=where, postgresql_where=where,
                )  # fmt: skip
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.drop_index("ix_domain_event_consumed_at")


def downgrade() -> None:
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.create_index("ix_domain_event_consumed_at", ["consumed_at"], unique=False)
    for table, columns in WHERE_SET.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(f"ix_{table}_{column}")
                batch_op.create_index(f"ix_{table}_{column}", [column], unique=False)
