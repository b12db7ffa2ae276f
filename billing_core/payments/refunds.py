"""Refunds (退费) through a tracked workflow: requested → approved (by a second person) →
refunded, or rejected. Paying one out puts a refund entry on the ledger (the account owes
that money again) and tells the customer; every step is audited. Also the list of probable
duplicate payments that staff act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.customers.tables import Account, Customer
from billing_core.dedupe_keys import refund_key
from billing_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from billing_core.ledger.model import EntryKind
from billing_core.ledger.tables import LedgerEntry
from billing_core.messages.templates import money, render
from billing_core.outbox.service import AUTOMATED, enqueue_message, reachable_contact
from billing_core.payments.importing import MAX_AMOUNT
from billing_core.payments.service import PaymentContext
from billing_core.payments.tables import Payment, Refund
from billing_core.staff.model import Role
from billing_core.staff.service import require_role
from billing_core.staff.tables import StaffUser

REQUESTED = "requested"
APPROVED = "approved"
REFUNDED = "refunded"
REJECTED = "rejected"
# Money a refund holds back from the payment until it is rejected.
COMMITTED = (REQUESTED, APPROVED, REFUNDED)
REFUND_ROLES = (Role.collections,)  # and admin, who may do everything
CENT = Decimal("0.01")
MAX_REASON = 300
MAX_PROVIDER_REFERENCE = 128
_ZERO = Decimal(0)


def staff_actor(user: StaffUser) -> str:
    """How a staff user appears in the audit log and on a refund (as the API names them)."""
    return f"staff:{user.username}"


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "account_id": refund.account_id,
        "amount": str(refund.amount),
        "currency": refund.currency,
        "reason": refund.reason,
        "status": refund.status,
        "requested_by": refund.requested_by,
        "requested_at": refund.requested_at.isoformat(),
        "decided_by": refund.decided_by,
        "decided_at": refund.decided_at.isoformat() if refund.decided_at else None,
        "refunded_at": refund.refunded_at.isoformat() if refund.refunded_at else None,
        "provider_reference": refund.provider_reference,
    }


# --- the workflow ---------------------------------------------------------------------------


def request_refund(
    *,
    session: Session,
    clock: Clock,
    payment_id: int,
    amount: Decimal,
    reason: str,
    actor: StaffUser,
) -> Refund:
    """Ask for (part of) a payment back. At most what is left of the payment once the
    refunds requested, approved or paid out before are taken off."""
    require_role(actor, *REFUND_ROLES)
    reason = _required_text("reason", reason, MAX_REASON)
    if (
        not amount.is_finite()
        or amount <= _ZERO
        or amount >= MAX_AMOUNT
        or amount != amount.quantize(CENT)
    ):
        raise InvalidInput(f"refund amount {amount} must be more than zero, in cents")
    amount = amount.quantize(CENT)  # 20.5 is stored, shown and audited as 20.50
    # Locked, so two requests at once cannot both take the same remainder.
    payment = session.get(Payment, payment_id, with_for_update=True)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    left = payment.amount - _committed(session, [payment_id]).get(payment_id, _ZERO)
    if amount > left:
        raise InvalidInput(
            f"refund of {amount} is more than is left to refund on payment {payment_id} "
            f"({left} of {payment.amount} {payment.currency})"
        )
    refund = Refund(
        payment_id=payment_id,
        account_id=payment.account_id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        status=REQUESTED,
        requested_by=staff_actor(actor),
        requested_at=clock.now(),
    )
    session.add(refund)
    session.flush()
    _audit(session, clock, actor, "refund.request", refund, None, reason)
    return refund


def approve_refund(*, session: Session, clock: Clock, refund_id: int, actor: StaffUser) -> Refund:
    """The second pair of eyes: someone other than the requester approves."""
    require_role(actor, *REFUND_ROLES)
    refund = _locked_refund(session, refund_id)
    _expect(refund, REQUESTED, "approved")
    if refund.requested_by == staff_actor(actor):
        raise PermissionDenied(
            f"refund {refund_id} was requested by {actor.username}: another staff user must "
            "approve it (four eyes)"
        )
    before = _state(refund)
    refund.status, refund.decided_by, refund.decided_at = APPROVED, staff_actor(actor), clock.now()
    session.add(refund)
    session.flush()
    _audit(session, clock, actor, "refund.approve", refund, before, "approved")
    return refund


def mark_refunded(
    *,
    session: Session,
    clock: Clock,
    context: PaymentContext,
    refund_id: int,
    actor: StaffUser,
    provider_reference: str,
) -> Refund:
    """The money went back (the bank's or channel's reference): a refund entry on the ledger
    (+amount: the account owes it again) and a notice to the customer, once. Saying so again
    with the same reference changes nothing."""
    require_role(actor, *REFUND_ROLES)
    reference = _required_text("provider_reference", provider_reference, MAX_PROVIDER_REFERENCE)
    refund = _locked_refund(session, refund_id)
    if refund.status == REFUNDED and refund.provider_reference == reference:
        return refund
    _expect(refund, APPROVED, "marked refunded")
    before = _state(refund)
    now = clock.now()
    refund.status, refund.refunded_at, refund.provider_reference = REFUNDED, now, reference
    session.add(refund)
    session.add(LedgerEntry(
        account_id=refund.account_id, kind=EntryKind.refund, amount=refund.amount,
        currency=refund.currency, effective_on=context.today(clock),
        payment_id=refund.payment_id, refund_id=refund.id, dedupe_key=refund_key(refund.id or 0),
        actor=staff_actor(actor), note=f"refund {refund.id} of payment {refund.payment_id}: "
        f"{reference}"[:300], created_at=now,
    ))  # fmt: skip
    session.flush()
    _tell_customer(session, clock, refund)
    _audit(session, clock, actor, "refund.refunded", refund, before, f"paid out: {reference}")
    return refund


def reject_refund(
    *, session: Session, clock: Clock, refund_id: int, actor: StaffUser, reason: str
) -> Refund:
    """Turn down a refund not yet paid out (or withdraw one's own request): the money it
    held back becomes refundable again."""
    require_role(actor, *REFUND_ROLES)
    reason = _required_text("reason", reason, MAX_REASON)
    refund = _locked_refund(session, refund_id)
    _expect(refund, (REQUESTED, APPROVED), "rejected")
    before = _state(refund)
    refund.status, refund.decided_by, refund.decided_at = REJECTED, staff_actor(actor), clock.now()
    session.add(refund)
    session.flush()
    _audit(session, clock, actor, "refund.reject", refund, before, reason)
    return refund


def refundable_amount(*, session: Session, payment_id: int) -> Decimal:
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    return payment.amount - _committed(session, [payment_id]).get(payment_id, _ZERO)


# --- probable duplicates ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProbableDuplicate:
    """A payment flagged as probably paying the same bill twice, beside the payment it
    repeats, with what is already committed to refunds and what is left to refund."""

    payment_id: int
    account_id: int
    account_number: str
    bill_id: int | None
    amount: Decimal
    currency: str
    channel: str
    provider_reference: str
    received_at: datetime
    duplicate_of: int
    duplicate_of_channel: str
    duplicate_of_reference: str
    duplicate_of_received_at: datetime
    refund_committed: Decimal  # requested, approved or paid out
    refundable: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "account_id": self.account_id,
            "account_number": self.account_number,
            "bill_id": self.bill_id,
            "amount": str(self.amount),
            "currency": self.currency,
            "channel": self.channel,
            "provider_reference": self.provider_reference,
            "received_at": self.received_at.isoformat(),
            "duplicate_of": {
                "payment_id": self.duplicate_of,
                "channel": self.duplicate_of_channel,
                "provider_reference": self.duplicate_of_reference,
                "received_at": self.duplicate_of_received_at.isoformat(),
            },
            "refund_committed": str(self.refund_committed),
            "refundable": str(self.refundable),
        }


def probable_duplicates(
    *, session: Session, include_settled: bool = False, limit: int = 500
) -> list[ProbableDuplicate]:
    """Flagged payments, oldest first. Those whose whole amount is already committed to
    refunds are left out unless `include_settled`: staff see what is still to act on."""
    original = aliased(Payment)
    rows = session.execute(
        select(Payment, original, col(Account.number))
        .join(original, col(Payment.probable_duplicate_of) == original.id)
        .join(Account, col(Account.id) == col(Payment.account_id))
        .where(col(Payment.probable_duplicate_of).is_not(None))
        .order_by(col(Payment.received_at), col(Payment.id))
    ).all()
    committed = _committed(session, [payment.id for payment, _, _ in rows])
    found = []
    for payment, first, number in rows:
        assert payment.id is not None and first.id is not None
        held = committed.get(payment.id, _ZERO)
        if held >= payment.amount and not include_settled:
            continue
        found.append(ProbableDuplicate(
            payment_id=payment.id, account_id=payment.account_id, account_number=number,
            bill_id=payment.bill_id, amount=payment.amount, currency=payment.currency,
            channel=payment.channel, provider_reference=payment.provider_reference,
            received_at=payment.received_at, duplicate_of=first.id,
            duplicate_of_channel=first.channel, duplicate_of_reference=first.provider_reference,
            duplicate_of_received_at=first.received_at, refund_committed=held,
            refundable=payment.amount - held,
        ))  # fmt: skip
        if len(found) >= limit:
            break
    return found


# --- helpers --------------------------------------------------------------------------------


def _committed(session: Session, payment_ids: list[int | None]) -> dict[int, Decimal]:
    """Per payment, the refunds not rejected."""
    ids = sorted({i for i in payment_ids if i is not None})
    totals: dict[int, Decimal] = {}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(col(Refund.payment_id), func.sum(col(Refund.amount)))
            .where(col(Refund.payment_id).in_(ids[start : start + 500]),
                   col(Refund.status).in_(COMMITTED))
            .group_by(col(Refund.payment_id))
        ).all()  # fmt: skip
        totals.update({payment_id: Decimal(total or 0) for payment_id, total in rows})
    return totals


def _locked_refund(session: Session, refund_id: int) -> Refund:
    refund = session.get(Refund, refund_id, with_for_update=True)
    if refund is None:
        raise NotFound(f"no refund {refund_id}")
    return refund


def _expect(refund: Refund, allowed: str | tuple[str, ...], to_be: str) -> None:
    allowed = (allowed,) if isinstance(allowed, str) else allowed
    if refund.status not in allowed:
        raise Conflict(
            f"refund {refund.id} is {refund.status}; only a {' or '.join(allowed)} refund "
            f"can be {to_be}"
        )


def _required_text(name: str, value: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidInput(f"a {name} is required")
    if len(text) > max_length:
        raise InvalidInput(f"{name} is longer than {max_length} characters")
    return text


_AUDITED = ("status", "amount", "currency", "payment_id", "account_id", "decided_by",
            "decided_at", "refunded_at", "provider_reference")  # fmt: skip


def _state(refund: Refund) -> dict[str, Any]:
    return snapshot(refund, _AUDITED)


def _audit(
    session: Session,
    clock: Clock,
    actor: StaffUser,
    action: str,
    refund: Refund,
    before: dict[str, Any] | None,
    reason: str,
) -> None:
    record_change(
        session=session,
        clock=clock,
        actor=staff_actor(actor),
        action=action,
        entity="refund",
        entity_id=refund.id,
        before=before,
        after=snapshot(refund) if before is None else _state(refund),
        reason=reason,
    )


def _tell_customer(session: Session, clock: Clock, refund: Refund) -> None:
    account = session.get(Account, refund.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    recipient = reachable_contact(session, customer.id or 0)
    if recipient is None:
        return  # no verified, reachable contact: the refund still stands
    language = customer.language
    body = render(
        "refund", language, account=account.number,
        amount=money(refund.amount, refund.currency, language),
    )  # fmt: skip
    # A notice about their money that they did not ask for just now: it waits for their hours.
    enqueue_message(
        session=session, clock=clock, dedupe_key=refund_key(refund.id or 0), recipient=recipient,
        template="refund", language=language, body=body, kind=AUTOMATED,
        purpose=refund_key(refund.id or 0), account_id=account.id, customer_id=customer.id,
    )  # fmt: skip
