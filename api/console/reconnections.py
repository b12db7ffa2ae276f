"""Reconnection orders (`/console/reconnections`, role collections): raised by the ladder
when a disconnected (or approved) account pays or agrees an arrangement, oldest first with
their target time; completed when the field crew reports supply back (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from api.console.arrears import Collections, path_id, with_accounts
from api.console.pages import NavItem, after_action, console_router, refusals, render
from api.deps import ClockDep, SessionDep
from billing_core.arrears import cases, orders
from billing_core.arrears.actions import MAX_REASON
from billing_core.staff.model import Role

router = console_router()
NAV = NavItem("/console/reconnections", "Reconnections", (Role.collections,))
HERE = "/console/reconnections"
SHOWN = 200


@router.get(HERE, response_class=HTMLResponse)
def reconnections_page(request: Request, user: Collections, session: SessionDep) -> HTMLResponse:
    rows = orders.list_rows(session=session, table=cases.RECONNECT, status="open", limit=SHOWN)
    return render(request, "console/reconnections.html", user,
                  {"orders": with_accounts(session, rows), "shown": SHOWN,
                   "max_reason": MAX_REASON})  # fmt: skip


@router.post(HERE + "/{order_id}/complete")
def complete(
    order_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    note: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> Response:
    number = path_id(order_id, "reconnection order")
    with refusals(session) as problems:
        orders.complete_reconnection(session=session, clock=clock, actor=user,
                                     order_id=number, note=note)  # fmt: skip
    return after_action(HERE, problems, f"reconnection order {number} done")
