"""Every table, imported once so SQLModel's metadata (and Alembic) sees the whole schema."""

from sqlmodel import SQLModel

from billing_core.arrears.tables import (
    ArrearsCase,
    ArrearsStep,
    ArrearsTask,
    DisconnectionOrder,
    Dispute,
    ForecastDay,
    Instalment,
    PaymentArrangement,
    ReconnectionOrder,
)
from billing_core.audit.tables import AuditEntry
from billing_core.bills.run.tables import MissedReading, ScheduledBillRun
from billing_core.bills.tables import Bill, BillLine, BillRun, ReviewItem
from billing_core.conversations.tables import VerificationCode
from billing_core.customers.tables import (
    Account,
    BusinessChange,
    Contact,
    Customer,
    CustomerGroup,
    CustomerSensitivity,
    TariffAssignment,
)
from billing_core.events.tables import DomainEvent
from billing_core.health.tables import DeliveryTally
from billing_core.ledger.tables import LedgerEntry
from billing_core.live.tables import LiveEvent
from billing_core.outbox.tables import OptOut, OutboxMessage
from billing_core.payments.tables import CheckoutAttempt, PayLink, Payment, ProviderEvent, Refund
from billing_core.readings.tables import (
    Meter,
    MeterReading,
    ReadingBatch,
    ReadingBook,
    ReadingDayChange,
    ReadingPlan,
)
from billing_core.staff.tables import StaffSession, StaffToken, StaffUser
from billing_core.transcripts.tables import (
    Conversation,
    ConversationMessage,
    ConversationNote,
    ConversationRead,
)

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "ArrearsCase",
    "ArrearsStep",
    "ArrearsTask",
    "AuditEntry",
    "Bill",
    "BillLine",
    "BillRun",
    "BusinessChange",
    "CheckoutAttempt",
    "Contact",
    "Conversation",
    "ConversationMessage",
    "ConversationNote",
    "ConversationRead",
    "Customer",
    "CustomerGroup",
    "CustomerSensitivity",
    "DeliveryTally",
    "DisconnectionOrder",
    "Dispute",
    "DomainEvent",
    "ForecastDay",
    "Instalment",
    "LedgerEntry",
    "LiveEvent",
    "Meter",
    "MeterReading",
    "MissedReading",
    "OptOut",
    "OutboxMessage",
    "PayLink",
    "Payment",
    "PaymentArrangement",
    "ProviderEvent",
    "ReadingBatch",
    "ReadingBook",
    "ReadingDayChange",
    "ReadingPlan",
    "ReconnectionOrder",
    "Refund",
    "ReviewItem",
    "ScheduledBillRun",
    "StaffSession",
    "StaffToken",
    "StaffUser",
    "TariffAssignment",
    "VerificationCode",
    "metadata",
]
