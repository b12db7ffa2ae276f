"""Refunds to approve (`/console/refunds`, role collections): refunds requested and not yet
decided, approved (by someone other than the requester) or rejected, with the same service
calls and rules as the payments API (`api/routes/payments.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlmodel import col

from api.console.pages import (
    NavItem,
    PageRefused,
    after_action,
    console_router,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, SessionDep, id_or_none
from billing_core.customers.tables import Account
from billing_core.payments import refunds
from billing_core.payments.tables import Refund
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/refunds", "Refunds", refunds.REFUND_ROLES)
Collections = Annotated[StaffUser, Depends(with_role(*refunds.REFUND_ROLES))]
SHOWN = 200


def _refund_id(value: str) -> int:
    number = id_or_none(value)
    if number is None:
        raise PageRefused(status.HTTP_404_NOT_FOUND, f"no refund {value}")
    return number


@router.get("/console/refunds", response_class=HTMLResponse)
def refunds_page(request: Request, user: Collections, session: SessionDep) -> HTMLResponse:
    waiting = session.execute(
        select(Refund, col(Account.number))
        .join(Account, col(Account.id) == col(Refund.account_id))
        .where(col(Refund.status) == refunds.REQUESTED)
        .order_by(col(Refund.requested_at), col(Refund.id))
        .limit(SHOWN)
    ).all()
    return render(
        request, "console/refunds.html", user,
        {"waiting": waiting, "me": refunds.staff_actor(user), "shown": SHOWN,
         "max_reason": refunds.MAX_REASON},
    )  # fmt: skip


@router.post("/console/refunds/{refund_id}/approve")
def approve(refund_id: str, user: Collections, session: SessionDep, clock: ClockDep) -> Response:
    number = _refund_id(refund_id)
    with refusals(session) as problems:
        refunds.approve_refund(session=session, clock=clock, refund_id=number, actor=user)
    return after_action("/console/refunds", problems, f"refund {number} approved")


@router.post("/console/refunds/{refund_id}/reject")
def reject(
    refund_id: str,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=4 * refunds.MAX_REASON)] = "",
) -> Response:
    number = _refund_id(refund_id)
    with refusals(session) as problems:
        refunds.reject_refund(session=session, clock=clock, refund_id=number, actor=user,
                              reason=reason)  # fmt: skip
    return after_action("/console/refunds", problems, f"refund {number} rejected")
