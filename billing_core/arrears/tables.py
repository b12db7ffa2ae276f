"""SQLModel tables of the arrears ladder's operational half (docs/arrears.md, "Cases,
arrangements, disputes, orders"): a case per account episode and every step decided on it,
payment arrangements and their instalments, disputes, call and review tasks for agents,
disconnection work orders (a person approves them; wattdesk never cuts supply) and
reconnection orders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant, money, quantity

_OPEN = text("status = 'open'")


class ArrearsCase(SQLModel, table=True):
    """One account's arrears episode: opened when a bill is overdue and unpaid, closed when
    nothing overdue is left (paid in full) or by staff. `stage` is the last ladder step
    taken; `resumed_on` the day the ladder resumed after a missed instalment or a closed
    dispute (the ladder's days count from it)."""

    __tablename__ = "arrears_case"
    __table_args__ = (
        # One open case per account: the daily job opening cases twice opens one.
        Index(
            "uq_arrears_case_open_account",
            "account_id",
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index("ix_arrears_case_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    status: str = Field(default="open", max_length=16)  # open, closed
    stage: str = Field(default="opened", max_length=48)  # the last step taken
    ladder: str = Field(default="standard", max_length=16)  # standard, lenient
    oldest_due: date  # the oldest overdue bill's due date when last looked at
    amount_owed: Decimal = Field(sa_column=money())  # everything open, when last looked at
    resumed_on: date | None = None
    opened_at: datetime = Field(sa_column=instant())
    closed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    closed_reason: str = Field(default="", max_length=200)


class ArrearsStep(SQLModel, table=True):
    """A ladder decision recorded on a case: a step taken or skipped, its reason and time.
    `dedupe_key` makes a step once per case (a job run twice records it once)."""

    __tablename__ = "arrears_step"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=foreign_key("arrears_case.id"))
    step: str = Field(max_length=48)
    taken: bool
    reason: str = Field(max_length=48)
    detail: str = Field(default="", max_length=500)
    at: datetime = Field(sa_column=instant())
    # When its message may go (held for message hours); the planned disconnection time on
    # the formal notice and the work order.
    earliest_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    planned_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    outbox_key: str | None = Field(default=None, max_length=160)
    dedupe_key: str = Field(max_length=160, unique=True)


class PaymentArrangement(SQLModel, table=True):
    """A payment arrangement (缓缴/分期): requested by the customer (the conversation's
    `arrangement` intent) or created by collections staff with instalments. While it is
    `requested` or `active` the ladder stops; a missed instalment makes it `missed` and the
    ladder resumes."""

    __tablename__ = "payment_arrangement"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    case_id: int | None = Field(
        default=None, sa_column=foreign_key("arrears_case.id", nullable=True)
    )
    # requested, active, completed, missed, declined
    status: str = Field(max_length=16, index=True)
    source: str = Field(max_length=16)  # customer, staff
    customer_request_id: int | None = Field(
        default=None, sa_column=foreign_key("customer_request.id", nullable=True, index=False)
    )
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=instant())
    created_by: str = Field(max_length=100)
    closed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    closed_reason: str = Field(default="", max_length=300)


class Instalment(SQLModel, table=True):
    __tablename__ = "arrangement_instalment"
    __table_args__ = (UniqueConstraint("arrangement_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    arrangement_id: int = Field(sa_column=foreign_key("payment_arrangement.id", index=False))
    seq: int
    due_on: date = Field(index=True)
    amount: Decimal = Field(sa_column=money())
    status: str = Field(default="due", max_length=16)  # due, paid, missed
    settled_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))


class Dispute(SQLModel, table=True):
    """A customer disputing a bill (or the debt): opened by the customer or staff, closed by
    staff with a reason. While one is open the ladder stops."""

    __tablename__ = "arrears_dispute"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=foreign_key("account.id"))
    case_id: int | None = Field(
        default=None, sa_column=foreign_key("arrears_case.id", nullable=True)
    )
    bill_id: int | None = Field(
        default=None, sa_column=foreign_key("bill.id", nullable=True, index=False)
    )
    status: str = Field(default="open", max_length=16, index=True)  # open, closed
    source: str = Field(max_length=16)  # customer, staff
    customer_request_id: int | None = Field(
        default=None, sa_column=foreign_key("customer_request.id", nullable=True, index=False)
    )
    body: str = Field(sa_column=Column(Text, nullable=False))
    opened_at: datetime = Field(sa_column=instant())
    opened_by: str = Field(max_length=100)
    closed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    closed_by: str | None = Field(default=None, max_length=100)
    closed_reason: str = Field(default="", max_length=300)


class ArrearsTask(SQLModel, table=True):
    """Work for a person in the console: `call` (the ladder's call task: an agent calls the
    customer) or `review` (a person decides: a sensitive customer, the lenient ladder's end,
    an approval that breaks a rule …). One per ladder step (its `dedupe_key`)."""

    __tablename__ = "arrears_task"
    __table_args__ = (Index("ix_arrears_task_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=foreign_key("arrears_case.id"))
    account_id: int = Field(sa_column=foreign_key("account.id", index=False))
    kind: str = Field(max_length=16)  # call, review
    reason: str = Field(max_length=48)
    detail: str = Field(default="", max_length=500)
    status: str = Field(default="open", max_length=16)  # open, done, closed (the ladder stopped)
    created_at: datetime = Field(sa_column=instant())
    completed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    completed_by: str | None = Field(default=None, max_length=100)
    outcome: str = Field(default="", max_length=500)
    dedupe_key: str = Field(max_length=160, unique=True)


class DisconnectionOrder(SQLModel, table=True):
    """A disconnection work order: `proposed` by the ladder with the planned time, then
    `approved` (for a time inside the humane windows) or `rejected` by a collections person
    with the reason; `executed` when the field crew reports supply cut; `cancelled` when the
    ladder stops (payment, arrangement, dispute). wattdesk never cuts supply itself."""

    __tablename__ = "disconnection_order"
    __table_args__ = (Index("ix_disconnection_order_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=foreign_key("arrears_case.id"))
    account_id: int = Field(sa_column=foreign_key("account.id", index=False))
    status: str = Field(default="proposed", max_length=16)
    planned_at: datetime = Field(sa_column=instant())
    approved_for: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    decided_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    decided_by: str | None = Field(default=None, max_length=100)
    decision_reason: str = Field(default="", max_length=300)
    executed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    created_at: datetime = Field(sa_column=instant())
    dedupe_key: str = Field(max_length=160, unique=True)


class ReconnectionOrder(SQLModel, table=True):
    """Raised at once when a disconnected (or approved) account pays or agrees an
    arrangement; the target is the end of the same working day. One per work order."""

    __tablename__ = "reconnection_order"
    __table_args__ = (
        Index("ix_reconnection_order_status_id", "status", "id"),
        UniqueConstraint("disconnection_order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=foreign_key("arrears_case.id"))
    account_id: int = Field(sa_column=foreign_key("account.id", index=False))
    disconnection_order_id: int = Field(
        sa_column=foreign_key("disconnection_order.id", index=False)
    )
    reason: str = Field(max_length=200)
    status: str = Field(default="open", max_length=16)  # open, done
    raised_at: datetime = Field(sa_column=instant())
    target_at: datetime = Field(sa_column=instant())
    completed_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    completed_by: str | None = Field(default=None, max_length=100)


class ForecastDay(SQLModel, table=True):
    """One day of an imported daily weather forecast (the utility's region), in °C: a day
    whose high or low reaches the ladder policy's `sensitive.temperature` limits is treated
    as a sensitive period (no disconnection planned or approved then). Imported again, a day
    is replaced (one row per day)."""

    __tablename__ = "arrears_forecast_day"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True, index=True)
    low_c: Decimal = Field(sa_column=quantity(1))
    high_c: Decimal = Field(sa_column=quantity(1))
    source: str = Field(default="", max_length=200)  # the file's name, or "api"
    imported_at: datetime = Field(sa_column=instant())
    imported_by: str = Field(default="", max_length=100)
