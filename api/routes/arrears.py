"""The staff API of the arrears ladder (role collections; admins always; agents may read
and complete call tasks): cases with their history, call tasks, arrangements, disputes,
disconnection work orders (approve only inside the humane windows, reject with a reason,
the crew's report) and reconnection orders. Every action is audited by its service."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import staff_router, staff_with_role
from api.deps import ClockDep, Id, SessionDep, arrears_rules, exact_json, json_body_doc
from api.errors import error_responses
from billing_core.arrears import arrangements, cases, disputes, forecast, orders
from billing_core.arrears.actions import collections
from billing_core.arrears.service import account_by_number
from billing_core.errors import NotFound
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1/arrears", tags=["arrears"])
Collections = Annotated[StaffUser, Depends(staff_with_role(Role.collections))]
CallAgent = Annotated[StaffUser, Depends(staff_with_role(Role.collections, Role.agent))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0)]
Status = Annotated[str | None, Query(max_length=16)]


class Row(BaseModel):
    """One row as the arrears services answer it (its columns; times ISO 8601, money as
    decimal strings)."""

    model_config = ConfigDict(extra="allow")
    id: int


class Rows(BaseModel):
    items: list[Row]


class InstalmentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    due_on: date
    amount: Decimal = Field(gt=0, decimal_places=2, max_digits=12)


class ArrangementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_number: str = Field(min_length=1, max_length=20)
    instalments: list[InstalmentBody] = Field(min_length=1, max_length=60)
    note: str = Field(default="", max_length=1600)


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=300)


class DisputeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_number: str = Field(min_length=1, max_length=20)
    body: str = Field(min_length=1, max_length=1600)
    bill_id: int | None = Field(default=None, ge=1)


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime
    reason: str = Field(default="", max_length=300)


class ExecutedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime


class OutcomeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(min_length=1, max_length=500)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=300)


def _items(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": rows}


# --- cases ----------------------------------------------------------------------------------


@router.get("/cases", response_model=Rows, responses=error_responses(403))
def list_cases(
    session: SessionDep,
    _user: Collections,
    status: Status = "open",
    stage: Annotated[str | None, Query(max_length=48)] = None,
    account: Annotated[str | None, Query(max_length=20)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    account_id = account_by_number(session, account).id if account else None
    return _items(
        cases.list_cases(
            session=session,
            status=status,
            stage=stage,
            account_id=account_id,
            limit=limit,
            offset=offset,
        )
    )


@router.get("/cases/{case_id}", response_model=Row, responses=error_responses(403, 404))
def case_detail(case_id: Id, session: SessionDep, _user: Collections) -> dict[str, Any]:
    found = cases.case_history(session=session, case_id=case_id)
    if found is None:
        raise NotFound(f"no arrears case {case_id}")
    return found


# --- tasks ----------------------------------------------------------------------------------


@router.get("/tasks", response_model=Rows, responses=error_responses(403))
def list_tasks(
    session: SessionDep,
    _user: CallAgent,
    status: Status = "open",
    kind: Annotated[str | None, Query(pattern="^(call|review)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return _items(
        orders.list_rows(
            session=session, table=cases.TASK, status=status, kind=kind, limit=limit, offset=offset
        )
    )


@router.post(
    "/tasks/{task_id}/complete",
    openapi_extra=json_body_doc(OutcomeBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def complete_task(
    task_id: Id,
    user: CallAgent,
    body: Annotated[OutcomeBody, Depends(exact_json(OutcomeBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return orders.complete_task(
        session=session, clock=clock, actor=user, task_id=task_id, outcome=body.outcome
    )


# --- arrangements ---------------------------------------------------------------------------


@router.get("/arrangements", response_model=Rows, responses=error_responses(403))
def list_arrangements(
    session: SessionDep,
    _user: Collections,
    status: Status = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return _items(
        arrangements.list_arrangements(session=session, status=status, limit=limit, offset=offset)
    )


@router.post(
    "/arrangements",
    openapi_extra=json_body_doc(ArrangementBody),
    status_code=201,
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def create_arrangement(
    user: Collections,
    body: Annotated[ArrangementBody, Depends(exact_json(ArrangementBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    account = account_by_number(session, body.account_number)
    return arrangements.create_arrangement(
        session=session,
        clock=clock,
        rules=arrears_rules(request),
        actor=user,
        account_id=account.id or 0,
        note=body.note,
        instalments=[(i.due_on, i.amount) for i in body.instalments],
    )


@router.post(
    "/arrangements/{arrangement_id}/decline",
    openapi_extra=json_body_doc(ReasonBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def decline_arrangement(
    arrangement_id: Id,
    user: Collections,
    body: Annotated[ReasonBody, Depends(exact_json(ReasonBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return arrangements.decline_arrangement(
        session=session,
        clock=clock,
        rules=arrears_rules(request),
        actor=user,
        arrangement_id=arrangement_id,
        reason=body.reason,
    )


# --- disputes -------------------------------------------------------------------------------


@router.get("/disputes", response_model=Rows, responses=error_responses(403))
def list_disputes(
    session: SessionDep,
    _user: Collections,
    status: Status = "open",
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return _items(
        disputes.list_disputes(session=session, status=status, limit=limit, offset=offset)
    )


@router.post(
    "/disputes",
    openapi_extra=json_body_doc(DisputeBody),
    status_code=201,
    response_model=Row,
    responses=error_responses(403, 404),
)
def open_dispute(
    user: Collections,
    body: Annotated[DisputeBody, Depends(exact_json(DisputeBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    account = account_by_number(session, body.account_number)
    return disputes.staff_open_dispute(
        session=session,
        clock=clock,
        rules=arrears_rules(request),
        actor=user,
        account_id=account.id or 0,
        body=body.body,
        bill_id=body.bill_id,
    )


@router.post(
    "/disputes/{dispute_id}/close",
    openapi_extra=json_body_doc(ReasonBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def close_dispute(
    dispute_id: Id,
    user: Collections,
    body: Annotated[ReasonBody, Depends(exact_json(ReasonBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return disputes.close_dispute(
        session=session,
        clock=clock,
        rules=arrears_rules(request),
        actor=user,
        dispute_id=dispute_id,
        reason=body.reason,
    )


# --- disconnection and reconnection orders --------------------------------------------------


@router.get("/disconnection-orders", response_model=Rows, responses=error_responses(403))
def list_disconnection_orders(
    session: SessionDep,
    _user: Collections,
    status: Status = "proposed",
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return _items(
        orders.list_rows(
            session=session, table=cases.ORDER, status=status, limit=limit, offset=offset
        )
    )


@router.post(
    "/disconnection-orders/{order_id}/approve",
    openapi_extra=json_body_doc(ApproveBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def approve_order(
    order_id: Id,
    user: Collections,
    body: Annotated[ApproveBody, Depends(exact_json(ApproveBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return orders.approve_order(
        session=session,
        clock=clock,
        rules=arrears_rules(request),
        actor=user,
        order_id=order_id,
        at=body.at,
        reason=body.reason,
    )


@router.post(
    "/disconnection-orders/{order_id}/reject",
    openapi_extra=json_body_doc(ReasonBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def reject_order(
    order_id: Id,
    user: Collections,
    body: Annotated[ReasonBody, Depends(exact_json(ReasonBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return orders.reject_order(
        session=session, clock=clock, actor=user, order_id=order_id, reason=body.reason
    )


@router.post(
    "/disconnection-orders/{order_id}/executed",
    openapi_extra=json_body_doc(ExecutedBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def order_executed(
    order_id: Id,
    user: Collections,
    body: Annotated[ExecutedBody, Depends(exact_json(ExecutedBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return orders.record_executed(
        session=session, clock=clock, actor=user, order_id=order_id, at=body.at
    )


@router.get("/reconnection-orders", response_model=Rows, responses=error_responses(403))
def list_reconnection_orders(
    session: SessionDep,
    _user: Collections,
    status: Status = "open",
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return _items(
        orders.list_rows(
            session=session, table=cases.RECONNECT, status=status, limit=limit, offset=offset
        )
    )


@router.post(
    "/reconnection-orders/{order_id}/complete",
    openapi_extra=json_body_doc(NoteBody),
    response_model=Row,
    responses=error_responses(403, 404, 409),
)
def complete_reconnection(
    order_id: Id,
    user: Collections,
    body: Annotated[NoteBody, Depends(exact_json(NoteBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    return orders.complete_reconnection(
        session=session, clock=clock, actor=user, order_id=order_id, note=body.note
    )


# --- the weather forecast -------------------------------------------------------------------


class ForecastBody(BaseModel):
    """A forecast file's text (the staff API takes JSON only: a cross-site form cannot send
    it) and where it came from."""

    model_config = ConfigDict(extra="forbid")
    csv: str = Field(
        min_length=1,
        max_length=64 * 1024,
        description="CSV with the header date,low_c,high_c; one line per day",
        examples=["date,low_c,high_c\n2027-07-20,28,38.5\n"],
    )
    source: str = Field(default="api", min_length=1, max_length=200)


class ForecastImport(BaseModel):
    """What an import stored: the days, how many replaced earlier ones, the first and last
    date, and the days reaching the policy's temperature limits."""

    days: int
    replaced: int
    first: date
    last: date
    extreme_days: list[date]


class ForecastDayRow(BaseModel):
    date: date
    low_c: Decimal
    high_c: Decimal


class ForecastDays(BaseModel):
    items: list[ForecastDayRow]


class ForecastLine(BaseModel):
    where: str  # "line 4"
    reason: str


class ForecastRejectedBody(BaseModel):
    """A forecast file with bad lines: every one of them; nothing was stored."""

    detail: str
    error: str
    lines: list[ForecastLine] = []  # empty when the file could not be read at all


@router.post(
    "/forecast",
    openapi_extra=json_body_doc(ForecastBody),
    response_model=ForecastImport,
    responses={
        **error_responses(403),
        422: {"model": ForecastRejectedBody, "description": "bad lines (nothing stored)"},
    },
)
def import_forecast(
    user: Collections,
    body: Annotated[ForecastBody, Depends(exact_json(ForecastBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
) -> Any:
    """Store a daily forecast (CSV `date,low_c,high_c`, one line per day); days imported
    before are replaced. Any bad line: 422 listing every line (`lines`), nothing stored."""
    try:
        return forecast.import_forecast(
            session=session, clock=clock, text=body.csv, source=body.source,
            actor=collections(user), rules=arrears_rules(request),
        )  # fmt: skip
    except forecast.ForecastRejected as exc:
        return JSONResponse(
            {"detail": str(exc), "error": "invalid_input",
             "lines": [{"where": r.where, "reason": r.reason} for r in exc.rejections]},
            status_code=422,
        )  # fmt: skip


@router.get("/forecast", response_model=ForecastDays, responses=error_responses(403))
def list_forecast(
    session: SessionDep, _user: Collections, since: date | None = None
) -> dict[str, Any]:
    """The imported forecast's days from `since` (default: all)."""
    days = forecast.load_forecast(session, since=since or date.min)
    return {
        "items": [
            {"date": d.isoformat(), "low_c": str(f.low_c), "high_c": str(f.high_c)}
            for d, f in sorted(days.items())
        ]
    }
