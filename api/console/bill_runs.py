"""Scheduled bill runs (`/console/bill-runs`, role reviewer): the reading days the scheduler
billed, newest first, with their counts, catch-up flag and errors, and the missed readings of
one run (`?run=ID`; the newest by default) for staff to chase. Read only; the same reads as
`GET /api/v1/bill-runs`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request, status
from fastapi.responses import HTMLResponse

from api.console.pages import NavItem, PageRefused, console_router, render, with_role
from api.deps import SessionDep, id_or_none
from billing_core.bills.run.summary import UnknownBillRun, get_run, list_runs
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/bill-runs", "Bill runs", (Role.reviewer,))
Reviewer = Annotated[StaffUser, Depends(with_role(Role.reviewer))]
SHOWN = 60  # runs listed: two months of days
MISSED_SHOWN = 1000


@router.get("/console/bill-runs", response_class=HTMLResponse)
def bill_runs_page(
    request: Request,
    user: Reviewer,
    session: SessionDep,
    run: Annotated[str, Query(max_length=12)] = "",
) -> HTMLResponse:
    runs = list_runs(session=session, limit=SHOWN)
    chosen = None
    if run:
        run_id = id_or_none(run)
        if run_id is None:
            raise PageRefused(status.HTTP_404_NOT_FOUND, f"no bill run {run}")
        try:
            chosen = get_run(session=session, run_id=run_id, limit=MISSED_SHOWN)
        except UnknownBillRun as exc:
            raise PageRefused(status.HTTP_404_NOT_FOUND, str(exc)) from None
    elif runs:
        chosen = get_run(session=session, run_id=runs[0]["id"], limit=MISSED_SHOWN)
    return render(request, "console/bill_runs.html", user,
                  {"runs": runs, "chosen": chosen, "shown": SHOWN,
                   "missed_shown": MISSED_SHOWN})  # fmt: skip
