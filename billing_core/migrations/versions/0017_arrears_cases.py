"""arrears_cases

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 23:01:59.669754

The arrears ladder's operational tables (docs/arrears.md): a case per account episode (one
open per account, a partial unique index) and its steps (each once, by its dedupe key),
payment arrangements and their instalments, disputes, call and review tasks, disconnection
work orders and reconnection orders (one per work order).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "arrears_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=48), nullable=False),
        sa.Column("ladder", sa.String(length=16), nullable=False),
        sa.Column("oldest_due", sa.Date(), nullable=False),
        sa.Column(
            "amount_owed", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("resumed_on", sa.Date(), nullable=True),
        sa.Column("opened_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_arrears_case_account_id_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrears_case")),
    )
    with op.batch_alter_table("arrears_case", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_arrears_case_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index("ix_arrears_case_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "uq_arrears_case_open_account",
            ["account_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "arrears_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=48), nullable=False),
        sa.Column("taken", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("earliest_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("planned_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("outbox_key", sa.String(length=160), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["arrears_case.id"], name=op.f("fk_arrears_step_case_id_arrears_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrears_step")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_arrears_step_dedupe_key")),
    )
    with op.batch_alter_table("arrears_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_arrears_step_case_id"), ["case_id"], unique=False)

    op.create_table(
        "arrears_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("completed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("completed_by", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=500), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_arrears_task_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["arrears_case.id"], name=op.f("fk_arrears_task_case_id_arrears_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrears_task")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_arrears_task_dedupe_key")),
    )
    with op.batch_alter_table("arrears_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_arrears_task_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_arrears_task_status_id", ["status", "id"], unique=False)

    op.create_table(
        "disconnection_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("approved_for", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("decided_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decision_reason", sa.String(length=300), nullable=False),
        sa.Column("executed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_disconnection_order_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["arrears_case.id"],
            name=op.f("fk_disconnection_order_case_id_arrears_case"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disconnection_order")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_disconnection_order_dedupe_key")),
    )
    with op.batch_alter_table("disconnection_order", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disconnection_order_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index("ix_disconnection_order_status_id", ["status", "id"], unique=False)

    op.create_table(
        "payment_arrangement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("customer_request_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("closed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_payment_arrangement_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["arrears_case.id"],
            name=op.f("fk_payment_arrangement_case_id_arrears_case"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_request_id"],
            ["customer_request.id"],
            name=op.f("fk_payment_arrangement_customer_request_id_customer_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_arrangement")),
    )
    with op.batch_alter_table("payment_arrangement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_arrangement_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payment_arrangement_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payment_arrangement_status"), ["status"], unique=False)

    op.create_table(
        "reconnection_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("disconnection_order_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raised_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("target_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("completed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("completed_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_reconnection_order_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["arrears_case.id"],
            name=op.f("fk_reconnection_order_case_id_arrears_case"),
        ),
        sa.ForeignKeyConstraint(
            ["disconnection_order_id"],
            ["disconnection_order.id"],
            name=op.f("fk_reconnection_order_disconnection_order_id_disconnection_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconnection_order")),
        sa.UniqueConstraint(
            "disconnection_order_id", name=op.f("uq_reconnection_order_disconnection_order_id")
        ),
    )
    with op.batch_alter_table("reconnection_order", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconnection_order_case_id"), ["case_id"], unique=False
        )
        batch_op.create_index("ix_reconnection_order_status_id", ["status", "id"], unique=False)

    op.create_table(
        "arrangement_instalment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("arrangement_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "amount", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["arrangement_id"],
            ["payment_arrangement.id"],
            name=op.f("fk_arrangement_instalment_arrangement_id_payment_arrangement"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrangement_instalment")),
        sa.UniqueConstraint(
            "arrangement_id", "seq", name=op.f("uq_arrangement_instalment_arrangement_id_seq")
        ),
    )
    with op.batch_alter_table("arrangement_instalment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_arrangement_instalment_due_on"), ["due_on"], unique=False
        )

    op.create_table(
        "arrears_dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("bill_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("customer_request_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("opened_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("closed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_arrears_dispute_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bill.id"], name=op.f("fk_arrears_dispute_bill_id_bill")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["arrears_case.id"], name=op.f("fk_arrears_dispute_case_id_arrears_case")
        ),
        sa.ForeignKeyConstraint(
            ["customer_request_id"],
            ["customer_request.id"],
            name=op.f("fk_arrears_dispute_customer_request_id_customer_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arrears_dispute")),
    )
    with op.batch_alter_table("arrears_dispute", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_arrears_dispute_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_arrears_dispute_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_arrears_dispute_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("arrears_dispute", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arrears_dispute_status"))
        batch_op.drop_index(batch_op.f("ix_arrears_dispute_case_id"))
        batch_op.drop_index(batch_op.f("ix_arrears_dispute_account_id"))

    op.drop_table("arrears_dispute")
    with op.batch_alter_table("arrangement_instalment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arrangement_instalment_due_on"))

    op.drop_table("arrangement_instalment")
    with op.batch_alter_table("reconnection_order", schema=None) as batch_op:
        batch_op.drop_index("ix_reconnection_order_status_id")
        batch_op.drop_index(batch_op.f("ix_reconnection_order_case_id"))

    op.drop_table("reconnection_order")
    with op.batch_alter_table("payment_arrangement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_arrangement_status"))
        batch_op.drop_index(batch_op.f("ix_payment_arrangement_case_id"))
        batch_op.drop_index(batch_op.f("ix_payment_arrangement_account_id"))

    op.drop_table("payment_arrangement")
    with op.batch_alter_table("disconnection_order", schema=None) as batch_op:
        batch_op.drop_index("ix_disconnection_order_status_id")
        batch_op.drop_index(batch_op.f("ix_disconnection_order_case_id"))

    op.drop_table("disconnection_order")
    with op.batch_alter_table("arrears_task", schema=None) as batch_op:
        batch_op.drop_index("ix_arrears_task_status_id")
        batch_op.drop_index(batch_op.f("ix_arrears_task_case_id"))

    op.drop_table("arrears_task")
    with op.batch_alter_table("arrears_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_arrears_step_case_id"))

    op.drop_table("arrears_step")
    with op.batch_alter_table("arrears_case", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_arrears_case_open_account",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index("ix_arrears_case_status_id")
        batch_op.drop_index(batch_op.f("ix_arrears_case_account_id"))

    op.drop_table("arrears_case")
