"""The staff API for the scheduled bill runs (role reviewer): each reading day the scheduler
billed, newest first, with its counts (due, issued, held in review, already billed, missed
readings, failed, whether it was a catch-up, its errors), and one run with the day's missed
readings, for staff to chase (docs/billing.md, "The scheduled bill run"). Read only: nothing
here writes, so nothing is audited; who may read is the role check's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel

from api.auth import staff_router, staff_with_role
from api.deps import Id, Offset, SessionDep
from api.errors import error_responses
from billing_core.bills.run.summary import get_run, list_runs
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1", tags=["bill runs"])
Reviewer = Annotated[StaffUser, Depends(staff_with_role(Role.reviewer))]


class ScheduledRun(BaseModel):
    id: int
    run_date: date
    bill_run_id: int | None
    status: str
    catch_up: bool
    started_at: datetime
    finished_at: datetime | None
    accounts_due: int
    issued: int
    in_review: int
    already_billed: int
    missed_readings: int
    failed: int
    errors: str


class ScheduledRuns(BaseModel):
    items: list[ScheduledRun]


class MissedReadingItem(BaseModel):
    account_number: str
    book_code: str | None
    meter_serial: str | None  # None: the account has no meter in service
    last_read_on: date | None


class ScheduledRunDetail(ScheduledRun):
    missed: list[MissedReadingItem]


@router.get("/bill-runs", response_model=ScheduledRuns, responses=error_responses(403))
def bill_runs(
    session: SessionDep,
    _user: Reviewer,
    limit: Annotated[int, Query(ge=1, le=366)] = 30,
    offset: Offset = 0,
) -> dict[str, Any]:
    return {"items": list_runs(session=session, limit=limit, offset=offset)}


@router.get(
    "/bill-runs/{run_id}", response_model=ScheduledRunDetail, responses=error_responses(403, 404)
)
def bill_run(session: SessionDep, _user: Reviewer, run_id: Id) -> dict[str, Any]:
    return get_run(session=session, run_id=run_id)
