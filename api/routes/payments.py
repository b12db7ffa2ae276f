"""The staff API for payments from other channels and refunds (role collections or admin):
import a batch of payments, list probable duplicates, and take a refund through its workflow
(request → approve → refunded, or reject)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api import schemas
from api.auth import actor_name, staff_router, staff_with_role
from api.deps import ClockDep, Id, PaymentContextDep, SessionDep, SettingsDep, exact_json
from api.errors import error_responses
from billing_core.payments import refunds
from billing_core.payments.importing import ApiPayment, parse_api_json
from billing_core.payments.reconcile import import_payments
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1", tags=["payments"])

MAX_PAYMENTS = 10_000  # a larger batch is split by the caller; each part is reported alone

Collections = Annotated[StaffUser, Depends(staff_with_role(*refunds.REFUND_ROLES))]


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# --- a batch of payments ----------------------------------------------------------------------


class PaymentsBody(BaseModel):
    """The request body. Each item of `payments` is checked on its own (see ApiPayment), so
    one bad item is reported in the batch, not answered with 422."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200)
    payments: list[Any] = Field(min_length=1, max_length=MAX_PAYMENTS)


_PAYMENTS_SCHEMA = {
    "type": "object",
    "required": ["source", "payments"],
    "properties": {
        "source": {"type": "string", "minLength": 1, "maxLength": 200},
        "payments": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_PAYMENTS,
            "items": ApiPayment.model_json_schema(),
        },
    },
}


@router.post(
    "/payments",
    summary="Record a batch of payments from a bank, counter, ATM, kiosk, phone or platform",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _PAYMENTS_SCHEMA}},
        }
    },
    response_model=schemas.PaymentsReport,
    responses=error_responses(403),
)
def post_payments(
    user: Collections,  # its role is checked before the body is read
    body: Annotated[PaymentsBody, Depends(exact_json(PaymentsBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    context: PaymentContextDep,
) -> dict[str, Any]:
    """Each acceptable payment is recorded once per (channel, reference): sending the same
    batch again records nothing twice and reports those lines as already recorded."""
    parsed = parse_api_json(
        body.payments, tz=settings.tz, currency=settings.currency, now=clock.now()
    )
    report = import_payments(
        session=session,
        clock=clock,
        context=context,
        parsed=parsed,
        source=f"api:{body.source}",
        actor=actor_name(user),
    )
    return report.to_json()


@router.get(
    "/payments/duplicates",
    summary="Probable duplicate payments to act on",
    response_model=schemas.ProbableDuplicates,
    responses=error_responses(403),
)
def get_duplicates(
    session: SessionDep,
    _user: Collections,
    include_settled: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    found = refunds.probable_duplicates(
        session=session, include_settled=include_settled, limit=limit
    )
    return {"duplicates": [item.to_json() for item in found]}


# --- refunds ----------------------------------------------------------------------------------


class RefundRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, max_digits=18, decimal_places=2)
    reason: str = Field(min_length=1, max_length=refunds.MAX_REASON)


class RefundedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_reference: str = Field(min_length=1, max_length=refunds.MAX_PROVIDER_REFERENCE)


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=refunds.MAX_REASON)


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    summary="Request a refund (退费) of (part of) a payment",
    openapi_extra=_schema(RefundRequestBody),
    response_model=schemas.Refund,
    responses=error_responses(403, 404, 409),
)
def post_refund(
    payment_id: Id,
    user: Collections,
    body: Annotated[RefundRequestBody, Depends(exact_json(RefundRequestBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    refund = refunds.request_refund(
        session=session,
        clock=clock,
        payment_id=payment_id,
        amount=body.amount,
        reason=body.reason,
        actor=user,
    )
    return refunds.refund_json(refund)


@router.post(
    "/refunds/{refund_id}/approve",
    summary="Approve a refund (not one's own)",
    response_model=schemas.Refund,
    responses=error_responses(403, 404, 409),
)
def approve(
    refund_id: Id, user: Collections, session: SessionDep, clock: ClockDep
) -> dict[str, Any]:
    refund = refunds.approve_refund(session=session, clock=clock, refund_id=refund_id, actor=user)
    return refunds.refund_json(refund)


@router.post(
    "/refunds/{refund_id}/refunded",
    summary="Say an approved refund was paid out",
    openapi_extra=_schema(RefundedBody),
    response_model=schemas.Refund,
    responses=error_responses(403, 404, 409),
)
def refunded(
    refund_id: Id,
    user: Collections,
    body: Annotated[RefundedBody, Depends(exact_json(RefundedBody))],
    session: SessionDep,
    clock: ClockDep,
    context: PaymentContextDep,
) -> dict[str, Any]:
    refund = refunds.mark_refunded(
        session=session,
        clock=clock,
        context=context,
        refund_id=refund_id,
        actor=user,
        provider_reference=body.provider_reference,
    )
    return refunds.refund_json(refund)


@router.post(
    "/refunds/{refund_id}/reject",
    summary="Reject a refund not yet paid out",
    openapi_extra=_schema(RejectBody),
    response_model=schemas.Refund,
    responses=error_responses(403, 404, 409),
)
def reject(
    refund_id: Id,
    user: Collections,
    body: Annotated[RejectBody, Depends(exact_json(RejectBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    refund = refunds.reject_refund(
        session=session, clock=clock, refund_id=refund_id, actor=user, reason=body.reason
    )
    return refunds.refund_json(refund)
