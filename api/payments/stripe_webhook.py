"""`POST /payments/stripe/webhook`: verify Stripe's signature on the raw body, then apply a
Checkout Session event once — the payment, its ledger entry and the event row in one
transaction, however often and however concurrently Stripe delivers it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api.deps import ClockDep, EngineDep, PaymentContextDep, SettingsDep
from api.payments.stripe_provider import ATTEMPT_REFERENCE_PREFIX, STRIPE, minor_units
from billing_core.clock import Clock
from billing_core.db.unit_of_work import UNIT_RETRY, WRITE
from billing_core.errors import InvalidInput
from billing_core.events.service import record_events
from billing_core.payments.service import PaymentContext, complete_checkout, fail_checkout
from billing_core.payments.tables import CheckoutAttempt, PayLink, ProviderEvent

log = logging.getLogger("wattdesk.payments.stripe")

router = APIRouter(tags=["payments"])

TOLERANCE_SECONDS = 300  # stripe-python's default: older signed timestamps are replays
PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
AMOUNT_MISMATCH = "stripe_amount_mismatch"


async def raw_body(request: Request) -> bytes:
    """The body exactly as sent: the signature covers these bytes, not a re-encoding."""
    return await request.body()


@router.post("/payments/stripe/webhook")
def stripe_webhook(
    payload: Annotated[bytes, Depends(raw_body)],
    settings: SettingsDep,
    engine: EngineDep,
    clock: ClockDep,
    context: PaymentContextDep,
    stripe_signature: Annotated[str | None, Header()] = None,
) -> JSONResponse:
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
    return JSONResponse({"received": True, "outcome": outcome})


# --- applying a verified event -------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutEvent:
    """What wattdesk reads from a verified Checkout Session event."""

    event_id: str
    kind: str
    created: datetime
    session_id: str
    client_reference_id: str
    payment_status: str
    amount_total: int | None  # minor units, as Stripe captured them
    currency: str
    payload: dict[str, Any]

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> CheckoutEvent:
        obj = (event.get("data") or {}).get("object") or {}
        amount_total = obj.get("amount_total")
        return cls(
            event_id=str(event["id"]),
            kind=str(event.get("type", "")),
            created=datetime.fromtimestamp(int(event.get("created") or 0), UTC),
            session_id=str(obj.get("id") or ""),
            client_reference_id=str(obj.get("client_reference_id") or ""),
            payment_status=str(obj.get("payment_status") or ""),
            amount_total=amount_total if isinstance(amount_total, int) else None,
            currency=str(obj.get("currency") or ""),
            payload=event,
        )


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


def record_checkout_event(
    *, session: Session, clock: Clock, context: PaymentContext, event: CheckoutEvent
) -> str:
    """The event's effect, in the caller's transaction. Its first statement is the insert of
    the ProviderEvent row: on SQLite that takes the write lock before anything is read, and
    on both databases the unique (provider, event_id) makes a repeat a no-op."""
    if event.kind not in (*PAID_EVENTS, FAILED, EXPIRED):
        return "ignored"  # acknowledged, not stored: nothing of ours depends on it
    if not _first_delivery(session, clock, event):
        return "duplicate"
    attempt = _attempt_for(session, event)
    if attempt is None:
        log.warning("stripe event %s (%s): no checkout attempt for session %s",
                    event.event_id, event.kind, event.session_id)  # fmt: skip
        return "unknown_session"
    if event.kind == FAILED:
        fail_checkout(session=session, clock=clock, attempt=attempt, status="failed")
        return "failed"
    if event.kind == EXPIRED:
        fail_checkout(session=session, clock=clock, attempt=attempt, status="expired")
        return "expired"
    if event.kind == "checkout.session.completed" and event.payment_status != "paid":
        return "awaiting_payment"  # a delayed method: async_payment_succeeded follows
    if not _amount_matches(attempt, event):
        _report_amount_mismatch(session, clock, attempt, event)
        return "amount_mismatch"
    recorded = complete_checkout(
        session=session, clock=clock, context=context, attempt=attempt,
        provider_reference=event.session_id, received_at=event.created,
        source=f"stripe event {event.event_id}",
    )  # fmt: skip
    if not recorded.created:
        return "already_recorded"
    log.info("stripe event %s: payment %s recorded for attempt %s",
             event.event_id, recorded.payment.id, attempt.id)  # fmt: skip
    return "recorded"


def _first_delivery(session: Session, clock: Clock, event: CheckoutEvent) -> bool:
    """Insert the event's row; False when it is already there. On PostgreSQL a concurrent
    delivery waits on the unique index until the first commits, then fails here."""
    row = ProviderEvent(
        provider=STRIPE, event_id=event.event_id, kind=event.kind[:64],
        received_at=clock.now(), payload=event.payload,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def _attempt_for(session: Session, event: CheckoutEvent) -> CheckoutAttempt | None:
    """The attempt behind the session, locked (PostgreSQL) so that two events about one
    session are applied one after the other. Found by session id, or by the
    client_reference_id when the session id was not stored (a crash after Stripe answered)."""
    query = select(CheckoutAttempt).where(col(CheckoutAttempt.provider) == STRIPE)
    if event.session_id:
        attempt = session.scalars(
            query.where(col(CheckoutAttempt.provider_session_id) == event.session_id)
            .with_for_update()
        ).first()  # fmt: skip
        if attempt is not None:
            return attempt
    reference = event.client_reference_id.removeprefix(ATTEMPT_REFERENCE_PREFIX)
    if reference == event.client_reference_id or not reference.isdigit():
        return None
    attempt = session.scalars(
        query.where(col(CheckoutAttempt.id) == int(reference)).with_for_update()
    ).first()
    if attempt is None:
        return None
    if attempt.provider_session_id is None:
        attempt.provider_session_id = event.session_id or None
        session.add(attempt)
    elif attempt.provider_session_id != event.session_id:
        log.error("stripe event %s: session %s names attempt %s, which is session %s",
                  event.event_id, event.session_id, attempt.id,
                  attempt.provider_session_id)  # fmt: skip
        return None
    return attempt


def _amount_matches(attempt: CheckoutAttempt, event: CheckoutEvent) -> bool:
    """The amount wattdesk records is the attempt's, fixed by the server; Stripe must have
    captured exactly that, in the same currency."""
    try:
        expected = minor_units(attempt.amount, attempt.currency)
    except InvalidInput:
        return False
    return event.amount_total == expected and event.currency.upper() == attempt.currency.upper()


def _report_amount_mismatch(
    session: Session, clock: Clock, attempt: CheckoutAttempt, event: CheckoutEvent
) -> None:
    """Money arrived that does not match the attempt: record nothing in the ledger, leave
    the attempt open and raise it for staff (the event row keeps Stripe's payload)."""
    captured = (
        f"{event.amount_total} minor units {event.currency.upper()}"
        if event.amount_total is not None
        else "no amount"
    )
    log.error("stripe event %s: session %s captured %s but attempt %s is %s %s; "
              "nothing recorded, staff must reconcile", event.event_id, event.session_id,
              captured, attempt.id, attempt.amount, attempt.currency)  # fmt: skip
    link = session.get(PayLink, attempt.pay_link_id)
    record_events(session=session, clock=clock, events=[{
        "kind": AMOUNT_MISMATCH, "dedupe_key": f"{AMOUNT_MISMATCH}:{event.session_id}",
        "account_id": link.account_id if link is not None else None,
        "payload": {"event_id": event.event_id, "session_id": event.session_id,
                    "attempt_id": attempt.id, "attempt_amount": str(attempt.amount),
                    "attempt_currency": attempt.currency,
                    "amount_total": event.amount_total, "currency": event.currency},
    }])  # fmt: skip
