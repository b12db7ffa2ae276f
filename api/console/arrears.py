"""Arrears cases (`/console/arrears`, role collections): open (or closed) cases filtered by
stage, and a case's page with its ladder history (every step taken or skipped, and why), its
tasks, disconnection and reconnection orders, arrangements (create one with instalments,
decline one) and disputes (open one, close one). The same service calls and rules as the
arrears API (`api/routes/arrears.py`); every action is audited by its service."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from api.console.pages import (
    NavItem,
    PageRefused,
    after_action,
    console_router,
    local_time,
    refusals,
    render,
    templates,
    with_role,
)
from api.deps import ClockDep, SessionDep, arrears_rules, id_or_none
from billing_core.app_services import services
from billing_core.arrears import arrangements, cases, disputes, orders
from billing_core.arrears.policy import Step
from billing_core.errors import InvalidInput
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/arrears", "Arrears", (Role.collections,))
Collections = Annotated[StaffUser, Depends(with_role(Role.collections))]
SHOWN = 200
STATUSES = ("open", "closed", "all")
STAGES = ("opened", *(step.value for step in Step))
MAX_INSTALMENT_LINES = 60  # as the API's body


def local_iso(value: str | None, tz: ZoneInfo) -> str:
    """An ISO 8601 instant as the arrears services answer it, in the utility's time zone."""
    return local_time(datetime.fromisoformat(value), tz) if value else ""


templates.env.filters["local_iso"] = local_iso


def path_id(value: str, what: str) -> int:
    """A row's id from the page's path, or the 404 page."""
    number = id_or_none(value)
    if number is None:
        raise PageRefused(status.HTTP_404_NOT_FOUND, f"no {what} {value}")
    return number


def with_accounts(session: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as the services answer them, each with its account's number."""
    numbers = cases.account_numbers(session, (row["account_id"] for row in rows))
    return [{**row, "account_number": numbers.get(row["account_id"], "")} for row in rows]


@router.get("/console/arrears", response_class=HTMLResponse)
def cases_page(
    request: Request,
    user: Collections,
    session: SessionDep,
    stage: Annotated[str, Query(max_length=48)] = "",
    state: Annotated[str, Query(max_length=16)] = "open",
) -> HTMLResponse:
    if stage and stage not in STAGES:
        raise PageRefused(status.HTTP_422_UNPROCESSABLE_CONTENT, f"stage: no stage {stage!r}")
    if state not in STATUSES:
        raise PageRefused(status.HTTP_422_UNPROCESSABLE_CONTENT,
                          f"state: one of {', '.join(STATUSES)}")  # fmt: skip
    rows = cases.list_cases(session=session, status=None if state == "all" else state,
                            stage=stage or None, limit=SHOWN)  # fmt: skip
    return render(
        request, "console/arrears.html", user,
        {"cases": with_accounts(session, rows), "stage": stage, "state": state,
         "stages": STAGES, "states": STATUSES, "shown": SHOWN},
    )  # fmt: skip


def _case(session: Any, case_id: str, user: StaffUser | None = None) -> dict[str, Any]:
    """The case the path names, with its history, or the 404 page."""
    number = path_id(case_id, "arrears case")
    history = cases.case_history(session=session, case_id=number)
    if history is None:
        raise PageRefused(status.HTTP_404_NOT_FOUND, f"no arrears case {number}", user=user)
    return history


@router.get("/console/arrears/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: str, user: Collections, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    history = _case(session, case_id, user)
    number = history["id"]
    account_id = history["account_id"]
    ours = set(history["disputes"])
    rules = services(request).payment_context.arrears
    return render(
        request, "console/arrears_case.html", user,
        {"case": history,
         "account_number": cases.account_numbers(session, [account_id]).get(account_id, ""),
         "tasks": orders.list_rows(session=session, table=cases.TASK, status=None,
                                   case_id=number),
         "disconnections": orders.list_rows(session=session, table=cases.ORDER, status=None,
                                            case_id=number),
         "reconnections": orders.list_rows(session=session, table=cases.RECONNECT, status=None,
                                           case_id=number),
         "arrangements": [arrangements.arrangement_json(session, i)
                          for i in history["arrangements"]],
         "disputes": [d for d in disputes.list_disputes(session=session, status=None,
                                                        account_id=account_id, limit=1000)
                      if d["id"] in ours],
         "pausing": arrangements.PAUSING,
         "today": clock.now().astimezone(rules.tz).date() if rules else None,
         "policy": rules.collections if rules else None},
    )  # fmt: skip


def _to_case(case: dict[str, Any], problems: list[str], done: str) -> Response:
    """Back to the case's page, with what was done or why it was refused."""
    return after_action(f"/console/arrears/{case['id']}", problems, done)


def parse_instalments(text: str) -> list[tuple[date, Decimal]]:
    """Instalments from the form's lines, one `YYYY-MM-DD amount` a line (the service checks
    the dates, count and amounts against the policy)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        raise InvalidInput("instalments: at least one line `YYYY-MM-DD amount`")
    if len(lines) > MAX_INSTALMENT_LINES:
        raise InvalidInput(f"instalments: at most {MAX_INSTALMENT_LINES} lines")
    found = []
    for seq, parts in enumerate(lines, start=1):
        try:
            if len(parts) != 2:
                raise ValueError
            on, amount = date.fromisoformat(parts[0]), Decimal(parts[1])
        except (ValueError, InvalidOperation):
            raise InvalidInput(
                f"instalments: line {seq} is not `YYYY-MM-DD amount` (e.g. 2026-12-20 150.00)"
            ) from None
        if not amount.is_finite():
            raise InvalidInput(f"instalments: line {seq} has no amount")
        found.append((on, amount))
    return found


@router.post("/console/arrears/{case_id}/arrangements")
def create_arrangement(
    request: Request,
    case_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    instalments: Annotated[str, Form(max_length=4000)] = "",
    note: Annotated[str, Form(max_length=4 * arrangements.MAX_NOTE)] = "",
) -> Response:
    case = _case(session, case_id)
    made: dict[str, Any] = {}
    with refusals(session) as problems:
        made = arrangements.create_arrangement(
            session=session, clock=clock, rules=arrears_rules(request), actor=user,
            account_id=case["account_id"], note=note, instalments=parse_instalments(instalments),
        )  # fmt: skip
    return _to_case(case, problems, f"arrangement {made.get('id')} agreed")


@router.post("/console/arrears/{case_id}/arrangements/{arrangement_id}/decline")
def decline_arrangement(
    request: Request,
    case_id: str,
    arrangement_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=1200)] = "",
) -> Response:
    case = _case(session, case_id)
    number = path_id(arrangement_id, "arrangement")
    with refusals(session) as problems:
        arrangements.decline_arrangement(session=session, clock=clock,
                                         rules=arrears_rules(request), actor=user,
                                         arrangement_id=number, reason=reason)  # fmt: skip
    return _to_case(case, problems, f"arrangement {number} declined")


@router.post("/console/arrears/{case_id}/disputes")
def open_dispute(
    request: Request,
    case_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    body: Annotated[str, Form(max_length=4 * disputes.MAX_BODY)] = "",
    bill: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    case = _case(session, case_id)
    opened: dict[str, Any] = {}
    with refusals(session) as problems:
        bill_id = id_or_none(bill.strip()) if bill.strip() else None
        if bill.strip() and bill_id is None:
            raise InvalidInput("bill: a bill's number (its id), or nothing for the whole debt")
        opened = disputes.staff_open_dispute(
            session=session, clock=clock, rules=arrears_rules(request), actor=user,
            account_id=case["account_id"], body=body, bill_id=bill_id,
        )  # fmt: skip
    return _to_case(case, problems, f"dispute {opened.get('id')} opened")


@router.post("/console/arrears/{case_id}/disputes/{dispute_id}/close")
def close_dispute(
    request: Request,
    case_id: str,
    dispute_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=1200)] = "",
) -> Response:
    case = _case(session, case_id)
    number = path_id(dispute_id, "dispute")
    with refusals(session) as problems:
        disputes.close_dispute(session=session, clock=clock, rules=arrears_rules(request),
                               actor=user, dispute_id=number, reason=reason)  # fmt: skip
    return _to_case(case, problems, f"dispute {number} closed")
