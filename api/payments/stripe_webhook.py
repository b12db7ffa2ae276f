"""`POST /payments/stripe/webhook`: verify Stripe's signature on the raw body, parse the
Checkout Session event and apply it once, in one unit of work (the rules are the core's:
billing_core/payments/checkout_events.py)."""

from __future__ import annotations

import json
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
from billing_core.payments.checkout_events import (
    CheckoutEvent,
    MalformedEvent,
    record_checkout_event,
    record_refused_event,
)
from billing_core.payments.providers import STRIPE
from billing_core.payments.service import PaymentContext

log = logging.getLogger("wattdesk.payments.stripe")

router = APIRouter(tags=["payments"])

STRIPE_WEBHOOK_PATH = "/payments/stripe/webhook"
TOLERANCE_SECONDS = 300  # stripe-python's default: older signed timestamps are replays


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes, not a re-encoding. Its
    size is bounded while it is read (api/limits.py)."""
    return await request.body()


@router.post(
    STRIPE_WEBHOOK_PATH,
    response_model=schemas.StripeEventAnswer,
    responses={
        400: {"description": "Invalid signature, or a signed body that is not a usable event"},
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
    """The signature is checked over the raw bytes before anything parses them; a signed
    body that is no usable event (not JSON, or a Checkout event missing what it is applied
    by) is refused with 400 and recorded in the audit log for staff."""
    secret = settings.stripe_webhook_secret.get_secret_value()
    if not secret:
        log.error("stripe webhook called but WATTDESK_STRIPE_WEBHOOK_SECRET is not set")
        return JSONResponse({"detail": "stripe webhooks are not configured"}, status_code=503)
    try:
        text = payload.decode("utf-8")  # Stripe signs the body as UTF-8 text
    except UnicodeDecodeError:
        log.warning("stripe webhook refused: the body is not UTF-8 text")
        return JSONResponse({"detail": "invalid payload"}, status_code=400)
    # stripe compares signatures with hmac.compare_digest, which raises on non-ASCII text.
    if not stripe_signature or not stripe_signature.isascii():
        log.warning("stripe webhook refused: no Stripe-Signature header")
        return JSONResponse({"detail": "invalid signature"}, status_code=400)
    try:
        stripe.WebhookSignature.verify_header(
            text, stripe_signature, secret, tolerance=TOLERANCE_SECONDS
        )
    except stripe.SignatureVerificationError as exc:
        # The message says what failed (no header, no match, too old); it holds no secret.
        log.warning("stripe webhook refused: %s", exc.user_message or "bad signature")
        return JSONResponse({"detail": "invalid signature"}, status_code=400)
    # Verified: from here on the body is Stripe's, and parsed as plain JSON.
    try:
        event: Any = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return refuse_stripe_event(
            engine=engine, clock=clock, event=None, reason="the body is not JSON"
        )
    try:
        outcome = apply_stripe_event(engine=engine, clock=clock, context=context, event=event)
    except MalformedEvent as exc:
        return refuse_stripe_event(engine=engine, clock=clock, event=event, reason=str(exc))
    return schemas.StripeEventAnswer(received=True, outcome=outcome)


def _no_constant(name: str) -> Any:
    """NaN and Infinity are no JSON (Python's json reads them; PostgreSQL's json refuses)."""
    raise ValueError(f"{name} is not JSON")


# --- applying a verified event -------------------------------------------------------------


def apply_stripe_event(
    *, engine: Engine, clock: Clock, context: PaymentContext, event: object
) -> str:
    """Apply a verified event in one transaction; returns what happened, for the answer and
    the logs. The unit of work is opened here rather than by the request's SessionDep so that
    a transient failure (a locked SQLite file, a PostgreSQL deadlock victim) runs the whole
    transaction again (billing_core.db.unit_of_work: the one retry loop). Raises
    MalformedEvent, before any transaction, for an event it cannot apply."""
    checkout_event = CheckoutEvent.from_event(event)

    def unit(session: Session) -> str:
        return record_checkout_event(
            session=session, clock=clock, context=context, event=checkout_event
        )

    return UNIT_RETRY.transaction(engine, unit, WRITE)


def refuse_stripe_event(
    *, engine: Engine, clock: Clock, event: object, reason: str
) -> JSONResponse:
    """400 for a verified event wattdesk cannot apply, recorded in the audit log (Stripe
    retries a refused event for days: each delivery is one more entry, and a warning)."""
    event_id = event.get("id") if isinstance(event, dict) else None
    log.warning("stripe webhook refused a signed event %r: %s", str(event_id)[:64], reason)

    def unit(session: Session) -> None:
        record_refused_event(
            session=session, clock=clock, provider=STRIPE, event=event, reason=reason
        )

    UNIT_RETRY.transaction(engine, unit, WRITE)
    return JSONResponse({"detail": f"invalid event: {reason}"}, status_code=400)
