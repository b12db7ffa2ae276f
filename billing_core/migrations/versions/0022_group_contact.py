"""customer_group.contact_customer_id

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 02:00:00.000000

Group notices (集团客户合并通知): the customer who gets a group's consolidated bill notice, on
their own reachable contact. Empty: each account of the group gets its own notice, as before.
The key is added after the table (customer already points at customer_group).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_customer_group_contact_customer_id_customer"


def upgrade() -> None:
    with op.batch_alter_table("customer_group", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_customer_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(FK, "customer", ["contact_customer_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("customer_group", schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
        batch_op.drop_column("contact_customer_id")
