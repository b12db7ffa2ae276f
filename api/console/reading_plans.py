"""Reading plans (`/console/reading-plans`, role reviewer): the months' rolling reading plans
(docs/readings.md "Applying a reading plan") with how level each makes the days, a proposal
for a month, and a second reviewer's approval (the customers' notices go into the outbox then)
or rejection. The same services as `/api/v1/reading-plans`; four eyes and the two months'
notice are the service's rules, a refusal is shown on the page. Approved plans are applied
by the scheduler on their effective date."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.console.arrears import path_id
from api.console.pages import NavItem, after_action, console_router, refusals, render, with_role
from api.deps import ClockDep, SessionDep, SettingsDep
from billing_core.calendar import WorkingCalendar
from billing_core.errors import InvalidInput
from billing_core.notices.reading_days import approve_and_notify
from billing_core.readings import plans_changes
from billing_core.readings.plans import months_after
from billing_core.readings.plans_policy import load_reading_plan_policy
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
HERE = "/console/reading-plans"
NAV = NavItem(HERE, "Reading plans", (Role.reviewer,))
Reviewer = Annotated[StaffUser, Depends(with_role(Role.reviewer))]
SHOWN = 24


@router.get(HERE, response_class=HTMLResponse)
def reading_plans_page(
    request: Request, user: Reviewer, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> HTMLResponse:
    plans = [plans_changes.plan_json(plan)
             for plan in plans_changes.list_plans(session=session, limit=SHOWN)]  # fmt: skip
    today = clock.now().astimezone(settings.tz).date()
    policy = load_reading_plan_policy(settings.policy_dir)
    earliest = months_after(today, policy.notice_months)
    # the first month whose first day is far enough ahead for the customers' notice
    first = earliest if earliest.day == 1 else months_after(earliest.replace(day=1), 1)
    return render(request, "console/reading_plans.html", user,
                  {"plans": plans, "earliest": earliest, "shown": SHOWN,
                   "suggested": first.strftime("%Y-%m"),
                   "tolerance": policy.tolerance})  # fmt: skip


@router.post(HERE)
def propose(
    user: Reviewer,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    month: Annotated[str, Form(max_length=7)] = "",
) -> Response:
    with refusals(session) as problems:
        first = _month(month)
        plan = plans_changes.propose_plan(
            session=session, clock=clock,
            calendar=WorkingCalendar.for_country(settings.holiday_country, [first.year]),
            policy=load_reading_plan_policy(settings.policy_dir), month=first, proposer=user,
            today=clock.now().astimezone(settings.tz).date(),
        )  # fmt: skip
    done = "" if problems else f"plan {plan.id} for {month} proposed: another reviewer approves it"
    return after_action(HERE, problems, done)


@router.post(HERE + "/{plan_id}/approve")
def approve(plan_id: str, user: Reviewer, session: SessionDep, clock: ClockDep,
            note: Annotated[str, Form(max_length=500)] = "") -> Response:  # fmt: skip
    number = path_id(plan_id, "reading plan")
    with refusals(session) as problems:
        plan = approve_and_notify(session=session, clock=clock, plan_id=number, reviewer=user,
                                  note=note)  # fmt: skip
    done = "" if problems else f"plan {number} approved: {plan.notices} customers notified"
    return after_action(HERE, problems, done)


@router.post(HERE + "/{plan_id}/reject")
def reject(plan_id: str, user: Reviewer, session: SessionDep, clock: ClockDep,
           note: Annotated[str, Form(max_length=500)] = "") -> Response:  # fmt: skip
    number = path_id(plan_id, "reading plan")
    with refusals(session) as problems:
        plans_changes.review_plan(session=session, clock=clock, plan_id=number, reviewer=user,
                                  approve=False, note=note)  # fmt: skip
    return after_action(HERE, problems, f"plan {number} rejected")


def _month(text: str) -> date:
    try:
        first = date.fromisoformat(text.strip() + "-01")
    except ValueError:
        raise InvalidInput(f"month: {text!r} is not a month written YYYY-MM") from None
    return first
