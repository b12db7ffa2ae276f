"""Call and review tasks of the arrears ladder (`/console/tasks`, roles collections and
agent, as the arrears API allows): open tasks, oldest first, filtered by kind, each completed
with what came of it (`orders.complete_task`, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from api.console.arrears import path_id, with_accounts
from api.console.pages import (
    NavItem,
    PageRefused,
    after_action,
    console_router,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, SessionDep
from billing_core.arrears import cases, orders
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/tasks", "Call tasks", (Role.collections, Role.agent))
CallAgent = Annotated[StaffUser, Depends(with_role(Role.collections, Role.agent))]
SHOWN = 200
KINDS = ("call", "review", "all")


@router.get("/console/tasks", response_class=HTMLResponse)
def tasks_page(
    request: Request,
    user: CallAgent,
    session: SessionDep,
    kind: Annotated[str, Query(max_length=16)] = "call",
) -> HTMLResponse:
    if kind not in KINDS:
        raise PageRefused(status.HTTP_422_UNPROCESSABLE_CONTENT, f"kind: one of {', '.join(KINDS)}")
    rows = orders.list_rows(session=session, table=cases.TASK, status="open",
                            kind=None if kind == "all" else kind, limit=SHOWN)  # fmt: skip
    return render(
        request, "console/call_tasks.html", user,
        {"tasks": with_accounts(session, rows), "kind": kind, "kinds": KINDS, "shown": SHOWN,
         "max_outcome": orders.MAX_OUTCOME,
         "sees_cases": user.role in (Role.collections, Role.admin)},
    )  # fmt: skip


@router.post("/console/tasks/{task_id}/complete")
def complete(
    task_id: str,
    user: CallAgent,
    session: SessionDep,
    clock: ClockDep,
    outcome: Annotated[str, Form(max_length=4 * orders.MAX_OUTCOME)] = "",
    kind: Annotated[str, Form(max_length=16)] = "call",
) -> Response:
    number = path_id(task_id, "task")
    with refusals(session) as problems:
        orders.complete_task(session=session, clock=clock, actor=user, task_id=number,
                             outcome=outcome)  # fmt: skip
    here = f"/console/tasks?kind={kind if kind in KINDS else 'call'}"
    return after_action(here, problems, f"task {number} done")
