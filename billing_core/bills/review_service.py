"""The review queue (电费复核): list what waits, approve (issue the bill), correct (cancel and
re-bill with adjustment lines, 退补), and the monthly summary by rule and cause.

Four eyes: a correction that adds refund or re-bill lines is held (REFUND_OR_REBILL, raised by
the reviewer who corrected) until a second reviewer approves or corrects it again; the one
who prepared it may do neither."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from billing_core.audit.service import record_change, snapshot
from billing_core.bills.charges import post_bill_charge, reverse_bill_charge
from billing_core.bills.draft import TOU_REGISTERS
from billing_core.bills.model import (
    ReviewThresholds,
    correction_findings,
    due_date_for,
    four_eyes_refusal,
)
from billing_core.bills.tables import Bill, BillLine, ReviewItem
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.clock import Clock
from billing_core.customers.tables import Account, Customer, TariffAssignment
from billing_core.dedupe_keys import event_key
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.events.service import BILL_CANCELLED, bill_issued_event, record_events
from billing_core.readings.model import register_delta
from billing_core.readings.tables import Meter, MeterReading, ReadingBook
from billing_core.staff.model import Role
from billing_core.staff.service import require_role
from billing_core.staff.tables import StaffUser
from billing_core.tariffs.model import AccountAttributes, Consumption, Tariff
from billing_core.tariffs.power_factor import power_factor_from
from billing_core.tariffs.pricing import price_period

REVIEWERS = (Role.reviewer,)
MONEY = Decimal("0.01")


@dataclass(frozen=True)
class ReviewRow:
    item_id: int
    bill_id: int
    account_number: str
    book: str | None
    rule: str
    detail: str
    status: str
    created_at: datetime
    age_days: int
    kwh: Decimal
    total: Decimal
    raised_by: str | None = None  # who prepared the re-bill that raised the item, if anyone

    def as_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "bill_id": self.bill_id,
            "account_number": self.account_number,
            "book": self.book,
            "rule": self.rule,
            "detail": self.detail,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "age_days": self.age_days,
            "kwh": str(self.kwh),
            "total": str(self.total),
            "raised_by": self.raised_by,
        }


@dataclass(frozen=True)
class Adjustment:
    """An adjustment line (退补) a reviewer adds when correcting: positive charges more,
    negative refunds."""

    component: str
    amount: Decimal
    reason: str


def list_review_items(
    *,
    session: Session,
    clock: Clock,
    rule: str | None = None,
    book: str | None = None,
    min_age_days: int | None = None,
    status: str = "open",
    limit: int = 100,
    offset: int = 0,
) -> list[ReviewRow]:
    now = clock.now()
    statement = (
        select(ReviewItem, Bill, col(Account.number), col(ReadingBook.code))
        .join(Bill, col(Bill.id) == ReviewItem.bill_id)
        .join(Account, col(Account.id) == Bill.account_id)
        .outerjoin(ReadingBook, col(ReadingBook.id) == Account.reading_book_id)
        .where(ReviewItem.status == status)
        .order_by(col(ReviewItem.created_at), col(ReviewItem.id))
        .limit(min(limit, 1000))
        .offset(offset)
    )
    if rule:
        statement = statement.where(ReviewItem.rule == rule)
    if book:
        statement = statement.where(ReadingBook.code == book)
    if min_age_days is not None:
        statement = statement.where(
            col(ReviewItem.created_at) <= now - timedelta(days=min_age_days)
        )
    return [
        ReviewRow(
            item_id=item.id or 0,
            bill_id=bill.id or 0,
            account_number=number,
            book=book_code,
            rule=item.rule,
            detail=item.detail,
            status=item.status,
            created_at=item.created_at,
            age_days=(now - item.created_at).days,
            kwh=bill.kwh,
            total=bill.total,
            raised_by=item.raised_by,
        )
        for item, bill, number, book_code in session.execute(statement)
    ]


def approve_bill(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    bill_id: int,
    reviewer: StaffUser,
    note: str = "",
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS,
) -> Bill:
    """Approve a bill held in review: its open items are resolved and the bill is issued. A
    re-bill (退补) is approved by a second reviewer, never by the one who prepared it."""
    require_role(reviewer, *REVIEWERS)
    bill = _bill_in_review(session, bill_id)
    _check_four_eyes(session, bill_id, reviewer)
    account = session.get(Account, bill.account_id)
    assert account is not None
    now = clock.now()
    before = snapshot(bill)
    _resolve_items(
        session, bill_id, status="approved", cause=None, note=note, reviewer=reviewer, now=now
    )
    _issue(bill, now=now, terms_days=_terms(session, account, payment_terms), tz=tz)
    session.add(bill)
    record_change(
        session=session,
        clock=clock,
        actor=f"staff:{reviewer.username}",
        action="bill.approve",
        entity="bill",
        entity_id=bill.id,
        before=before,
        after=snapshot(bill),
        reason=note or "approved in review",
    )
    record_events(session=session, clock=clock, events=[_issued_event(bill)])
    post_bill_charge(session=session, clock=clock, tz=tz, bill=bill,
                     actor=f"staff:{reviewer.username}")  # fmt: skip
    return bill


def correct_bill(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    bill_id: int,
    reviewer: StaffUser,
    cause: str,
    causes: tuple[str, ...],
    tariff: Tariff,
    thresholds: ReviewThresholds,
    note: str,
    kwh: Decimal | None = None,
    registers: dict[str, Decimal] | None = None,
    adjustments: tuple[Adjustment, ...] = (),
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS,
) -> Bill:
    """Cancel a wrong bill and re-bill the same period (退补): priced again from the corrected
    consumption, with the reviewer's adjustment lines. Never edited in place.

    A re-bill with no adjustment line is issued at once. One with refund or re-bill lines
    fires REFUND_OR_REBILL (`correction_findings`, as the policy says) and waits in review,
    raised by this reviewer, for a second one; a re-bill held so cannot be corrected again by
    the reviewer who prepared it either."""
    require_role(reviewer, *REVIEWERS)
    if cause not in causes:
        raise InvalidInput(f"cause {cause!r} is not one of: {', '.join(causes)}")
    if not note.strip():
        raise InvalidInput("a correction needs a note saying what was wrong")
    old = session.get(Bill, bill_id, with_for_update=True)
    if old is None:
        raise NotFound(f"bill {bill_id} does not exist")
    if old.status == "cancelled":
        raise Conflict(f"bill {bill_id} is already cancelled")
    if old.status == "in_review":
        _check_four_eyes(session, bill_id, reviewer)
    account = session.get(Account, old.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    consumption = _corrected_consumption(old, kwh, registers)
    if customer.kind != "residential" and consumption.power_factor is None:
        # Keep the power-factor adjustment (力率调整电费) the bill run priced with.
        consumption = replace(
            consumption, power_factor=_metered_power_factor(session, old, consumption.kwh)
        )
    priced = price_period(
        tariff,
        start=old.period_start,
        end=old.period_end,
        consumption=consumption,
        account=AccountAttributes(
            customer_kind=customer.kind,  # type: ignore[arg-type]
            household_size=customer.household_size,
            ytd_kwh=_ytd_before(session, old),
        ),
    )
    for adjustment in adjustments:
        if adjustment.amount != adjustment.amount.quantize(MONEY) or not adjustment.reason:
            raise InvalidInput("each adjustment needs an amount in cents and a reason")
    now = clock.now()
    old_before = snapshot(old)
    old.status, old.cancelled_at = "cancelled", now
    old.cancel_reason = f"{cause}: {note}"[:300]
    session.add(old)
    session.flush()  # the live-period index must see the old bill cancelled first
    total = priced.total + sum((a.amount for a in adjustments), Decimal(0))
    findings = correction_findings(
        total=total, adjustments=[a.amount for a in adjustments], thresholds=thresholds
    )
    new = Bill(
        account_id=old.account_id,
        period_start=old.period_start,
        period_end=old.period_end,
        status="in_review",
        kwh=consumption.kwh,
        total=total,
        currency=priced.currency,
        estimated=False,
        prev_reading_id=old.prev_reading_id,
        curr_reading_id=old.curr_reading_id,
        replaces_bill_id=old.id,
        created_at=now,
    )
    if not findings:
        _issue(new, now=now, terms_days=_terms(session, account, payment_terms), tz=tz)
    session.add(new)
    session.flush()
    position = 0
    for position, line in enumerate(priced.lines, start=1):
        session.add(
            BillLine(
                bill_id=new.id or 0,
                position=position,
                kind="charge",
                component=line.component,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
        )
    for offset, adjustment in enumerate(adjustments, start=1):
        session.add(
            BillLine(
                bill_id=new.id or 0,
                position=position + offset,
                kind="adjustment",
                component=adjustment.component[:64],
                quantity=Decimal(1),
                unit_price=adjustment.amount,
                amount=adjustment.amount,
            )
        )
    _resolve_items(
        session, bill_id, status="corrected", cause=cause, note=note, reviewer=reviewer, now=now
    )
    for finding in findings:  # the second reviewer's part
        session.add(ReviewItem(bill_id=new.id or 0, rule=finding.rule, detail=finding.detail,
                               raised_by=reviewer.username, created_at=now))  # fmt: skip
    actor = f"staff:{reviewer.username}"
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="bill.cancel",
        entity="bill",
        entity_id=old.id,
        before=old_before,
        after=snapshot(old),
        reason=old.cancel_reason or "",
    )
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="bill.rebill",
        entity="bill",
        entity_id=new.id,
        before=None,
        after=snapshot(new),
        reason=f"re-bill of {old.id} ({cause}): {note}"
        + ("; held for a second reviewer" if findings else ""),
    )
    reverse_bill_charge(session=session, clock=clock, tz=tz, bill=old, actor=actor,
                        reason=f"bill {old.id} cancelled: {old.cancel_reason}")  # fmt: skip
    events: list[dict[str, Any]] = []
    if new.status == "issued":
        post_bill_charge(session=session, clock=clock, tz=tz, bill=new, actor=actor)
        events.append(_issued_event(new))
    if old_before.get("status") == "issued":
        events.append(
            {
                "kind": BILL_CANCELLED,
                "dedupe_key": event_key(BILL_CANCELLED, old.id),
                "account_id": old.account_id,
                "payload": {"bill_id": old.id, "replaced_by": new.id, "total": str(old.total)},
            }
        )
    record_events(session=session, clock=clock, events=events)
    return new


def bill_json(bill: Bill) -> dict[str, Any]:
    """A bill as the staff API answers it after a review decision."""
    return {
        "id": bill.id,
        "account_id": bill.account_id,
        "status": bill.status,
        "period_start": bill.period_start.isoformat(),
        "period_end": bill.period_end.isoformat(),
        "kwh": str(bill.kwh),
        "total": str(bill.total),
        "currency": bill.currency,
        "due_date": bill.due_date.isoformat() if bill.due_date else None,
        "replaces_bill_id": bill.replaces_bill_id,
    }


def bill_tariff_code(session: Session, bill_id: int) -> str:
    """The code of the tariff a bill is priced on (to correct it); NotFound when the bill or
    its account's tariff is missing."""
    bill = session.get(Bill, bill_id)
    if bill is None:
        raise NotFound(f"bill {bill_id} does not exist")
    return tariff_code_for(session, bill)


def tariff_code_for(session: Session, bill: Bill) -> str:
    code = session.execute(
        select(col(TariffAssignment.tariff_code))
        .where(
            TariffAssignment.account_id == bill.account_id,
            col(TariffAssignment.effective_from) <= bill.period_end,
        )
        .order_by(col(TariffAssignment.effective_from).desc())
        .limit(1)
    ).scalar_one_or_none()
    if code is None:
        raise NotFound(f"account of bill {bill.id} has no tariff")
    return code


def monthly_summary(*, session: Session, month: date, tz: ZoneInfo) -> dict[str, Any]:
    """Review items raised in a month (按月汇总): counts by rule, by resolution and by cause
    (原因分析)."""
    if not date.min.year < month.year < date.max.year:  # its bounds would not fit a datetime
        raise InvalidInput(f"month {month.year:04d}-{month.month:02d} is out of range")
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    end_month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    end = datetime(end_month.year, end_month.month, 1, tzinfo=tz)
    in_month = (col(ReviewItem.created_at) >= start, col(ReviewItem.created_at) < end)
    by_rule: dict[str, dict[str, int]] = {}
    for rule, status, count in session.execute(
        select(col(ReviewItem.rule), col(ReviewItem.status), func.count())
        .where(*in_month)
        .group_by(col(ReviewItem.rule), col(ReviewItem.status))
    ):
        by_rule.setdefault(rule, {"open": 0, "approved": 0, "corrected": 0})[status] = count
    by_cause = {
        cause: count
        for cause, count in session.execute(
            select(col(ReviewItem.cause), func.count())
            .where(*in_month, col(ReviewItem.cause).is_not(None))
            .group_by(col(ReviewItem.cause))
        )
    }
    bills_held = session.execute(
        select(func.count(func.distinct(col(ReviewItem.bill_id)))).where(*in_month)
    ).scalar_one()
    return {
        "month": f"{month.year:04d}-{month.month:02d}",
        "bills_held": bills_held,
        "items": sum(sum(v.values()) for v in by_rule.values()),
        "by_rule": dict(sorted(by_rule.items())),
        "by_cause": dict(sorted(by_cause.items(), key=lambda kv: (-kv[1], str(kv[0])))),
    }


def _bill_in_review(session: Session, bill_id: int) -> Bill:
    bill = session.get(Bill, bill_id, with_for_update=True)
    if bill is None:
        raise NotFound(f"bill {bill_id} does not exist")
    if bill.status != "in_review":
        raise Conflict(f"bill {bill_id} is {bill.status}, not in review")
    return bill


def _check_four_eyes(session: Session, bill_id: int, reviewer: StaffUser) -> None:
    """Conflict when `reviewer` raised one of the bill's open items (prepared its re-bill)."""
    raised_by = session.scalars(
        select(col(ReviewItem.raised_by)).where(
            ReviewItem.bill_id == bill_id, ReviewItem.status == "open"
        )
    ).all()
    refusal = four_eyes_refusal(raised_by=raised_by, reviewer=reviewer.username)
    if refusal is not None:
        raise Conflict(f"bill {bill_id}: {refusal}")


def _resolve_items(
    session: Session,
    bill_id: int,
    *,
    status: str,
    cause: str | None,
    note: str,
    reviewer: StaffUser,
    now: datetime,
) -> None:
    for item in session.scalars(
        select(ReviewItem).where(ReviewItem.bill_id == bill_id, ReviewItem.status == "open")
    ):
        item.status, item.cause, item.note = status, cause, note[:500]
        item.resolved_by, item.resolved_at = reviewer.username, now
        session.add(item)


def _terms(session: Session, account: Account, policy: PaymentTermsPolicy) -> int:
    """The account's payment terms: its own, or the policy's for its customer's kind."""
    customer = session.get(Customer, account.customer_id)
    kind = customer.kind if customer is not None else ""
    return policy.terms_days(account_terms=account.payment_terms_days, customer_kind=kind)


def _issue(bill: Bill, *, now: datetime, terms_days: int, tz: ZoneInfo) -> None:
    bill.status = "issued"
    bill.issued_at = now
    bill.due_date = due_date_for(issued_on=now.astimezone(tz).date(), terms_days=terms_days)


def _issued_event(bill: Bill) -> dict[str, Any]:
    assert bill.id is not None and bill.due_date is not None
    return bill_issued_event(
        bill_id=bill.id,
        account_id=bill.account_id,
        total=bill.total,
        currency=bill.currency,
        due_date=bill.due_date,
        period_start=bill.period_start,
        period_end=bill.period_end,
    )


def _corrected_consumption(
    old: Bill, kwh: Decimal | None, registers: dict[str, Decimal] | None
) -> Consumption:
    if registers is not None:
        unknown = set(registers) - set(TOU_REGISTERS)
        if unknown:
            raise InvalidInput(f"unknown registers: {', '.join(sorted(unknown))}")
        consumption = Consumption.of_registers(registers)
        if kwh is not None and kwh != consumption.kwh:
            raise InvalidInput(f"kWh {kwh} is not the sum of the registers ({consumption.kwh})")
        return consumption
    if kwh is None:
        kwh = old.kwh
    if kwh < 0:
        raise InvalidInput("kWh cannot be negative")
    return Consumption.total(kwh)


def _metered_power_factor(session: Session, bill: Bill, kwh: Decimal) -> Decimal | None:
    """The power factor for `kwh` and the reactive energy (kvarh) metered over the bill's
    period, as the bill run works it out; None when the readings hold no reactive register."""
    if kwh <= 0 or bill.prev_reading_id is None or bill.curr_reading_id is None:
        return None
    previous = session.get(MeterReading, bill.prev_reading_id)
    current = session.get(MeterReading, bill.curr_reading_id)
    if (
        previous is None
        or current is None
        or previous.meter_id != current.meter_id
        or previous.reactive is None
        or current.reactive is None
    ):
        return None
    meter = session.get(Meter, current.meter_id)
    assert meter is not None
    # A register below the previous one on the same meter can only have rolled over.
    wrap = Decimal(10) ** meter.digits
    delta = register_delta(
        previous.reactive, current.reactive, digits=meter.digits, rollover_max=wrap
    )
    return power_factor_from(kwh, delta.advance * meter.multiplier)


def _ytd_before(session: Session, bill: Bill) -> Decimal:
    total = session.execute(
        select(func.sum(col(Bill.kwh))).where(
            Bill.account_id == bill.account_id,
            Bill.status != "cancelled",
            col(Bill.period_start) >= date(bill.period_start.year, 1, 1),
            col(Bill.period_start) < bill.period_start,
        )
    ).scalar_one_or_none()
    return total or Decimal(0)
