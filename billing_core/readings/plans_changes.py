"""Applying a rolling reading plan to the accounts' reading days (docs/readings.md): a plan is
proposed (the new day of every book, each changed account's transition, the load before and
after), approved or rejected by a reviewer who is not its proposer, and applied on or after its
effective date, at least the policy's notice months after it was proposed. The notices to the
customers go out on approval (`billing_core.notices.reading_days`, above this package)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from billing_core.audit.service import record_change, snapshot
from billing_core.calendar import WorkingCalendar
from billing_core.clock import Clock
from billing_core.customers.model import AccountStatus, FieldConflict
from billing_core.customers.tables import Account
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert
from billing_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from billing_core.readings.plans import (
    PlanStatus,
    book_days,
    months_after,
    summarise_days,
    transition_dates,
)
from billing_core.readings.plans_policy import ReadingPlanPolicy
from billing_core.readings.plans_service import rolling_plan
from billing_core.readings.tables import (
    Meter,
    MeterReading,
    ReadingBook,
    ReadingDayChange,
    ReadingPlan,
)
from billing_core.staff.model import Role
from billing_core.staff.service import require_role
from billing_core.staff.tables import StaffUser

ENTITY = "reading_plan"
OPEN = (PlanStatus.proposed, PlanStatus.approved)
CHANGE_COLUMNS = (
    "plan_id", "account_id", "old_day", "new_day", "last_old_reading_on", "first_new_reading_on",
)  # fmt: skip
ACCOUNT = table_of(Account)
CHANGE = table_of(ReadingDayChange)


def propose_plan(
    *,
    session: Session,
    clock: Clock,
    calendar: WorkingCalendar,
    policy: ReadingPlanPolicy,
    month: date,
    proposer: StaffUser,
    effective_on: date | None = None,
    today: date,
) -> ReadingPlan:
    """Store the rolling plan of `month` (the first month read on the new days) as a proposal:
    each book's new day is the day of the working day (the 1st to the 28th) the greedy spread
    gives it, and each active account of the book whose day changes gets a transition. The
    effective date (default: the month's first day) must be at least the policy's notice
    months after `today`; a plan that cannot level the days within the policy's tolerance,
    or a month that has an open or applied plan, is refused."""
    require_role(proposer, Role.reviewer)
    first = month.replace(day=1)
    effective = effective_on or first
    earliest = months_after(today, policy.notice_months)
    if effective < earliest:
        raise InvalidInput(
            f"effective: a reading-day change needs {policy.notice_months} months' notice: "
            f"the effective date must be on or after {earliest}, not {effective}"
        )
    if effective > first or months_after(effective, 1) <= first:
        raise InvalidInput(
            f"effective: {effective} must fall in the month before {first:%Y-%m} or on its "
            "first day (the new days are read from that month)"
        )
    taken = session.exec(
        select(ReadingPlan).where(
            col(ReadingPlan.status).in_([*OPEN, PlanStatus.applied]),
            col(ReadingPlan.month) == first,
        )
    ).first()
    if taken is not None:
        raise Conflict(f"month: {first:%Y-%m} has reading plan {taken.id} ({taken.status})")
    pending = session.exec(select(ReadingPlan).where(col(ReadingPlan.status).in_(OPEN))).first()
    if pending is not None:
        raise Conflict(
            f"reading plan {pending.id} for {pending.month:%Y-%m} is still {pending.status}: "
            "apply or reject it first"
        )

    plan = rolling_plan(session=session, month=first, calendar=_upto_28(calendar))
    new_day = book_days(plan.days)
    books = {
        book.code: book for book in session.exec(select(ReadingBook)).all() if book.id is not None
    }
    book_of_id = {book.id: book.code for book in books.values()}
    accounts = session.exec(
        select(Account.id, Account.reading_day, Account.reading_book_id).where(
            col(Account.status) == AccountStatus.active.value
        )
    ).all()
    before: Counter[int] = Counter()
    after: Counter[int] = Counter()
    changes: list[tuple[int, int, int]] = []  # (account, old day, new day)
    for account_id, old, book_id in accounts:
        code = book_of_id.get(book_id) if book_id is not None else None
        new = new_day.get(code, old) if code is not None else old
        before[old] += 1
        after[new] += 1
        if new != old and account_id is not None:
            changes.append((account_id, old, new))
    days = [day for day in plan.working_days if day.day <= 28]
    load_before = _summary(first, before, days, plan.load.largest_book, plan.load.books)
    load_after = _summary(first, after, days, plan.load.largest_book, plan.load.books)
    if load_after.imbalance > policy.tolerance:
        raise Conflict(
            f"the plan cannot level {first:%Y-%m} within the tolerance of "
            f"{policy.tolerance:.0%}: the busiest day would carry {load_after.max_load} "
            f"accounts, {load_after.imbalance:.1%} over the mean (largest book "
            f"{load_after.largest_book})"
        )
    now = clock.now()
    row = ReadingPlan(
        month=first,
        effective_on=effective,
        status=PlanStatus.proposed,
        proposed_by=proposer.username,
        proposed_at=now,
        tolerance=policy.tolerance,
        accounts=len(changes),
        detail={
            "before": asdict(load_before),
            "after": asdict(load_after),
            "books": [
                {"code": code, "old_day": books[code].reading_day, "new_day": day}
                for code, day in sorted(new_day.items())
                if code in books and books[code].reading_day != day
            ],
            "min_transition_days": policy.min_transition_days,
        },
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    transitions: dict[tuple[int, int], tuple[date, date]] = {}
    rows = []
    for account_id, old, new in changes:
        key = (old, new)
        if key not in transitions:
            transitions[key] = transition_dates(old, new, effective, policy.min_transition_days)
        last_old, first_new = transitions[key]
        rows.append((row.id, account_id, old, new, last_old, first_new))
    bulk_insert(session.connection(), CHANGE, CHANGE_COLUMNS, rows)
    _audit(session, clock, proposer.username, "reading_plan.propose", row)
    return row


def review_plan(
    *,
    session: Session,
    clock: Clock,
    plan_id: int,
    reviewer: StaffUser,
    approve: bool,
    note: str = "",
) -> ReadingPlan:
    """Approve or reject a proposed plan: a reviewer (or an admin) who did not propose it."""
    require_role(reviewer, Role.reviewer)
    plan = get_plan(session=session, plan_id=plan_id)
    if plan.status != PlanStatus.proposed:
        raise Conflict(f"reading plan {plan_id} is {plan.status}, not proposed")
    if plan.proposed_by == reviewer.username:
        raise PermissionDenied(
            f"reading plan {plan_id} was proposed by {reviewer.username}: another reviewer "
            "must approve or reject it (four eyes)"
        )
    if not approve and not note.strip():
        raise InvalidInput("note: say why the plan is rejected")
    before = snapshot(plan, ["status", "reviewed_by", "review_note"])
    plan.status = PlanStatus.approved if approve else PlanStatus.rejected
    plan.reviewed_by = reviewer.username
    plan.reviewed_at = clock.now()
    plan.review_note = note.strip()[:500]
    session.add(plan)
    action = "reading_plan.approve" if approve else "reading_plan.reject"
    record_change(
        session=session, clock=clock, actor=reviewer.username, action=action, entity=ENTITY,
        entity_id=plan.id, before=before,
        after=snapshot(plan, ["status", "reviewed_by", "review_note"]), reason=plan.review_note,
    )  # fmt: skip
    return plan


def apply_plan(
    *, session: Session, clock: Clock, plan_id: int, today: date, actor: str
) -> ReadingPlan:
    """Change the accounts' (and books') reading days of an approved plan, on or after its
    effective date. Idempotent: an applied plan is returned as it is."""
    plan = get_plan(session=session, plan_id=plan_id)
    if plan.status == PlanStatus.applied:
        return plan
    if plan.status != PlanStatus.approved:
        raise Conflict(f"reading plan {plan_id} is {plan.status}: only an approved plan applies")
    if today < plan.effective_on:
        raise Conflict(
            f"reading plan {plan_id} takes effect on {plan.effective_on}: it cannot be "
            f"applied before (today is {today})"
        )
    new_days = sorted(
        set(
            session.exec(
                select(ReadingDayChange.new_day).where(ReadingDayChange.plan_id == plan_id)
            )
        )
    )
    for new_day in new_days:
        session.execute(
            update(ACCOUNT)
            .where(
                ACCOUNT.c.id.in_(
                    select(CHANGE.c.account_id).where(
                        CHANGE.c.plan_id == plan_id, CHANGE.c.new_day == new_day
                    )
                )
            )
            .values(reading_day=new_day)
        )
    for book in plan.detail.get("books", []):
        found = session.exec(select(ReadingBook).where(ReadingBook.code == book["code"])).first()
        if found is not None:
            found.reading_day = book["new_day"]
            session.add(found)
    before = snapshot(plan, ["status", "applied_at"])
    plan.status = PlanStatus.applied
    plan.applied_at = clock.now()
    session.add(plan)
    record_change(
        session=session, clock=clock, actor=actor, action="reading_plan.apply", entity=ENTITY,
        entity_id=plan.id, before=before, after=snapshot(plan, ["status", "applied_at"]),
    )  # fmt: skip
    return plan


def apply_due_plans(*, session: Session, clock: Clock, today: date, actor: str) -> list[int]:
    """Apply every approved plan whose effective date has come (a daily job can call this)."""
    due = session.exec(
        select(ReadingPlan.id).where(
            col(ReadingPlan.status) == PlanStatus.approved,
            col(ReadingPlan.effective_on) <= today,
        )
    ).all()
    applied = []
    for plan_id in due:
        assert plan_id is not None
        apply_plan(session=session, clock=clock, plan_id=plan_id, today=today, actor=actor)
        applied.append(plan_id)
    return applied


def check_direct_day_change(*, session: Session, number: str, reading_day: int) -> None:
    """Staff may set an account's reading day directly (master data) only until its meter is
    first read; after that the day changes through a reading plan, approved by a second
    reviewer, with two months' notice to the customer and the transition billed prorated.
    Raises FieldConflict naming `reading_day`."""
    account = session.exec(select(Account).where(col(Account.number) == number)).first()
    if account is None or account.reading_day == reading_day:
        return
    read = session.exec(
        select(MeterReading.id)
        .join(Meter, col(Meter.id) == col(MeterReading.meter_id))
        .where(col(Meter.account_id) == account.id)
        .limit(1)
    ).first()
    if read is not None:
        raise FieldConflict(
            "reading_day",
            f"account {number}'s meter has been read: its reading day changes through a "
            "reading plan (a second reviewer's approval, two months' notice to the customer)",
        )


def get_plan(*, session: Session, plan_id: int) -> ReadingPlan:
    plan = session.get(ReadingPlan, plan_id)
    if plan is None:
        raise NotFound(f"no reading plan {plan_id}")
    return plan


def plan_for_month(*, session: Session, month: date) -> ReadingPlan | None:
    """The month's plan that is not rejected, if any."""
    return session.exec(
        select(ReadingPlan).where(
            col(ReadingPlan.month) == month.replace(day=1),
            col(ReadingPlan.status) != PlanStatus.rejected,
        )
    ).first()


def list_plans(*, session: Session, limit: int = 50) -> list[ReadingPlan]:
    return list(
        session.exec(select(ReadingPlan).order_by(col(ReadingPlan.id).desc()).limit(limit)).all()
    )


def plan_changes(
    *, session: Session, plan_id: int, limit: int | None = None
) -> list[ReadingDayChange]:
    statement = (
        select(ReadingDayChange)
        .where(ReadingDayChange.plan_id == plan_id)
        .order_by(col(ReadingDayChange.account_id))
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.exec(statement).all())


def plan_json(plan: ReadingPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "month": plan.month.strftime("%Y-%m"),
        "effective_on": plan.effective_on.isoformat(),
        "status": plan.status,
        "proposed_by": plan.proposed_by,
        "proposed_at": plan.proposed_at.isoformat(),
        "reviewed_by": plan.reviewed_by,
        "reviewed_at": plan.reviewed_at.isoformat() if plan.reviewed_at else None,
        "review_note": plan.review_note,
        "applied_at": plan.applied_at.isoformat() if plan.applied_at else None,
        "tolerance": plan.tolerance,
        "accounts": plan.accounts,
        "notices": plan.notices,
        **plan.detail,
    }


def _summary(
    first: date, counts: Counter[int], days: list[date], largest_book: int, books: int
) -> Any:
    """The load a day of the month: every working day up to the 28th, and any other day
    that has accounts."""
    loads = {day: counts.get(day.day, 0) for day in days}
    for day_of_month, count in counts.items():
        if count:
            loads.setdefault(first.replace(day=day_of_month), count)
    return summarise_days(dict(sorted(loads.items())), largest_book, books)


def _upto_28(calendar: WorkingCalendar) -> WorkingCalendar:
    """The calendar's working days up to the 28th of a month: a reading day is 1 to 28."""
    return _Upto28(calendar)  # type: ignore[return-value]


class _Upto28:
    def __init__(self, calendar: WorkingCalendar) -> None:
        self._calendar = calendar

    def working_days(self, first: date, last: date) -> list[date]:
        return [day for day in self._calendar.working_days(first, last) if day.day <= 28]


def _audit(session: Session, clock: Clock, actor: str, action: str, plan: ReadingPlan) -> None:
    record_change(
        session=session, clock=clock, actor=actor, action=action, entity=ENTITY,
        entity_id=plan.id, before=None,
        after=snapshot(plan, ["month", "effective_on", "status", "accounts", "tolerance"]),
    )  # fmt: skip
