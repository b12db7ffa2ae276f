"""Disconnection approvals (`/console/disconnections`, role collections): work orders the
ladder proposed, each approved for a time (only inside the humane windows: a refused time
comes back with the service's reason) or rejected with a reason; approved orders, rejected
or reported executed by the field crew. The same service calls as the arrears API; wattdesk
never cuts supply itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from api.console.arrears import Collections, path_id, with_accounts
from api.console.pages import NavItem, after_action, console_router, refusals, render
from api.deps import ClockDep, SessionDep, SettingsDep, arrears_rules
from billing_core.app_services import services
from billing_core.arrears import cases, orders
from billing_core.arrears.actions import MAX_REASON
from billing_core.errors import InvalidInput
from billing_core.staff.model import Role

router = console_router()
NAV = NavItem("/console/disconnections", "Disconnections", (Role.collections,))
HERE = "/console/disconnections"
SHOWN = 200


def local_instant(value: str, tz: ZoneInfo, *, field: str = "at") -> datetime:
    """A time from a form (`2026-12-09T09:30`, the utility's local time unless it names
    its offset), as an aware instant."""
    try:
        found = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"{field}: a date and time, e.g. 2026-12-09T09:30") from None
    return found if found.tzinfo is not None else found.replace(tzinfo=tz)


def _back(order_id: int, problems: list[str], done: str) -> Response:
    """Back to the page, with what was done or why the order's action was refused."""
    problem = f"order {order_id}: " + "; ".join(problems) if problems else ""
    return after_action(HERE, [problem] if problems else [], done)


@router.get(HERE, response_class=HTMLResponse)
def disconnections_page(
    request: Request, user: Collections, session: SessionDep, settings: SettingsDep
) -> HTMLResponse:
    rows = {state: with_accounts(session, orders.list_rows(
        session=session, table=cases.ORDER, status=state, limit=SHOWN))
        for state in ("proposed", "approved")}  # fmt: skip
    rules = services(request).payment_context.arrears
    return render(
        request, "console/disconnections.html", user,
        {"proposed": rows["proposed"], "approved": rows["approved"], "shown": SHOWN,
         "rule": rules.ladder.disconnection if rules else None,
         "local_tz": settings.tz, "max_reason": MAX_REASON},
    )  # fmt: skip


@router.post(HERE + "/{order_id}/approve")
def approve(
    request: Request,
    order_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    at: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=4 * MAX_REASON)] = "",
) -> Response:
    number = path_id(order_id, "disconnection order")
    when = ""
    with refusals(session) as problems:
        instant = local_instant(at, settings.tz)
        when = instant.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        orders.approve_order(session=session, clock=clock, rules=arrears_rules(request),
                             actor=user, order_id=number, at=instant, reason=reason)  # fmt: skip
    return _back(number, problems, f"order {number} approved for {when}")


@router.post(HERE + "/{order_id}/reject")
def reject(
    order_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=4 * MAX_REASON)] = "",
) -> Response:
    number = path_id(order_id, "disconnection order")
    with refusals(session) as problems:
        orders.reject_order(session=session, clock=clock, actor=user, order_id=number,
                            reason=reason)  # fmt: skip
    return _back(number, problems, f"order {number} rejected")


@router.post(HERE + "/{order_id}/executed")
def executed(
    order_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The field crew's report: supply was cut at `at`."""
    number = path_id(order_id, "disconnection order")
    with refusals(session) as problems:
        orders.record_executed(session=session, clock=clock, actor=user, order_id=number,
                               at=local_instant(at, settings.tz))  # fmt: skip
    return _back(number, problems, f"order {number} recorded as executed")
