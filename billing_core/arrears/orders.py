"""Disconnection work orders and reconnection orders, and the tasks the ladder gives people.

A work order is proposed by the ladder with a planned time; a collections person approves it
for a time (only where no humane rule forbids it: `model.disconnection_blockers`, the rule the
ladder plans by, and never earlier than now) or rejects it with a reason. The field crew's
report that supply was cut is recorded on it (`executed`). wattdesk never cuts supply: these
are instructions for people. A reconnection order is raised by the ladder's stop (payment,
arrangement) and completed when the crew reports supply back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from billing_core.arrears.actions import as_json, audit, collections, reason_text, row_of
from billing_core.arrears.cases import ACCOUNT, ORDER, RECONNECT, SENSITIVITY, TASK
from billing_core.arrears.forecast import with_forecast
from billing_core.arrears.model import disconnection_blockers
from billing_core.arrears.rules import ArrearsRules
from billing_core.clock import Clock
from billing_core.customers import service as customers
from billing_core.customers.tables import CustomerSensitivity
from billing_core.dedupe_keys import care_flag_task_key
from billing_core.errors import Conflict, InvalidInput
from billing_core.staff.model import Role
from billing_core.staff.service import require_role
from billing_core.staff.tables import StaffUser

MAX_OUTCOME = 500
# What each humane rule a time breaks means, for the person approving it.
BLOCKER_WORDS = {
    "sensitive_customer": "the customer is sensitive (never put forward automatically)",
    "outside_hours": "outside the disconnection hours",
    "not_working_day": "not a working day",
    "day_before_holiday": "the day before a holiday",
    "sensitive_period": "a sensitive period",
    "extreme_temperature": "an extreme-temperature day",
    "outside_calendar": "outside the calendar's years",
}


class NotAllowed(Conflict):
    """An approval a humane rule forbids (409, naming the rules)."""


@dataclass(frozen=True)
class Flagged:
    """A care flag recorded, and what it did to the customer's disconnection orders."""

    flag: CustomerSensitivity
    withdrawn: tuple[int, ...]  # proposed, or approved for a time still to come: cancelled
    overdue: tuple[int, ...]  # approved for a time already past: a person must reach the crew


def flag_sensitive(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    customer_id: int,
    kind: str,
    note: str,
    today: date,
    valid_to: date | None = None,
) -> Flagged:
    """Record a care flag in force from `today` and withdraw at once what it forbids: the
    customer's proposed disconnection orders and those approved for a time still to come are
    cancelled with the reason (audited); the ladder's next run sends the case to a person
    (a review task) instead of proposing again. An order approved for a time already past
    is not undone here (the crew may have cut supply): it is returned, for the page to say."""
    flag = customers.add_sensitivity(
        session=session, clock=clock, actor=actor, customer_id=customer_id, kind=kind,
        note=note, valid_from=today, valid_to=valid_to,
    )  # fmt: skip
    now = clock.now()
    rows = session.execute(
        select(ORDER.c.id, ORDER.c.status, ORDER.c.approved_for, ORDER.c.case_id,
               ORDER.c.account_id)
        .join(ACCOUNT, ACCOUNT.c.id == ORDER.c.account_id)
        .where(ACCOUNT.c.customer_id == customer_id,
               ORDER.c.status.in_(["proposed", "approved"]))
        .order_by(ORDER.c.id)
    ).all()  # fmt: skip
    pending = [r for r in rows if r.status == "proposed" or r.approved_for > now]
    reason = f"the customer is sensitive ({flag.kind}): a person decides, never the ladder"
    if pending:
        session.execute(update(ORDER).where(ORDER.c.id.in_([r.id for r in pending])).values(
            status="cancelled", decided_at=now, decided_by=actor[:100],
            decision_reason=reason[:300]))  # fmt: skip
    for order in rows:
        withdrawn = order in pending
        if withdrawn:
            audit(session, clock, actor=actor, action="disconnection.withdraw",
                  entity="disconnection_order", entity_id=order.id,
                  before={"status": order.status}, after={"status": "cancelled"},
                  reason=reason)  # fmt: skip
        _care_task(session, now, flag, order, withdrawn=withdrawn)
    return Flagged(flag, tuple(r.id for r in pending),
                   tuple(r.id for r in rows if r not in pending))  # fmt: skip


def _care_task(
    session: Session, now: datetime, flag: CustomerSensitivity, order: Any, *, withdrawn: bool
) -> None:
    """A review task on the order's case, so that a person takes the case on: the ladder
    stops short of a work order for a sensitive customer but raises nothing itself once it
    has proposed one."""
    assert flag.id is not None
    then = ("withdrawn; agree the way forward with the customer" if withdrawn
            else "was approved for a time already past: reach the crew now")  # fmt: skip
    detail = f"care flag ({flag.kind}: {flag.note}): disconnection order {order.id} {then}"
    session.execute(TASK.insert().values(
        case_id=order.case_id, account_id=order.account_id, kind="review",
        reason="sensitive_customer", detail=detail[:500], status="open", created_at=now,
        outcome="", dedupe_key=care_flag_task_key(flag.id, order.id)))  # fmt: skip


def approve_order(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    actor: StaffUser,
    order_id: int,
    at: datetime,
    reason: str = "",
) -> dict[str, Any]:
    """Approve a proposed work order for the time `at` (aware). Refused (409, naming every
    rule) when `at` is past or a humane rule forbids a disconnection then."""
    who = collections(actor)
    if at.tzinfo is None:
        raise InvalidInput("at: a time with its offset (e.g. 2026-12-08T09:30+08:00)")
    row = row_of(session, ORDER, order_id, "disconnection order")
    if row.status != "proposed":
        raise Conflict(f"disconnection order {order_id} is {row.status}")
    now = clock.now()
    if at <= now:
        raise NotAllowed("at: the approved time must be in the future")
    customer_id = session.execute(
        select(ACCOUNT.c.customer_id).where(ACCOUNT.c.id == row.account_id)
    ).scalar_one()
    today = now.astimezone(rules.tz).date()
    kinds = frozenset(
        session.execute(
            select(SENSITIVITY.c.kind).where(
                SENSITIVITY.c.customer_id == customer_id,
                SENSITIVITY.c.valid_from <= today,
                (SENSITIVITY.c.valid_to.is_(None)) | (SENSITIVITY.c.valid_to >= today),
            )
        ).scalars()
    )
    rules = with_forecast(session, rules, now)  # an imported hot or cold day is refused too
    blockers = disconnection_blockers(
        at, policy=rules.ladder, calendar=rules.calendar(at), tz=rules.tz,
        forecast=rules.forecast, sensitivities=kinds,
    )  # fmt: skip
    if blockers:
        words = "; ".join(BLOCKER_WORDS.get(b.value, b.value) for b in blockers)
        raise NotAllowed(f"at: a disconnection is not allowed then ({words})")
    session.execute(update(ORDER).where(ORDER.c.id == order_id)
                    .values(status="approved", approved_for=at, decided_at=now,
                            decided_by=who[:100], decision_reason=reason[:300]))  # fmt: skip
    audit(session, clock, actor=who, action="disconnection.approve", entity="disconnection_order",
          entity_id=order_id, before={"status": "proposed"},
          after={"status": "approved", "approved_for": at.isoformat()}, reason=reason)  # fmt: skip
    return as_json(row_of(session, ORDER, order_id, "disconnection order"))


def reject_order(
    *,
    session: Session,
    clock: Clock,
    actor: StaffUser,
    order_id: int,
    reason: str,
) -> dict[str, Any]:
    who = collections(actor)
    text = reason_text(reason)
    row = row_of(session, ORDER, order_id, "disconnection order")
    if row.status not in ("proposed", "approved"):
        raise Conflict(f"disconnection order {order_id} is {row.status}")
    session.execute(update(ORDER).where(ORDER.c.id == order_id)
                    .values(status="rejected", decided_at=clock.now(), decided_by=who[:100],
                            decision_reason=text))  # fmt: skip
    audit(session, clock, actor=who, action="disconnection.reject", entity="disconnection_order",
          entity_id=order_id, before={"status": row.status}, after={"status": "rejected"},
          reason=text)  # fmt: skip
    return as_json(row_of(session, ORDER, order_id, "disconnection order"))


def record_executed(
    *, session: Session, clock: Clock, actor: StaffUser, order_id: int, at: datetime
) -> dict[str, Any]:
    """The field crew's report: supply was cut at `at` on an approved order."""
    who = collections(actor)
    row = row_of(session, ORDER, order_id, "disconnection order")
    if row.status != "approved":
        raise Conflict(f"disconnection order {order_id} is {row.status}, not approved")
    if at.tzinfo is None or at > clock.now():
        raise InvalidInput("at: when supply was cut, with its offset, not in the future")
    session.execute(update(ORDER).where(ORDER.c.id == order_id)
                    .values(status="executed", executed_at=at))  # fmt: skip
    audit(session, clock, actor=who, action="disconnection.executed", entity="disconnection_order",
          entity_id=order_id, before={"status": "approved"},
          after={"status": "executed", "executed_at": at.isoformat()})  # fmt: skip
    return as_json(row_of(session, ORDER, order_id, "disconnection order"))


def complete_reconnection(
    *, session: Session, clock: Clock, actor: StaffUser, order_id: int, note: str = ""
) -> dict[str, Any]:
    who = collections(actor)
    row = row_of(session, RECONNECT, order_id, "reconnection order")
    if row.status != "open":
        raise Conflict(f"reconnection order {order_id} is {row.status}")
    session.execute(update(RECONNECT).where(RECONNECT.c.id == order_id)
                    .values(status="done", completed_at=clock.now(),
                            completed_by=who[:100]))  # fmt: skip
    audit(session, clock, actor=who, action="reconnection.complete", entity="reconnection_order",
          entity_id=order_id, before={"status": "open"}, after={"status": "done"},
          reason=note[:300])  # fmt: skip
    return as_json(row_of(session, RECONNECT, order_id, "reconnection order"))


def complete_task(
    *, session: Session, clock: Clock, actor: StaffUser, task_id: int, outcome: str
) -> dict[str, Any]:
    """A call or review task done, with what came of it (agents take calls too)."""
    require_role(actor, Role.collections, Role.agent)
    who = f"staff:{actor.username}"
    text = reason_text(outcome, field="outcome")
    row = row_of(session, TASK, task_id, "task")
    if row.status != "open":
        raise Conflict(f"task {task_id} is {row.status}")
    session.execute(update(TASK).where(TASK.c.id == task_id)
                    .values(status="done", completed_at=clock.now(), completed_by=who[:100],
                            outcome=text))  # fmt: skip
    audit(session, clock, actor=who, action="arrears_task.complete", entity="arrears_task",
          entity_id=task_id, before={"status": "open"}, after={"status": "done"},
          reason=text)  # fmt: skip
    return as_json(row_of(session, TASK, task_id, "task"))


def list_rows(
    *,
    session: Session,
    table: Any,
    status: str | None,
    kind: str | None = None,
    case_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Work orders, reconnection orders or tasks, oldest first (the queue's order), of
    one status (None: every status), kind (tasks) and case."""
    query = select(table)
    if status is not None:
        query = query.where(table.c.status == status)
    if case_id is not None:
        query = query.where(table.c.case_id == case_id)
    if kind is not None:
        query = query.where(table.c.kind == kind)
    rows = session.execute(query.order_by(table.c.id).limit(limit).offset(offset))
    return [as_json(r) for r in rows]
