"""ledger, payments, pay links, checkout attempts, provider events, refunds, outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 17:57:23.964978
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billing_core.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "provider_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("received_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_event")),
        sa.UniqueConstraint(
            "provider", "event_id", name=op.f("uq_provider_event_provider_event_id")
        ),
    )
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("template", sa.String(length=48), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("not_before", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.String(length=500), nullable=False),
        sa.Column("cancelled_reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("delivered_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_outbox_message_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_outbox_message_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_message_dedupe_key")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_message_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_message_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index("ix_outbox_message_due", ["status", "not_before"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_message_provider_id"), ["provider_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_message_purpose"), ["purpose"], unique=False)

    op.create_table(
        "pay_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_pay_link_account_id_account")
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"], name=op.f("fk_pay_link_bill_id_bill")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_pay_link_token_hash")),
    )
    with op.batch_alter_table("pay_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pay_link_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pay_link_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index(
            "uq_pay_link_active_purpose",
            ["account_id", "purpose"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider_reference", sa.String(length=128), nullable=False),
        sa.Column(
            "amount", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=True),
        sa.Column("pay_link_id", sa.Integer(), nullable=True),
        sa.Column("probable_duplicate_of", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_payment_account_id_account")
        ),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"], name=op.f("fk_payment_bill_id_bill")),
        sa.ForeignKeyConstraint(
            ["pay_link_id"], ["pay_link.id"], name=op.f("fk_payment_pay_link_id_pay_link")
        ),
        sa.ForeignKeyConstraint(
            ["probable_duplicate_of"],
            ["payment.id"],
            name=op.f("fk_payment_probable_duplicate_of_payment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment")),
        sa.UniqueConstraint(
            "channel", "provider_reference", name=op.f("uq_payment_channel_provider_reference")
        ),
    )
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_pay_link_id"), ["pay_link_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_payment_probable_duplicate_of"), ["probable_duplicate_of"], unique=False
        )

    op.create_table(
        "checkout_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pay_link_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_session_id", sa.String(length=255), nullable=True),
        sa.Column(
            "amount", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pay_link_id"], ["pay_link.id"], name=op.f("fk_checkout_attempt_pay_link_id_pay_link")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_checkout_attempt_payment_id_payment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_attempt")),
        sa.UniqueConstraint(
            "provider",
            "provider_session_id",
            name=op.f("uq_checkout_attempt_provider_provider_session_id"),
        ),
    )
    with op.batch_alter_table("checkout_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkout_attempt_pay_link_id"), ["pay_link_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_checkout_attempt_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "amount", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("refunded_at", billing_core.db.types.UTCDateTime(), nullable=True),
        sa.Column("provider_reference", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_refund_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_refund_payment_id_payment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund")),
    )
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_payment_id"), ["payment_id"], unique=False)

    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column(
            "amount", billing_core.db.types.DecimalType(scale=2, precision=18), nullable=False
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("bill_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("related_entry_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", billing_core.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_ledger_entry_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"], ["bill.id"], name=op.f("fk_ledger_entry_bill_id_bill")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_ledger_entry_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refund.id"], name=op.f("fk_ledger_entry_refund_id_refund")
        ),
        sa.ForeignKeyConstraint(
            ["related_entry_id"],
            ["ledger_entry.id"],
            name=op.f("fk_ledger_entry_related_entry_id_ledger_entry"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entry")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_ledger_entry_dedupe_key")),
    )
    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_entry_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_entry_bill_id"), ["bill_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entry_payment_id"), ["payment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_ledger_entry_refund_id"), ["refund_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entry_related_entry_id"), ["related_entry_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entry_related_entry_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_refund_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_payment_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_bill_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_entry_account_id"))

    op.drop_table("ledger_entry")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_payment_id"))
        batch_op.drop_index(batch_op.f("ix_refund_account_id"))

    op.drop_table("refund")
    with op.batch_alter_table("checkout_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_attempt_payment_id"))
        batch_op.drop_index(batch_op.f("ix_checkout_attempt_pay_link_id"))

    op.drop_table("checkout_attempt")
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_probable_duplicate_of"))
        batch_op.drop_index(batch_op.f("ix_payment_pay_link_id"))
        batch_op.drop_index(batch_op.f("ix_payment_bill_id"))
        batch_op.drop_index(batch_op.f("ix_payment_account_id"))

    op.drop_table("payment")
    with op.batch_alter_table("pay_link", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_pay_link_active_purpose",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_pay_link_bill_id"))
        batch_op.drop_index(batch_op.f("ix_pay_link_account_id"))

    op.drop_table("pay_link")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_purpose"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_provider_id"))
        batch_op.drop_index("ix_outbox_message_due")
        batch_op.drop_index(batch_op.f("ix_outbox_message_customer_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_account_id"))

    op.drop_table("outbox_message")
    op.drop_table("provider_event")
