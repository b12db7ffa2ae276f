"""Ledger use cases: post a bill's charge (and take it back when the bill is cancelled),
record a payment exactly once, and derive an account's balance, bills and their standing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, Connection, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.fast import PendingRows, insert_pending, pending_rows
from billing_core.db.prepared import Prepared
from billing_core.dedupe_keys import charge_key, event_key, payment_key, reversal_key
from billing_core.errors import InvalidInput
from billing_core.events.service import record_events
from billing_core.ledger.model import (
    ZERO,
    Allocation,
    BillStanding,
    Entry,
    EntryKind,
    allocate,
    bill_standing,
)
from billing_core.ledger.tables import LedgerEntry
from billing_core.payments.tables import Payment

PAYMENT_RECEIVED = "payment_received"
LEDGER = table_of(LedgerEntry)
CHARGE_COLUMNS = ("account_id", "kind", "amount", "currency", "effective_on", "bill_id",
                  "dedupe_key", "actor", "note", "created_at")  # fmt: skip
CENT = Decimal("0.01")


def post_bill_charges(
    connection: Connection,
    *,
    bills: Sequence[tuple[int, int, Decimal, str, date]],
    now: datetime,
    actor: str = "bill-run",
) -> None:
    """Charge entries for issued bills, (bill id, account id, total, currency, issue date)
    each, in the caller's transaction; a bill already charged is skipped."""
    pending = pending_bill_charges(
        connection.dialect,
        bills=[(index, *bill[1:]) for index, bill in enumerate(bills)],
        now=now,
        actor=actor,
    )
    insert_pending(connection, pending, [bill[0] for bill in bills])


def pending_bill_charges(
    dialect: Dialect,
    *,
    bills: Sequence[tuple[int, int, Decimal, str, date]],
    now: datetime,
    actor: str = "bill-run",
) -> PendingRows:
    """The charge entries of bills not stored yet, (index of the bill's id among those its
    transaction reserves, account id, total, currency, issue date) each: converted ahead,
    but for the bill id and the key that holds it (`insert_pending`; a bill already
    charged is skipped)."""
    return pending_rows(
        dialect, LEDGER, CHARGE_COLUMNS,
        [(account_id, EntryKind.charge.value, total, currency, issued_on, actor, "", now)
         for _, account_id, total, currency, issued_on in bills],
        owners=[bill[0] for bill in bills],
        late={"bill_id": lambda _row, bill_id: bill_id,
              "dedupe_key": lambda _row, bill_id: charge_key(bill_id)},
        on_conflict_do_nothing=("dedupe_key",),
    )  # fmt: skip


def post_bill_charge(
    *, session: Session, clock: Clock, tz: ZoneInfo, bill: Bill, actor: str
) -> None:
    assert bill.id is not None
    post_bill_charges(
        session.connection(),
        bills=[(bill.id, bill.account_id, bill.total, bill.currency,
                clock.now().astimezone(tz).date())],
        now=clock.now(), actor=actor,
    )  # fmt: skip


def reverse_bill_charge(
    *, session: Session, clock: Clock, tz: ZoneInfo, bill: Bill, actor: str, reason: str
) -> LedgerEntry | None:
    """Take back a cancelled bill's charge (what was paid against it becomes credit that the
    re-bill consumes). None when the bill was never charged."""
    charge = session.scalars(
        select(LedgerEntry).where(col(LedgerEntry.dedupe_key) == charge_key(bill.id or 0))
    ).first()
    if charge is None:
        return None
    entry = LedgerEntry(
        account_id=bill.account_id,
        kind=EntryKind.charge_reversal,
        amount=-charge.amount,
        currency=charge.currency,
        effective_on=clock.now().astimezone(tz).date(),
        bill_id=bill.id,
        related_entry_id=charge.id,
        dedupe_key=reversal_key(bill.id or 0),
        actor=actor,
        note=reason[:300],
        created_at=clock.now(),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class RecordedPayment:
    payment: Payment
    created: bool  # False: this provider reference was recorded before; nothing changed


def record_payment(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    account_id: int,
    amount: Decimal,
    currency: str,
    channel: str,
    provider_reference: str,
    received_at: datetime,
    bill_id: int | None = None,
    pay_link_id: int | None = None,
    source: str = "",
    duplicate_window: timedelta = timedelta(hours=24),
    actor: str = "system",
) -> RecordedPayment:
    """Record money received, exactly once per (channel, provider reference), with its
    ledger entry and a `payment_received` event, in the caller's transaction.

    The same amount for the same bill from another channel within `duplicate_window` is
    recorded (the money did arrive) but flagged as a probable duplicate, for a refund."""
    if amount <= ZERO or amount != amount.quantize(CENT):
        raise InvalidInput(f"payment amount {amount} must be positive, in cents")
    if not provider_reference:
        raise InvalidInput("a payment needs the provider's reference")
    existing = _payment_by_reference(session, channel, provider_reference)
    if existing is not None:
        return RecordedPayment(existing, created=False)
    duplicate_of = None
    if bill_id is not None:
        duplicate_of = session.scalars(
            select(Payment)
            .where(
                col(Payment.bill_id) == bill_id,
                col(Payment.amount) == amount,
                col(Payment.channel) != channel,
                col(Payment.received_at) >= received_at - duplicate_window,
                col(Payment.received_at) <= received_at + duplicate_window,
            )
            .order_by(col(Payment.id))
        ).first()
    payment = Payment(
        account_id=account_id,
        channel=channel,
        provider_reference=provider_reference,
        amount=amount,
        currency=currency,
        received_at=received_at,
        bill_id=bill_id,
        pay_link_id=pay_link_id,
        source=source[:255],
        probable_duplicate_of=duplicate_of.id if duplicate_of else None,
        created_at=clock.now(),
    )
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:
        # Another request recorded the same reference a moment ago: theirs stands.
        again = _payment_by_reference(session, channel, provider_reference)
        if again is None:
            raise
        return RecordedPayment(again, created=False)
    assert payment.id is not None
    session.add(LedgerEntry(
        account_id=account_id, kind=EntryKind.payment, amount=-amount, currency=currency,
        effective_on=received_at.astimezone(tz).date(), bill_id=bill_id,
        payment_id=payment.id, dedupe_key=payment_key(payment.id), actor=actor,
        note=f"{channel} {provider_reference}"[:300], created_at=clock.now(),
    ))  # fmt: skip
    record_events(session=session, clock=clock, events=[{
        "kind": PAYMENT_RECEIVED, "dedupe_key": event_key(PAYMENT_RECEIVED, payment.id),
        "account_id": account_id,
        "payload": {"payment_id": payment.id, "amount": str(amount), "currency": currency,
                    "channel": channel, "bill_id": bill_id,
                    "probable_duplicate_of": payment.probable_duplicate_of},
    }])  # fmt: skip
    session.flush()
    return RecordedPayment(payment, created=True)


def _payment_by_reference(session: Session, channel: str, reference: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(
            col(Payment.channel) == channel, col(Payment.provider_reference) == reference
        )
    ).first()


# --- what an account stands at ------------------------------------------------------------


@dataclass(frozen=True)
class BillLine:
    bill_id: int
    period_start: date
    period_end: date
    total: Decimal
    open_amount: Decimal
    due_date: date | None
    standing: BillStanding

    def as_json(self) -> dict[str, Any]:
        return {
            "bill_id": self.bill_id,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "total": str(self.total),
            "open_amount": str(self.open_amount),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "standing": self.standing.value,
        }


@dataclass(frozen=True)
class Statement:
    """An account's position at a moment: derived from the ledger, never stored."""

    account_id: int
    currency: str
    balance: Decimal  # positive: owed; negative: in credit
    credit: Decimal
    late_fees_open: Decimal
    bills: tuple[BillLine, ...]  # issued bills, oldest first, with what is open on each

    @property
    def amount_due(self) -> Decimal:
        return max(self.balance, ZERO)

    @property
    def open_bills(self) -> tuple[BillLine, ...]:
        return tuple(b for b in self.bills if b.open_amount > ZERO)


_ENTRY_COLUMNS = (LEDGER.c.id, LEDGER.c.kind, LEDGER.c.amount, LEDGER.c.effective_on,
                  LEDGER.c.bill_id, LEDGER.c.related_entry_id)  # fmt: skip
_ACCOUNT_ID: BindParameter[int] = bindparam("account_id")
_LEDGER_ENTRIES = (
    select(*_ENTRY_COLUMNS).where(LEDGER.c.account_id == _ACCOUNT_ID).order_by(LEDGER.c.id)
)
BILLS = table_of(Bill)
# The entries and, beside each charge, its bill: one round trip for a statement.
_ENTRIES_WITH_BILLS = Prepared(
    select(*_ENTRY_COLUMNS, BILLS.c.status, BILLS.c.period_start, BILLS.c.period_end,
           BILLS.c.total, BILLS.c.due_date)
    .select_from(LEDGER.outerjoin(
        BILLS, (BILLS.c.id == LEDGER.c.bill_id) & (LEDGER.c.kind == EntryKind.charge.value)
    ))
    .where(LEDGER.c.account_id == _ACCOUNT_ID)
    .order_by(LEDGER.c.id)
)  # fmt: skip


class _BillRow(NamedTuple):
    status: str
    period_start: date
    period_end: date
    total: Decimal
    due_date: date | None


def ledger_entries(session: Session, account_id: int) -> list[Entry]:
    rows = session.execute(_LEDGER_ENTRIES, {"account_id": account_id}).all()
    return [Entry(*row) for row in rows]


def account_statement(
    *, session: Session, account_id: int, today: date, currency: str, late_fees_last: bool = True
) -> Statement:
    entries: list[Entry] = []
    bills: dict[int, _BillRow] = {}
    rows = _ENTRIES_WITH_BILLS.execute(session.connection(), {"account_id": account_id})
    for row in rows.all():
        entry = Entry(*row[:6])
        entries.append(entry)
        if entry.kind == EntryKind.charge and entry.bill_id and row[6] is not None:
            bills[entry.bill_id] = _BillRow(*row[6:])
    allocation: Allocation = allocate(entries, late_fees_last=late_fees_last)
    bill_ids = sorted({e.bill_id for e in entries if e.kind == EntryKind.charge and e.bill_id})
    lines = []
    for bill_id in bill_ids:
        bill = bills[bill_id]
        if bill.status == "cancelled":
            continue
        open_amount = sum(
            (allocation.open_by_entry.get(e.id, ZERO) for e in entries
             if e.bill_id == bill_id and e.kind in (EntryKind.charge, EntryKind.adjustment)),
            ZERO,
        )  # fmt: skip
        lines.append(BillLine(
            bill_id=bill_id, period_start=bill.period_start, period_end=bill.period_end,
            total=bill.total, open_amount=open_amount, due_date=bill.due_date,
            standing=bill_standing(total=bill.total, open_amount=open_amount,
                                   due_date=bill.due_date, today=today),
        ))  # fmt: skip
    late_open = sum(
        (allocation.open_by_entry.get(e.id, ZERO) for e in entries
         if e.kind == EntryKind.late_fee),
        ZERO,
    )  # fmt: skip
    return Statement(
        account_id=account_id,
        currency=currency,
        balance=allocation.balance,
        credit=allocation.credit,
        late_fees_open=late_open,
        bills=tuple(sorted(lines, key=lambda b: (b.period_start, b.bill_id))),
    )
