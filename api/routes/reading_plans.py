"""The staff API for applying a rolling reading plan to the accounts' reading days
(docs/readings.md): a reviewer (or an admin) proposes the month's plan, another approves it
(four eyes; the customers' notices go in the outbox then) or rejects it, and it is applied on
or after its effective date. Every step is in the audit log (entity `reading_plan`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import staff_router, staff_with_role
from api.deps import ClockDep, Id, SessionDep, SettingsDep, exact_json, json_body_doc
from api.errors import error_responses
from billing_core.calendar import WorkingCalendar
from billing_core.notices.reading_days import approve_and_notify
from billing_core.readings import plans_changes
from billing_core.readings.plans_policy import load_reading_plan_policy
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1", tags=["reading plans"])
# There is no billing-clerk role: reviewers propose and approve, never their own proposal.
Reviewer = Annotated[StaffUser, Depends(staff_with_role(Role.reviewer))]


class ProposeBody(BaseModel):
    month: str = Field(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    effective_on: date | None = None


class ReviewBody(BaseModel):
    note: str = Field(default="", max_length=500)


class LoadOut(BaseModel):
    """How even a month's days are: accounts a day, the busiest and the quietest, and the
    imbalance (busiest / mean − 1)."""

    model_config = ConfigDict(extra="allow")
    days: int
    max_load: int
    min_load: int
    imbalance: float


class PlanOut(BaseModel):
    """A reading plan: its month, effective date, status and who proposed and reviewed it,
    the accounts it moves, the customers told, and the load before and after."""

    model_config = ConfigDict(extra="allow")
    id: int
    month: str
    effective_on: date
    status: str
    proposed_by: str
    reviewed_by: str | None = None
    accounts: int
    notices: int
    tolerance: float
    before: LoadOut | None = None
    after: LoadOut | None = None


class PlansOut(BaseModel):
    plans: list[PlanOut]


class ChangeOut(BaseModel):
    account_id: int
    old_day: int
    new_day: int
    last_old_reading_on: date
    first_new_reading_on: date


class PlanDetailOut(PlanOut):
    changes: list[ChangeOut]


@router.get("/reading-plans", response_model=PlansOut, responses=error_responses(403))
def list_plans(
    session: SessionDep,
    _user: Reviewer,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    rows = plans_changes.list_plans(session=session, limit=limit)
    return {"plans": [plans_changes.plan_json(row) for row in rows]}


@router.get(
    "/reading-plans/{plan_id}", response_model=PlanDetailOut, responses=error_responses(403, 404)
)
def get_plan(
    plan_id: Id,
    session: SessionDep,
    _user: Reviewer,
    changes: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> dict[str, Any]:
    plan = plans_changes.get_plan(session=session, plan_id=plan_id)
    listed = plans_changes.plan_changes(session=session, plan_id=plan_id, limit=changes)
    return plans_changes.plan_json(plan) | {
        "changes": [
            {
                "account_id": change.account_id,
                "old_day": change.old_day,
                "new_day": change.new_day,
                "last_old_reading_on": change.last_old_reading_on.isoformat(),
                "first_new_reading_on": change.first_new_reading_on.isoformat(),
            }
            for change in listed
        ]
    }


@router.post(
    "/reading-plans",
    status_code=201,
    response_model=PlanOut,
    openapi_extra=json_body_doc(ProposeBody),
    responses=error_responses(403, 409, 422),
)
def propose(
    user: Reviewer,  # its role is checked before the body is read
    body: Annotated[ProposeBody, Depends(exact_json(ProposeBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    first = date.fromisoformat(body.month + "-01")
    calendar = WorkingCalendar.for_country(settings.holiday_country, [first.year])
    plan = plans_changes.propose_plan(
        session=session,
        clock=clock,
        calendar=calendar,
        policy=load_reading_plan_policy(settings.policy_dir),
        month=first,
        proposer=user,
        effective_on=body.effective_on,
        today=clock.now().astimezone(settings.tz).date(),
    )
    return plans_changes.plan_json(plan)


@router.post(
    "/reading-plans/{plan_id}/approve",
    response_model=PlanOut,
    openapi_extra=json_body_doc(ReviewBody),
    responses=error_responses(403, 404, 409),
)
def approve(
    plan_id: Id,
    user: Reviewer,
    body: Annotated[ReviewBody, Depends(exact_json(ReviewBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    plan = approve_and_notify(
        session=session, clock=clock, plan_id=plan_id, reviewer=user, note=body.note
    )
    return plans_changes.plan_json(plan)


@router.post(
    "/reading-plans/{plan_id}/reject",
    response_model=PlanOut,
    openapi_extra=json_body_doc(ReviewBody),
    responses=error_responses(403, 404, 409, 422),
)
def reject(
    plan_id: Id,
    user: Reviewer,
    body: Annotated[ReviewBody, Depends(exact_json(ReviewBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    plan = plans_changes.review_plan(
        session=session, clock=clock, plan_id=plan_id, reviewer=user, approve=False,
        note=body.note,
    )  # fmt: skip
    return plans_changes.plan_json(plan)


@router.post(
    "/reading-plans/{plan_id}/apply",
    response_model=PlanOut,
    responses=error_responses(403, 404, 409),
)
def apply(
    plan_id: Id, user: Reviewer, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> dict[str, Any]:
    plan = plans_changes.apply_plan(
        session=session,
        clock=clock,
        plan_id=plan_id,
        today=clock.now().astimezone(settings.tz).date(),
        actor=user.username,
    )
    return plans_changes.plan_json(plan)
