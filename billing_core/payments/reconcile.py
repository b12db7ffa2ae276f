"""Reconciling payments from other channels (a bank file, a counter's day, an API batch) into
the ledger: each acceptable line becomes a payment through `accept_payment`, so receipts,
finished links and cancelled reminders follow as for any payment; a reference already
recorded changes nothing and is reported; probable duplicates are recorded and flagged."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.audit.service import record_change
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.customers.tables import Account
from billing_core.payments.importing import ParsedPayment, ParsedPayments
from billing_core.payments.service import PaymentContext, accept_payment
from billing_core.payments.tables import Payment

# The report keeps at most this many lines per list; the counts are always exact.
REPORT_LINES_CAP = 1000
# IN lists are sent in chunks, well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
_ZERO = Decimal(0)

RECORDED = "recorded"
FLAGGED = "flagged"  # recorded, and a probable duplicate of another payment
IGNORED = "ignored"  # the reference was already recorded: nothing changed
REJECTED = "rejected"


@dataclass(frozen=True)
class PaymentLine:
    """One line (or item) of the report: where it was, what became of it, and why."""

    where: str
    outcome: str  # recorded, flagged, ignored, rejected
    reason: str = ""
    channel: str | None = None
    reference: str | None = None
    account_number: str | None = None
    amount: Decimal | None = None
    payment_id: int | None = None  # the payment recorded, or the one already recorded
    duplicate_of: int | None = None  # flagged: the other payment
    payer_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "outcome": self.outcome,
            "reason": self.reason,
            "channel": self.channel,
            "reference": self.reference,
            "account_number": self.account_number,
            "amount": str(self.amount) if self.amount is not None else None,
            "payment_id": self.payment_id,
            "duplicate_of": self.duplicate_of,
            "payer_note": self.payer_note,
        }

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.reason else self.where


@dataclass(frozen=True)
class PaymentImportReport:
    """What an import did. `recorded` counts every new payment, flagged ones included;
    `ignored` lines named a reference already recorded. The line lists keep the file's order
    and are capped at REPORT_LINES_CAP; the counts and the amount are exact."""

    source: str
    actor: str
    imported_at: datetime
    currency: str
    received: int
    recorded: int
    flagged: int
    ignored: int
    rejected: int
    amount_recorded: Decimal
    recorded_lines: tuple[PaymentLine, ...] = ()
    flagged_lines: tuple[PaymentLine, ...] = ()
    ignored_lines: tuple[PaymentLine, ...] = ()
    rejected_lines: tuple[PaymentLine, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "actor": self.actor,
            "imported_at": self.imported_at.isoformat(),
            "currency": self.currency,
            "received": self.received,
            "recorded": self.recorded,
            "flagged": self.flagged,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "amount_recorded": str(self.amount_recorded),
            "lines_capped_at": REPORT_LINES_CAP,
            "recorded_lines": [line.to_json() for line in self.recorded_lines],
            "flagged_lines": [line.to_json() for line in self.flagged_lines],
            "ignored_lines": [line.to_json() for line in self.ignored_lines],
            "rejected_lines": [line.to_json() for line in self.rejected_lines],
        }


def import_payments(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    parsed: ParsedPayments,
    source: str,
    actor: str,
) -> PaymentImportReport:
    """Record the acceptable payments of one batch, in the caller's transaction.

    Lines naming an unknown account, or a bill that is not that account's, are rejected. A
    reference already recorded for its channel (earlier, or higher up in the same batch) is
    ignored and reported with the payment that holds it. The rest go through
    `accept_payment` in the batch's order. If anything raises, the caller rolls back and
    nothing of the batch is stored; running the same batch again records nothing twice."""
    positioned: list[tuple[int, PaymentLine]] = [
        (r.position, PaymentLine(r.where, REJECTED, r.reason)) for r in parsed.rejections
    ]
    accounts = _accounts(session, (p.account_number for p in parsed.payments))
    bill_accounts = _bill_accounts(session, (p.bill_id for p in parsed.payments if p.bill_id))
    amount_recorded = _ZERO
    for payment in sorted(parsed.payments, key=lambda p: p.position):
        account = accounts.get(payment.account_number)
        if account is None:
            reason = f"unknown account {payment.account_number!r}"
            positioned.append((payment.position, _line(payment, REJECTED, reason)))
            continue
        if payment.bill_id is not None and bill_accounts.get(payment.bill_id) != account.id:
            reason = f"bill {payment.bill_id} is not on account {account.number}"
            positioned.append((payment.position, _line(payment, REJECTED, reason)))
            continue
        recorded = accept_payment(
            session=session, clock=clock, context=context, account_id=account.id or 0,
            amount=payment.amount, channel=payment.channel.value,
            provider_reference=payment.reference, received_at=payment.paid_at,
            bill_id=payment.bill_id, source=source, actor=actor,
        )  # fmt: skip
        stored = recorded.payment
        if not recorded.created:
            line = _line(payment, IGNORED, _already_recorded(stored, payment, account),
                         payment_id=stored.id)  # fmt: skip
        elif stored.probable_duplicate_of is not None:
            amount_recorded += stored.amount
            reason = (
                f"recorded as payment {stored.id}; probable duplicate of payment "
                f"{stored.probable_duplicate_of} (same amount for bill {stored.bill_id} "
                f"from another channel within {_hours(context)} h): offer a refund"
            )
            line = _line(payment, FLAGGED, reason, payment_id=stored.id,
                         duplicate_of=stored.probable_duplicate_of)  # fmt: skip
        else:
            amount_recorded += stored.amount
            line = _line(payment, RECORDED, payment_id=stored.id)
        positioned.append((payment.position, line))

    report = _report(
        positioned,
        source=source,
        actor=actor,
        now=clock.now(),
        currency=context.currency,
        received=parsed.received,
        amount_recorded=amount_recorded,
    )
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="payments.import",
        entity="payment_import",
        entity_id=source[:64] or "-",  # the column's width; `after` keeps it whole
        before=None,
        after={
            "source": source,
            "received": report.received,
            "recorded": report.recorded,
            "flagged": report.flagged,
            "ignored": report.ignored,
            "rejected": report.rejected,
            "amount_recorded": report.amount_recorded,
            "currency": report.currency,
        },
        reason=f"payment import: {source}"[:500],
    )
    session.flush()
    return report


def _hours(context: PaymentContext) -> int:
    return int(context.duplicate_window.total_seconds() // 3600)


def _already_recorded(stored: Payment, payment: ParsedPayment, account: Account) -> str:
    """The line repeats a reference: say which payment holds it, and whether the line even
    agrees with it (a differing amount or account is a mistake in the file to look at)."""
    reason = f"already recorded (payment {stored.id})"
    differences = []
    if stored.account_id != account.id:
        differences.append("another account")
    if stored.amount != payment.amount:
        differences.append(f"amount {stored.amount}")
    if differences:
        reason += f" with {' and '.join(differences)}: check this line"
    return reason


def _line(
    payment: ParsedPayment,
    outcome: str,
    reason: str = "",
    *,
    payment_id: int | None = None,
    duplicate_of: int | None = None,
) -> PaymentLine:
    return PaymentLine(
        where=payment.where,
        outcome=outcome,
        reason=reason,
        channel=payment.channel.value,
        reference=payment.reference,
        account_number=payment.account_number,
        amount=payment.amount,
        payment_id=payment_id,
        duplicate_of=duplicate_of,
        payer_note=payment.payer_note,
    )


def _report(
    positioned: list[tuple[int, PaymentLine]],
    *,
    source: str,
    actor: str,
    now: datetime,
    currency: str,
    received: int,
    amount_recorded: Decimal,
) -> PaymentImportReport:
    positioned.sort(key=lambda item: item[0])
    by_outcome: dict[str, list[PaymentLine]] = defaultdict(list)
    for _, line in positioned:
        by_outcome[line.outcome].append(line)
    stored = [line for _, line in positioned if line.outcome in (RECORDED, FLAGGED)]
    return PaymentImportReport(
        source=source,
        actor=actor,
        imported_at=now,
        currency=currency,
        received=received,
        recorded=len(stored),
        flagged=len(by_outcome[FLAGGED]),
        ignored=len(by_outcome[IGNORED]),
        rejected=len(by_outcome[REJECTED]),
        amount_recorded=amount_recorded,
        recorded_lines=tuple(stored[:REPORT_LINES_CAP]),
        flagged_lines=tuple(by_outcome[FLAGGED][:REPORT_LINES_CAP]),
        ignored_lines=tuple(by_outcome[IGNORED][:REPORT_LINES_CAP]),
        rejected_lines=tuple(by_outcome[REJECTED][:REPORT_LINES_CAP]),
    )


# --- lookups --------------------------------------------------------------------------------


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = sorted(set(values))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _accounts(session: Session, numbers: Iterable[str]) -> dict[str, Account]:
    found: dict[str, Account] = {}
    for chunk in _chunks(numbers):
        for account in session.scalars(select(Account).where(col(Account.number).in_(chunk))):
            found[account.number] = account
    return found


def _bill_accounts(session: Session, bill_ids: Iterable[int]) -> dict[int, int]:
    """Each named bill's account."""
    found: dict[int, int] = {}
    for chunk in _chunks(bill_ids):
        rows = session.execute(
            select(col(Bill.id), col(Bill.account_id)).where(col(Bill.id).in_(chunk))
        )
        found.update({bill_id: account_id for bill_id, account_id in rows})
    return found
