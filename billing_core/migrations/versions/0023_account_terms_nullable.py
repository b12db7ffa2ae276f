"""account.payment_terms_days nullable: empty means the policy's terms for the customer's kind

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 02:40:00.000000

Until now every account carried 15 days (the column's default), and an account with exactly
15 followed policies/payment_terms.yaml for its kind while any other value was the account's
own terms: an account that had agreed 15 days could not be told from one that never agreed
anything. Now an empty column means "the policy's terms for the kind" and a number is always
the account's own. The accounts holding the old default, 15, are emptied: that is what the
rule made of them already, so no due date changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_DEFAULT = 15


def upgrade() -> None:
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.alter_column("payment_terms_days", existing_type=sa.Integer(), nullable=True)
    op.execute(
        sa.text(
            "UPDATE account SET payment_terms_days = NULL WHERE payment_terms_days = :days"
        ).bindparams(days=OLD_DEFAULT)
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE account SET payment_terms_days = :days WHERE payment_terms_days IS NULL"
        ).bindparams(days=OLD_DEFAULT)
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.alter_column("payment_terms_days", existing_type=sa.Integer(), nullable=False)
