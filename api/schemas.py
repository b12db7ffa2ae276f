"""The JSON answers of the API as response models, so the OpenAPI document describes them.
Each mirrors the JSON the core builds (`as_json`, `to_json`): the core formats amounts and
times, and these models carry them through unchanged."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

# The core writes amounts and times as strings (an amount with its cents, exactly; a time as
# ISO 8601 with its offset); these aliases say so in the document without re-encoding them.
Money = Annotated[
    str,
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["128.50"],
                    "description": "An exact decimal amount, with its cents"}),
]  # fmt: skip
Quantity = Annotated[
    str,
    WithJsonSchema({"type": "string", "format": "decimal", "examples": ["312.500"],
                    "description": "An exact decimal quantity (kWh)"}),
]  # fmt: skip
Day = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Out(BaseModel):
    """A response model. A key the core adds but the model does not name fails the answer
    (and so the route's tests) instead of going undocumented or silently dropped."""

    model_config = ConfigDict(extra="forbid")


# --- health ---------------------------------------------------------------------------------


class Health(Out):
    status: str


class Readiness(Out):
    status: str = Field(examples=["ready", "not ready"])
    checks: dict[str, str]  # database, migrations: "ok" or what is wrong


# --- accounts -------------------------------------------------------------------------------


class StatementBill(Out):
    bill_id: int
    period_start: Day
    period_end: Day
    total: Money
    open_amount: Money
    due_date: Day | None
    standing: str


class StatementEntry(Out):
    id: int
    kind: str
    amount: Money
    effective_on: Day
    bill_id: int | None
    related_entry_id: int | None
    actor: str
    note: str | None


class AccountStatement(Out):
    account: str
    currency: str
    balance: Money
    credit: Money
    amount_due: Money
    late_fees_open: Money
    bills: list[StatementBill]
    recent_entries: list[StatementEntry]  # newest first


class Waiver(Out):
    entry_id: int
    late_fee_entry_id: int | None
    amount: Money  # the amount waived, positive


class Waivers(Out):
    account: str
    waived: list[Waiver]


# --- readings -------------------------------------------------------------------------------


class ReadingLine(Out):
    where: str
    reason: str
    meter: str | None
    read_at: Instant | None


class ReadingsReport(Out):
    batch_id: int
    source: str
    name: str
    content_sha256: str
    actor: str
    imported_at: Instant
    already_imported: bool
    received: int
    accepted: int
    rejected: int
    flagged: int
    duplicates: int
    lines_capped_at: int
    rejected_lines: list[ReadingLine]
    flagged_lines: list[ReadingLine]
    accepted_lines: list[ReadingLine]
    duplicate_lines: list[ReadingLine]


# --- payments and refunds -------------------------------------------------------------------


class PaymentLine(Out):
    where: str
    outcome: str = Field(examples=["recorded", "flagged", "ignored", "rejected"])
    reason: str
    channel: str | None
    reference: str | None
    account_number: str | None
    amount: Money | None
    payment_id: int | None
    duplicate_of: int | None
    payer_note: str | None


class PaymentsReport(Out):
    source: str
    actor: str
    imported_at: Instant
    currency: str
    received: int
    recorded: int
    flagged: int
    ignored: int
    rejected: int
    amount_recorded: Money
    lines_capped_at: int
    recorded_lines: list[PaymentLine]
    flagged_lines: list[PaymentLine]
    ignored_lines: list[PaymentLine]
    rejected_lines: list[PaymentLine]


class RepeatedPayment(Out):
    payment_id: int
    channel: str
    provider_reference: str
    received_at: Instant


class ProbableDuplicate(Out):
    payment_id: int
    account_id: int
    account_number: str
    bill_id: int | None
    amount: Money
    currency: str
    channel: str
    provider_reference: str
    received_at: Instant
    duplicate_of: RepeatedPayment
    refund_committed: Money  # requested, approved or paid out
    refundable: Money


class ProbableDuplicates(Out):
    duplicates: list[ProbableDuplicate]


class Refund(Out):
    id: int
    payment_id: int
    account_id: int
    amount: Money
    currency: str
    reason: str
    status: str = Field(examples=["requested", "approved", "refunded", "rejected"])
    requested_by: str
    requested_at: Instant
    decided_by: str | None
    decided_at: Instant | None
    refunded_at: Instant | None
    provider_reference: str | None


class StripeEventAnswer(Out):
    received: bool
    outcome: str = Field(examples=["recorded", "duplicate", "ignored", "amount_mismatch"])


# --- the review queue -----------------------------------------------------------------------


class ReviewItem(Out):
    item_id: int
    bill_id: int
    account_number: str
    book: str | None
    rule: str
    detail: str
    status: str
    created_at: Instant
    age_days: int
    kwh: Quantity
    total: Money
    raised_by: str | None  # the reviewer whose correction raised it (a re-bill's 退补)


class ReviewItems(Out):
    items: list[ReviewItem]


class ReviewedBill(Out):
    id: int
    account_id: int
    status: str
    period_start: Day
    period_end: Day
    kwh: Quantity
    total: Money
    currency: str
    due_date: Day | None
    replaces_bill_id: int | None


class ReviewSummary(Out):
    month: str = Field(examples=["2026-11"])
    bills_held: int
    items: int
    by_rule: dict[str, dict[str, int]]  # rule → {open, approved, corrected} → count
    by_cause: dict[str, int]  # most frequent first


class ReviewCause(Out):
    code: str
    labels: dict[str, str]  # language → label


class ReviewCauses(Out):
    causes: list[ReviewCause]


# --- outbox ---------------------------------------------------------------------------------


class OutboxMessage(Out):
    id: int
    created_at: Instant
    channel: str
    recipient: str
    template: str
    kind: str
    purpose: str
    status: str
    attempts: int
    error_code: str | None
    error_detail: str  # why it went by another channel, or nowhere
    cancelled_reason: str
    customer_id: int | None
    account_id: int | None


class OutboxMessages(Out):
    items: list[OutboxMessage]
