"""What a customer asks for in a conversation that is more than an answer: a meter reading
they took (stored as a customer reading, validated as any reading is), and requests a
person acts on (a payment arrangement, a dispute, a report of no power)."""

from __future__ import annotations

import hashlib
from datetime import tzinfo
from decimal import Decimal
from enum import StrEnum

from sqlmodel import Session

from billing_core.arrears.arrangements import request_arrangement
from billing_core.arrears.disputes import open_dispute
from billing_core.arrears.rules import ArrearsRules
from billing_core.clock import Clock
from billing_core.customers.tables import CustomerRequest
from billing_core.readings.importing import ParsedBatch, ParsedReading
from billing_core.readings.model import ReadingSource
from billing_core.readings.service import import_readings

MAX_REQUEST_BODY = 1600


class RequestKind(StrEnum):
    arrangement = "arrangement"  # pay later or in parts (缓缴, 分期)
    dispute = "dispute"  # the bill is wrong
    outage = "outage"  # no power


class SelfReadStatus(StrEnum):
    accepted = "accepted"
    flagged = "flagged"  # stored, to be checked by a person before a bill uses it
    rejected = "rejected"


def record_request(
    *,
    session: Session,
    clock: Clock,
    kind: RequestKind,
    channel: str,
    address: str,
    body: str,
    conversation_id: int | None,
    account_id: int | None,
    customer_id: int | None,
    arrears: ArrearsRules | None = None,
) -> CustomerRequest:
    """An open request on the account (or the conversation alone, for an unverified sender).
    With the arrears rules, an arrangement or a dispute on an account is opened on it too
    (billing_core.arrears: the ladder stops at once)."""
    request = CustomerRequest(
        kind=kind, status="open", account_id=account_id, customer_id=customer_id,
        conversation_id=conversation_id, channel=channel, address=address,
        body=body[:MAX_REQUEST_BODY], created_at=clock.now(),
    )  # fmt: skip
    session.add(request)
    session.flush()
    if account_id is not None and arrears is not None:
        _open_on_the_case(session, clock, arrears, request)
    return request


def _open_on_the_case(
    session: Session, clock: Clock, rules: ArrearsRules, request: CustomerRequest
) -> None:
    """An arrangement asked for opens an arrangement request, a dispute a dispute, on the
    account (its arrears case, if one is open): either stops the ladder at once."""
    account_id, body = request.account_id or 0, request.body
    if request.kind == RequestKind.arrangement:
        request_arrangement(session=session, clock=clock, rules=rules, account_id=account_id,
                            body=body, customer_request_id=request.id)  # fmt: skip
    elif request.kind == RequestKind.dispute:
        open_dispute(session=session, clock=clock, rules=rules, account_id=account_id,
                     body=body or "(disputed in a conversation)", source="customer",
                     opened_by=f"{request.channel}:{request.address}",
                     customer_request_id=request.id)  # fmt: skip


def submit_self_read(
    *,
    session: Session,
    clock: Clock,
    tz: tzinfo,
    account_number: str,
    reading: Decimal,
    channel: str,
    address: str,
    message_id: str | None,
) -> SelfReadStatus:
    """The customer's reading of their meter's total register, now, through the same import
    and validation as a reader's file (one line, source `customer`): rejected when it does
    not fit the meter's history, flagged when it needs a person's look (the batch's stored
    report says why). Once per message: a repeat of the same message finds its first import."""
    now = clock.now()
    line = ParsedReading(
        where="message", position=1, read_at=now, total=reading,
        account_number=account_number, source=ReadingSource.customer,
    )  # fmt: skip
    identity = message_id or f"{now.isoformat()}:{reading}"
    content = f"self-read:{channel}:{address}:{account_number}:{identity}".encode()
    report = import_readings(
        session=session, clock=clock, parsed=ParsedBatch(readings=(line,)), source="customer",
        name=f"self-read {channel} {_masked(address)}",
        content=hashlib.sha256(content).hexdigest().encode(), actor=f"{channel}:{address}"[:100],
        tz=tz,
    )  # fmt: skip
    if report.rejected:
        return SelfReadStatus.rejected
    if report.flagged:
        return SelfReadStatus.flagged
    return SelfReadStatus.accepted


def _masked(address: str) -> str:
    return f"...{address[-4:]}" if len(address) > 4 else address
