"""The staff API for the review queue (role reviewer): list, approve, correct, summarise.

A correction with refund or re-bill lines answers the re-bill held `in_review`; approving or
correcting it again is for a second reviewer: its preparer gets a 409 that says so."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from api import schemas
from api.auth import staff_router, staff_with_role
from api.deps import ClockDep, Id, Offset, SessionDep, SettingsDep, exact_json, json_body_doc
from api.errors import error_responses
from billing_core.app_services import services
from billing_core.bills import review_service
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import ReviewPolicy
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser
from billing_core.tariffs.catalog import TariffCatalog

router = staff_router(prefix="/api/v1", tags=["review"])
Reviewer = Annotated[StaffUser, Depends(staff_with_role(Role.reviewer))]


class ApproveBody(BaseModel):
    note: str = Field(default="", max_length=500)


class AdjustmentBody(BaseModel):
    component: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(decimal_places=2, max_digits=12)
    reason: str = Field(min_length=1, max_length=300)


class CorrectBody(BaseModel):
    cause: str
    note: str = Field(min_length=1, max_length=500)
    kwh: Decimal | None = Field(default=None, ge=0, decimal_places=3, max_digits=15)
    registers: (
        dict[str, Annotated[Decimal, Field(ge=0, decimal_places=3, max_digits=15)]] | None
    ) = None
    adjustments: list[AdjustmentBody] = Field(default_factory=list, max_length=20)


@router.get("/review-items", response_model=schemas.ReviewItems, responses=error_responses(403))
def list_items(
    session: SessionDep,
    clock: ClockDep,
    _user: Reviewer,
    rule: str | None = None,
    book: str | None = None,
    min_age_days: Annotated[int | None, Query(ge=0, le=36_500)] = None,  # a century at most
    status: Annotated[str, Query(pattern="^(open|approved|corrected)$")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    rows = review_service.list_review_items(
        session=session,
        clock=clock,
        rule=rule,
        book=book,
        min_age_days=min_age_days,
        status=status,
        limit=limit,
        offset=offset,
    )
    return {"items": [row.as_json() for row in rows]}


@router.post(
    "/bills/{bill_id}/approve",
    openapi_extra=json_body_doc(ApproveBody),
    response_model=schemas.ReviewedBill,
    responses=error_responses(403, 404, 409),
)
def approve(
    bill_id: Id,
    user: Reviewer,  # its role is checked before the body is read
    body: Annotated[ApproveBody, Depends(exact_json(ApproveBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    bill = review_service.approve_bill(
        session=session,
        clock=clock,
        tz=settings.tz,
        bill_id=bill_id,
        reviewer=user,
        note=body.note,
        payment_terms=services(request).payment_terms,
    )
    return review_service.bill_json(bill)


@router.post(
    "/bills/{bill_id}/correct",
    openapi_extra=json_body_doc(CorrectBody),
    response_model=schemas.ReviewedBill,
    responses=error_responses(403, 404, 409),
)
def correct(
    bill_id: Id,
    user: Reviewer,  # its role is checked before the body is read
    body: Annotated[CorrectBody, Depends(exact_json(CorrectBody))],
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    policy: ReviewPolicy = services(request).review_policy
    catalog: TariffCatalog = services(request).tariffs
    bill = review_service.correct_bill(
        session=session,
        clock=clock,
        tz=settings.tz,
        bill_id=bill_id,
        reviewer=user,
        cause=body.cause,
        causes=tuple(c.code for c in policy.causes),
        tariff=catalog.get(review_service.bill_tariff_code(session, bill_id)),
        thresholds=ReviewThresholds.from_policy(policy),
        note=body.note,
        kwh=body.kwh,
        registers=body.registers,
        adjustments=tuple(
            review_service.Adjustment(a.component, a.amount, a.reason) for a in body.adjustments
        ),
        payment_terms=services(request).payment_terms,
    )
    return review_service.bill_json(bill)


@router.get("/reports/review", response_model=schemas.ReviewSummary, responses=error_responses(403))
def review_report(
    session: SessionDep,
    settings: SettingsDep,
    _user: Reviewer,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
) -> dict[str, Any]:
    try:
        first = datetime.strptime(month, "%Y-%m").date()  # noqa: DTZ007 - a calendar month
    except ValueError as exc:  # year 0000
        raise HTTPException(422, str(exc)) from None
    return review_service.monthly_summary(session=session, month=first, tz=settings.tz)


@router.get("/review-causes", response_model=schemas.ReviewCauses, responses=error_responses(403))
def causes(request: Request, _user: Reviewer) -> dict[str, Any]:
    policy: ReviewPolicy = services(request).review_policy
    return {
        "causes": [
            {"code": c.code, "labels": {str(k): v for k, v in c.labels.items()}}
            for c in policy.causes
        ]
    }
