"""The review queue (`/console/review`, role reviewer): bills a review rule held, oldest
first, each approved (issued as drafted) or corrected (cancelled and billed again) with the
same service calls and rules as the review API (`api/routes/review.py`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import Depends, Form, Request, status
from fastapi.responses import HTMLResponse, Response

from api.console.pages import (
    NavItem,
    PageRefused,
    after_action,
    console_router,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, SessionDep, SettingsDep, id_or_none
from billing_core.app_services import services
from billing_core.bills import review_service
from billing_core.bills.model import ReviewThresholds
from billing_core.errors import InvalidInput
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/review", "Review queue", (Role.reviewer,))
Reviewer = Annotated[StaffUser, Depends(with_role(Role.reviewer))]
SHOWN = 100


def _bill_id(value: str) -> int:
    number = id_or_none(value)
    if number is None:
        raise PageRefused(status.HTTP_404_NOT_FOUND, f"no bill {value}")
    return number


@router.get("/console/review", response_class=HTMLResponse)
def review_page(
    request: Request, user: Reviewer, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    items = review_service.list_review_items(session=session, clock=clock, limit=SHOWN)
    policy = services(request).review_policy
    return render(request, "console/review.html", user,
                  {"items": items, "causes": policy.causes, "shown": SHOWN})  # fmt: skip


@router.post("/console/review/{bill_id}/approve")
def approve(
    bill_id: str,
    request: Request,
    user: Reviewer,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    number = _bill_id(bill_id)
    with refusals(session) as problems:
        review_service.approve_bill(session=session, clock=clock, tz=settings.tz,
                                    bill_id=number, reviewer=user, note=note,
                                    payment_terms=services(request).payment_terms)  # fmt: skip
    return after_action("/console/review", problems, f"bill {number} approved and issued")


@router.post("/console/review/{bill_id}/correct")
def correct(
    bill_id: str,
    request: Request,
    user: Reviewer,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    cause: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    kwh: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A correction with a cause, a note and (optionally) the right kWh; register readings
    and adjustment lines are the review API's (`POST /api/v1/bills/{id}/correct`)."""
    number = _bill_id(bill_id)
    policy = services(request).review_policy
    with refusals(session) as problems:
        review_service.correct_bill(
            session=session, clock=clock, tz=settings.tz, bill_id=number, reviewer=user,
            cause=cause, causes=tuple(c.code for c in policy.causes),
            tariff=services(request).tariffs.get(review_service.bill_tariff_code(session, number)),
            thresholds=ReviewThresholds.from_policy(policy), note=note, kwh=_kwh(kwh),
            registers=None, adjustments=(), payment_terms=services(request).payment_terms,
        )  # fmt: skip
    return after_action("/console/review", problems, f"bill {number} corrected and billed again")


def _kwh(text: str) -> Decimal | None:
    """The form's kWh as the review API takes it: at least 0, at most 3 decimals."""
    if not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInput(f"kwh: {text!r} is not a number") from None
    exponent = value.as_tuple().exponent
    if not value.is_finite() or value < 0 or not isinstance(exponent, int) or exponent < -3:
        raise InvalidInput("kwh: a number of at least 0 with at most 3 decimals")
    if len(value.as_tuple().digits) > 15:
        raise InvalidInput("kwh: at most 15 digits")
    return value
