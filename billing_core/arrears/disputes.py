"""Disputes: a customer (the conversation's `dispute` intent) or staff says a bill or the
debt is wrong. While one is open on the account the ladder stops; staff close it with a
reason, and the ladder resumes from that day when no other dispute is open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from billing_core.arrears.actions import (
    as_json,
    audit,
    collections,
    open_case_id,
    reason_text,
    resume_case,
    row_of,
)
from billing_core.arrears.cases import DISPUTE, stop_ladder
from billing_core.arrears.model import Reason
from billing_core.arrears.rules import ArrearsRules
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.staff.tables import StaffUser

MAX_BODY = 1600


def open_dispute(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    account_id: int,
    body: str,
    source: str,
    opened_by: str,
    bill_id: int | None = None,
    customer_request_id: int | None = None,
) -> dict[str, Any]:
    """A dispute on the account (of one of its bills, or the debt); the ladder stops."""
    text = body.strip()
    if not text:
        raise InvalidInput("body: say what is disputed")
    if len(text) > MAX_BODY:
        raise InvalidInput(f"body: longer than {MAX_BODY} characters")
    if bill_id is not None:
        bill = session.get(Bill, bill_id)
        if bill is None or bill.account_id != account_id:
            raise NotFound(f"no bill {bill_id} on account {account_id}")
    dispute_id: int = session.execute(
        DISPUTE.insert()
        .values(account_id=account_id, case_id=open_case_id(session, account_id),
                bill_id=bill_id, status="open", source=source,
                customer_request_id=customer_request_id, body=text, opened_at=clock.now(),
                opened_by=opened_by[:100], closed_reason="")
        .returning(DISPUTE.c.id)
    ).scalar_one()  # fmt: skip
    stop_ladder(session=session, clock=clock, rules=rules, account_id=account_id,
                reason=Reason.dispute_open, words="a dispute is open")  # fmt: skip
    return as_json(row_of(session, DISPUTE, dispute_id, "dispute"))


def staff_open_dispute(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    actor: StaffUser,
    account_id: int,
    body: str,
    bill_id: int | None = None,
) -> dict[str, Any]:
    who = collections(actor)
    opened = open_dispute(session=session, clock=clock, rules=rules, account_id=account_id,
                          body=body, source="staff", opened_by=who, bill_id=bill_id)  # fmt: skip
    audit(session, clock, actor=who, action="dispute.open", entity="arrears_dispute",
          entity_id=opened["id"], before=None, after={"status": "open"},
          reason=opened["body"][:300])  # fmt: skip
    return opened


def close_dispute(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    actor: StaffUser,
    dispute_id: int,
    reason: str,
) -> dict[str, Any]:
    """Closed by staff with the reason; the ladder resumes from today if no other dispute
    on the account is open."""
    who = collections(actor)
    text = reason_text(reason)
    row = row_of(session, DISPUTE, dispute_id, "dispute")
    if row.status != "open":
        raise Conflict(f"dispute {dispute_id} is {row.status}")
    now = clock.now()
    session.execute(update(DISPUTE).where(DISPUTE.c.id == dispute_id)
                    .values(status="closed", closed_at=now, closed_by=who[:100],
                            closed_reason=text))  # fmt: skip
    others = session.execute(
        select(func.count()).where(
            DISPUTE.c.account_id == row.account_id, DISPUTE.c.status == "open"
        )
    ).scalar_one()
    if not others:
        resume_case(session, account_id=row.account_id, today=now.astimezone(rules.tz).date())
    audit(session, clock, actor=who, action="dispute.close", entity="arrears_dispute",
          entity_id=dispute_id, before={"status": "open"}, after={"status": "closed"},
          reason=text)  # fmt: skip
    return as_json(row_of(session, DISPUTE, dispute_id, "dispute"))


def list_disputes(
    *,
    session: Session,
    status: str | None = "open",
    account_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(DISPUTE)
    if status is not None:
        query = query.where(DISPUTE.c.status == status)
    if account_id is not None:
        query = query.where(DISPUTE.c.account_id == account_id)
    rows = session.execute(query.order_by(DISPUTE.c.id.desc()).limit(limit).offset(offset))
    return [as_json(r) for r in rows]
