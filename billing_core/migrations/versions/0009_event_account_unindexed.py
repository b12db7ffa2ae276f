"""domain_event.account_id: no index

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 03:40:00.000000

Every issued bill records a "bill issued" event, and each event put an entry in this index,
at a random place (accounts are billed in no particular order): 17 % of the time a bill run
spent inserting events. Nothing reads events by account (the notice job reads them by kind
and id), so it goes, like `consumed_at`'s in 0008. A feature that needs an account's events
can index them again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.drop_index("ix_domain_event_account_id")


def downgrade() -> None:
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.create_index("ix_domain_event_account_id", ["account_id"], unique=False)
