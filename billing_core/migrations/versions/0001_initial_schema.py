"""initial schema: customers, accounts, meters, readings, contacts, staff, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-26 17:14:52.679704
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_entity_id"), ["entity_id"], unique=False)

    op.create_table(
        "customer_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("consolidated_notice", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_group")),
        sa.UniqueConstraint("code", name=op.f("uq_customer_group_code")),
    )
    op.create_table(
        "reading_book",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reading_day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_book")),
        sa.UniqueConstraint("code", name=op.f("uq_reading_book_code")),
    )
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_user_username")),
    )
    op.create_table(
        "customer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("household_size", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["customer_group.id"], name=op.f("fk_customer_group_id_customer_group")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer")),
    )
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_group_id"), ["group_id"], unique=False)

    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("service_address", sa.String(length=300), nullable=False),
        sa.Column("reading_book_id", sa.Integer(), nullable=True),
        sa.Column("reading_day", sa.Integer(), nullable=False),
        sa.Column("billing_cycle_months", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_terms_days", sa.Integer(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_account_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["reading_book_id"],
            ["reading_book.id"],
            name=op.f("fk_account_reading_book_id_reading_book"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("number", name=op.f("uq_account_number")),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_account_reading_book_id"), ["reading_book_id"], unique=False
        )

    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("verified_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("notify", sa.Boolean(), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("opted_out_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("allowed_from", sa.Time(), nullable=False),
        sa.Column("allowed_until", sa.Time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_contact_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint(
            "customer_id", "channel", "address", name=op.f("uq_contact_customer_id_channel_address")
        ),
    )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_address"), ["address"], unique=False)
        batch_op.create_index(batch_op.f("ix_contact_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "customer_sensitivity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_sensitivity_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_sensitivity")),
    )
    with op.batch_alter_table("customer_sensitivity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_sensitivity_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "meter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "multiplier", billing_core.db.types.DecimalType(scale=4, precision=18), nullable=False
        ),
        sa.Column("digits", sa.Integer(), nullable=False),
        sa.Column("tou", sa.Boolean(), nullable=False),
        sa.Column("parent_meter_id", sa.Integer(), nullable=True),
        sa.Column("installed_on", sa.Date(), nullable=False),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column(
            "initial_total",
            billing_core.db.types.DecimalType(scale=3, precision=18),
            nullable=False,
        ),
        sa.Column(
            "initial_peak", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=True
        ),
        sa.Column(
            "initial_flat", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=True
        ),
        sa.Column(
            "initial_valley",
            billing_core.db.types.DecimalType(scale=3, precision=18),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_meter_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["parent_meter_id"], ["meter.id"], name=op.f("fk_meter_parent_meter_id_meter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter")),
        sa.UniqueConstraint("serial", name=op.f("uq_meter_serial")),
    )
    with op.batch_alter_table("meter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meter_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_meter_parent_meter_id"), ["parent_meter_id"], unique=False
        )

    op.create_table(
        "tariff_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("tariff_code", sa.String(length=64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_tariff_assignment_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_assignment")),
        sa.UniqueConstraint(
            "account_id",
            "effective_from",
            name=op.f("uq_tariff_assignment_account_id_effective_from"),
        ),
    )
    with op.batch_alter_table("tariff_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tariff_assignment_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "meter_reading",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("read_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column(
            "total", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=False
        ),
        sa.Column("peak", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=True),
        sa.Column("flat", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=True),
        sa.Column(
            "valley", billing_core.db.types.DecimalType(scale=3, precision=18), nullable=True
        ),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reader_id", sa.String(length=32), nullable=True),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meter.id"], name=op.f("fk_meter_reading_meter_id_meter")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_reading")),
        sa.UniqueConstraint("meter_id", "read_at", name=op.f("uq_meter_reading_meter_id_read_at")),
    )


def downgrade() -> None:

    op.drop_table("meter_reading")
    with op.batch_alter_table("tariff_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tariff_assignment_account_id"))

    op.drop_table("tariff_assignment")
    with op.batch_alter_table("meter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meter_parent_meter_id"))
        batch_op.drop_index(batch_op.f("ix_meter_account_id"))

    op.drop_table("meter")
    with op.batch_alter_table("customer_sensitivity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_sensitivity_customer_id"))

    op.drop_table("customer_sensitivity")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_customer_id"))
        batch_op.drop_index(batch_op.f("ix_contact_address"))

    op.drop_table("contact")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_reading_book_id"))
        batch_op.drop_index(batch_op.f("ix_account_customer_id"))

    op.drop_table("account")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_group_id"))

    op.drop_table("customer")
    op.drop_table("staff_user")
    op.drop_table("reading_book")
    op.drop_table("customer_group")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_entity_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
