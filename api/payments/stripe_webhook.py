"""`POST /payments/stripe/webhook`: verify Stripe's signature on the raw body, parse the
Checkout Session event and apply it once, in one unit of work (the rules are the core's:
billing_core/payments/checkout_events.py)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlmodel import Session

from api import schemas
from api.deps import ClockDep, EngineDep, PaymentContextDep, SettingsDep
from billing_core.clock import Clock
from billing_core.db.unit_of_work import UNIT_RETRY, WRITE
from billing_core.payments.checkout_events import CheckoutEvent, record_checkout_event
from billing_core.payments.service import PaymentContext

log = logging.getLogger("wattdesk.payments.stripe")

router = APIRouter(tags=["payments"])

TOLERANCE_SECONDS = 300  # stripe-python's default: older signed timestamps are replays


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes, not a re-encoding."""
    return await request.body()


@router.post(
    "/payments/stripe/webhook",
    response_model=schemas.StripeEventAnswer,
    responses={
        400: {"description": "Invalid signature or payload"},
        503: {"description": "Stripe webhooks are not configured"},
    },
)
def stripe_webhook(
    payload: Annotated[bytes, Depends(raw_body)],
    settings: SettingsDep,
    engine: EngineDep,
    clock: ClockDep,
    context: PaymentContextDep,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> schemas.StripeEventAnswer | JSONResponse:
    secret = settings.stripe_webhook_secret.get_secret_value()
    if not secret:
        log.error("stripe webhook called but WATTDESK_STRIPE_WEBHOOK_SECRET is not set")
        return JSONResponse({"detail": "stripe webhooks are not configured"}, status_code=503)
    try:
        event = stripe.Webhook.construct_event(
            payload, stripe_signature, secret, tolerance=TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        # The message says what failed (no header, no match, too old); it holds no secret.
        log.warning("stripe webhook refused: %s", exc.user_message or "bad signature")
        return JSONResponse({"detail": "invalid signature"}, status_code=400)
    except ValueError:  # signed, but not a JSON event
        log.warning("stripe webhook refused: the body is not a Stripe event")
        return JSONResponse({"detail": "invalid payload"}, status_code=400)
    outcome = apply_stripe_event(engine=engine, clock=clock, context=context, event=event.to_dict())
    return schemas.StripeEventAnswer(received=True, outcome=outcome)


# --- applying a verified event -------------------------------------------------------------


def apply_stripe_event(
    *, engine: Engine, clock: Clock, context: PaymentContext, event: dict[str, Any]
) -> str:
    """Apply a verified event in one transaction; returns what happened, for the answer and
    the logs. The unit of work is opened here rather than by the request's SessionDep so that
    a transient failure (a locked SQLite file, a PostgreSQL deadlock victim) runs the whole
    transaction again (billing_core.db.unit_of_work: the one retry loop)."""
    checkout_event = CheckoutEvent.from_event(event)

    def unit(session: Session) -> str:
        return record_checkout_event(
            session=session, clock=clock, context=context, event=checkout_event
        )

    return UNIT_RETRY.transaction(engine, unit, WRITE)
