"""Disconnection work orders and reconnection orders, and the tasks the ladder gives people.

A work order is proposed by the ladder with a planned time; a collections person approves it
for a time (only where no humane rule forbids it: `model.disconnection_blockers`, the rule the
ladder plans by, and never earlier than now) or rejects it with a reason. The field crew's
report that supply was cut is recorded on it (`executed`). wattdesk never cuts supply: these
are instructions for people. A reconnection order is raised by the ladder's stop (payment,
arrangement) and completed when the crew reports supply back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from billing_core.arrears.actions import as_json, audit, collections, reason_text, row_of
from billing_core.arrears.cases import ACCOUNT, ORDER, RECONNECT, SENSITIVITY, TASK
from billing_core.arrears.forecast import with_forecast
from billing_core.arrears.model import disconnection_blockers
from billing_core.arrears.rules import ArrearsRules
from billing_core.clock import Clock
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
