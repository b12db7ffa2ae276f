"""A provider's verified Checkout Session event (Stripe's), applied once: the payment, its
ledger entry and the event row in the caller's transaction, however often and however
concurrently the provider delivers it. The web layer verifies the signature and parses."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from billing_core.audit.service import record_change
from billing_core.clock import Clock
from billing_core.dedupe_keys import event_key
from billing_core.errors import InvalidInput
from billing_core.events.service import record_events
from billing_core.payments.providers import ATTEMPT_REFERENCE_PREFIX, STRIPE, minor_units
from billing_core.payments.service import PaymentContext, complete_checkout, fail_checkout
from billing_core.payments.tables import CheckoutAttempt, PayLink, ProviderEvent

log = logging.getLogger("wattdesk.payments.stripe")

PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"
AMOUNT_MISMATCH = "stripe_amount_mismatch"
APPLIED = frozenset({*PAID_EVENTS, FAILED, EXPIRED})


# Stripe's ids (evt_…, cs_…): letters, digits and underscores. An id column holds 255.
PROVIDER_ID = re.compile(r"[A-Za-z0-9_]{1,255}")
# The largest row id an INTEGER column holds (PostgreSQL's 32 bits).
MAX_ROW_ID = 2**31 - 1
REFUSED_EVENT = "refuse_event"  # the audit log's action for a verified event not applied


class MalformedEvent(InvalidInput):
    """A verified provider event that is not the shape wattdesk reads: refused, recorded."""


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
    def from_event(cls, event: object) -> CheckoutEvent:
        """The event's fields, or MalformedEvent saying which is missing or of the wrong
        type. An event of a kind wattdesk does not apply needs only its id and type (it is
        acknowledged and ignored); a Checkout event needs every field it is applied by."""
        if not isinstance(event, dict):
            raise MalformedEvent("the event is not a JSON object")
        event_id = _text(event, "id", "the event")
        if not PROVIDER_ID.fullmatch(event_id):
            raise MalformedEvent("the event id is not a Stripe id")
        kind = _text(event, "type", "the event")
        if kind not in APPLIED:
            return cls(event_id, kind, _EPOCH, "", "", "", None, "", event)
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise MalformedEvent("data.object is not an object")
        session_id = _text(obj, "id", "data.object")
        if not PROVIDER_ID.fullmatch(session_id):
            raise MalformedEvent("data.object.id is not a Stripe id")
        amount_total = obj.get("amount_total")
        if amount_total is not None and (type(amount_total) is not int or amount_total < 0):
            raise MalformedEvent("data.object.amount_total is not a whole number of minor units")
        return cls(
            event_id=event_id,
            kind=kind,
            created=_created(event.get("created")),
            session_id=session_id,
            client_reference_id=_text(obj, "client_reference_id", "data.object", optional=True),
            payment_status=_text(obj, "payment_status", "data.object", optional=True),
            amount_total=amount_total,
            currency=_text(obj, "currency", "data.object", optional=True),
            payload=event,
        )


_EPOCH = datetime.fromtimestamp(0, UTC)


def _text(obj: dict[str, Any], name: str, where: str, *, optional: bool = False) -> str:
    value = obj.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not (value or optional):
        raise MalformedEvent(f"{where}.{name} is not {'a' if optional else 'a non-empty'} string")
    return value


def _created(value: object) -> datetime:
    """Stripe's `created`: seconds since the epoch, a payment's time received."""
    if type(value) is not int or value <= 0:
        raise MalformedEvent("the event's created is not a time")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent("the event's created is not a time") from None


def record_refused_event(
    *, session: Session, clock: Clock, provider: str, event: object, reason: str
) -> None:
    """A verified event refused as malformed, in the audit log (in the caller's
    transaction): staff see what the provider sent that could not be applied, and why. The
    event's id and type where they are text; the payload itself stays with the provider."""
    fields = event if isinstance(event, dict) else {}
    event_id, kind = fields.get("id"), fields.get("type")
    record_change(
        session=session, clock=clock, actor=provider, action=REFUSED_EVENT,
        entity=f"{provider}_event",
        entity_id=_printable(event_id, 64) or "unknown",
        before=None,
        after={"type": _printable(kind, 100), "reason": reason},
        reason=f"refused a verified {provider} event: {reason}"[:500],
    )  # fmt: skip


def _printable(value: object, length: int) -> str:
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value[:length] if c.isprintable())


def record_checkout_event(
    *, session: Session, clock: Clock, context: PaymentContext, event: CheckoutEvent
) -> str:
    """The event's effect, in the caller's transaction; returns what happened (the webhook's
    answer and its logs say it). Its first statement is the insert of the ProviderEvent row:
    on SQLite that takes the write lock before anything is read, and on both databases the
    unique (provider, event_id) makes a repeat a no-op."""
    if event.kind not in APPLIED:
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
    # ASCII digits naming a row id (str.isdigit also takes '²', which int() refuses).
    if reference == event.client_reference_id or not (reference.isascii() and reference.isdigit()):
        return None
    if len(reference) > len(str(MAX_ROW_ID)) or not 0 < int(reference) <= MAX_ROW_ID:
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
        "kind": AMOUNT_MISMATCH, "dedupe_key": event_key(AMOUNT_MISMATCH, event.session_id),
        "account_id": link.account_id if link is not None else None,
        "payload": {"event_id": event.event_id, "session_id": event.session_id,
                    "attempt_id": attempt.id, "attempt_amount": str(attempt.amount),
                    "attempt_currency": attempt.currency,
                    "amount_total": event.amount_total, "currency": event.currency},
    }])  # fmt: skip
