"""bills, review items, bill runs, reading batches, business changes, domain events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 17:19:37.612095
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "bill_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("book_code", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("in_review", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_run")),
    )
    op.create_table(
        "domain_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("consumed_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_event")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_domain_event_dedupe_key")),
    )
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_domain_event_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_domain_event_consumed_at"), ["consumed_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_domain_event_kind"), ["kind"], unique=False)

    op.create_table(
        "reading_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("imported_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_batch")),
        sa.UniqueConstraint("content_sha256", name=op.f("uq_reading_batch_content_sha256")),
    )
    op.create_table(
        "business_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_business_change_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_change")),
    )
    with op.batch_alter_table("business_change", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_business_change_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "bill",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kwh", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=False),
        sa.Column(
            "total", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("issued_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("prev_reading_id", sa.Integer(), nullable=True),
        sa.Column("curr_reading_id", sa.Integer(), nullable=True),
        sa.Column("bill_run_id", sa.Integer(), nullable=True),
        sa.Column("replaces_bill_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("cancel_reason", sa.String(length=300), nullable=True),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_bill_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["bill_run_id"], ["bill_run.id"], name=op.f("fk_bill_bill_run_id_bill_run")
        ),
        sa.ForeignKeyConstraint(
            ["curr_reading_id"],
            ["meter_reading.id"],
            name=op.f("fk_bill_curr_reading_id_meter_reading"),
        ),
        sa.ForeignKeyConstraint(
            ["prev_reading_id"],
            ["meter_reading.id"],
            name=op.f("fk_bill_prev_reading_id_meter_reading"),
        ),
        sa.ForeignKeyConstraint(
            ["replaces_bill_id"], ["bill.id"], name=op.f("fk_bill_replaces_bill_id_bill")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill")),
    )
    with op.batch_alter_table("bill", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bill_bill_run_id"), ["bill_run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_bill_replaces_bill_id"), ["replaces_bill_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bill_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_bill_live_period",
            ["account_id", "period_start"],
            unique=True,
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        )

    op.create_table(
        "bill_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("component", sa.String(length=64), nullable=False),
        sa.Column(
            "quantity", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=False
        ),
        sa.Column(
            "unit_price", billing_core.db.types.DecimalType(scale=6, precision=18), nullable=False
        ),
        sa.Column(
            "amount", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bill.id"], name=op.f("fk_bill_line_bill_id_bill"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_line")),
    )
    with op.batch_alter_table("bill_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_line_bill_id"), ["bill_id"], unique=False)

    op.create_table(
        "review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bill.id"], name=op.f("fk_review_item_bill_id_bill"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_item")),
        sa.UniqueConstraint("bill_id", "rule", name=op.f("uq_review_item_bill_id_rule")),
    )
    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_item_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_item_rule"), ["rule"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_item_status"), ["status"], unique=False)

    with op.batch_alter_table("meter_reading", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reactive", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=True
            )
        )
        batch_op.add_column(sa.Column("batch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_meter_reading_batch_id_reading_batch"),
            "reading_batch",
            ["batch_id"],
            ["id"],
        )


def downgrade() -> None:

    with op.batch_alter_table("meter_reading", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_meter_reading_batch_id_reading_batch"), type_="foreignkey"
        )
        batch_op.drop_column("batch_id")
        batch_op.drop_column("reactive")

    with op.batch_alter_table("review_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_item_status"))
        batch_op.drop_index(batch_op.f("ix_review_item_rule"))
        batch_op.drop_index(batch_op.f("ix_review_item_bill_id"))

    op.drop_table("review_item")
    with op.batch_alter_table("bill_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bill_line_bill_id"))

    op.drop_table("bill_line")
    with op.batch_alter_table("bill", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_bill_live_period",
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        )
        batch_op.drop_index(batch_op.f("ix_bill_status"))
        batch_op.drop_index(batch_op.f("ix_bill_replaces_bill_id"))
        batch_op.drop_index(batch_op.f("ix_bill_bill_run_id"))
        batch_op.drop_index(batch_op.f("ix_bill_account_id"))

    op.drop_table("bill")
    with op.batch_alter_table("business_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_business_change_account_id"))

    op.drop_table("business_change")
    op.drop_table("reading_batch")
    with op.batch_alter_table("domain_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_event_kind"))
        batch_op.drop_index(batch_op.f("ix_domain_event_consumed_at"))
        batch_op.drop_index(batch_op.f("ix_domain_event_account_id"))

    op.drop_table("domain_event")
    op.drop_table("bill_run")
