"""Payment arrangements (缓缴/分期): requested by the customer in a conversation, created by
collections staff with instalments (dates and amounts, or one later date), declined with a
reason. A requested or active arrangement stops the ladder at once; the daily run marks
instalments paid (by the payments since the arrangement) or missed (after the policy's
grace days), and a missed instalment ends the arrangement and resumes the ladder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
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
from billing_core.arrears.cases import ARRANGEMENT, INSTALMENT, PAUSING, stop_ladder
from billing_core.arrears.model import Reason
from billing_core.arrears.rules import ArrearsRules
from billing_core.clock import Clock
from billing_core.db.fast import bulk_insert
from billing_core.errors import Conflict, InvalidInput
from billing_core.staff.tables import StaffUser

CENT = Decimal("0.01")
MAX_NOTE = 1600


def request_arrangement(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    account_id: int,
    body: str,
    customer_request_id: int | None = None,
) -> int:
    """The customer asked for an arrangement: a `requested` one on the account (unless one
    is requested or active already), which stops the ladder until staff agree it or decline
    it. Returns the arrangement's id."""
    existing = session.execute(
        select(ARRANGEMENT.c.id).where(
            ARRANGEMENT.c.account_id == account_id, ARRANGEMENT.c.status.in_(PAUSING)
        )
    ).scalar()
    if existing is not None:
        return int(existing)
    now = clock.now()
    arrangement_id: int = session.execute(
        ARRANGEMENT.insert()
        .values(account_id=account_id, case_id=open_case_id(session, account_id),
                status="requested", source="customer", customer_request_id=customer_request_id,
                note=body[:MAX_NOTE], created_at=now, created_by="customer")
        .returning(ARRANGEMENT.c.id)
    ).scalar_one()  # fmt: skip
    stop_ladder(session=session, clock=clock, rules=rules, account_id=account_id,
                reason=Reason.arrangement_active,
                words="the customer asked for a payment arrangement")  # fmt: skip
    return arrangement_id


def create_arrangement(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    actor: StaffUser,
    account_id: int,
    instalments: Sequence[tuple[date, Decimal]],
    note: str = "",
) -> dict[str, Any]:
    """An arrangement agreed with the customer: its instalments in date order, the first
    not before today, the last within the policy's days, at most the policy's count, each a
    positive amount in cents. A requested arrangement on the account becomes this one. The
    ladder stops at once."""
    who = collections(actor)
    now = clock.now()
    today = now.astimezone(rules.tz).date()
    _check_instalments(instalments, today=today, rules=rules)
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note: longer than {MAX_NOTE} characters")
    pausing = session.execute(
        select(ARRANGEMENT.c.id, ARRANGEMENT.c.status).where(
            ARRANGEMENT.c.account_id == account_id, ARRANGEMENT.c.status.in_(PAUSING)
        )
    ).first()
    if pausing is not None and pausing.status == "active":
        raise Conflict(f"account {account_id} has an active arrangement ({pausing.id}) already")
    values = {"status": "active", "source": "staff", "note": note, "created_by": who[:100]}
    if pausing is not None:
        arrangement_id = int(pausing.id)
        session.execute(update(ARRANGEMENT).where(ARRANGEMENT.c.id == arrangement_id)
                        .values(status="active", created_by=who[:100], created_at=now,
                                note=note or ARRANGEMENT.c.note))  # fmt: skip
    else:
        arrangement_id = session.execute(
            ARRANGEMENT.insert().values(account_id=account_id, created_at=now,
                                        case_id=open_case_id(session, account_id), **values)
            .returning(ARRANGEMENT.c.id)
        ).scalar_one()  # fmt: skip
    bulk_insert(
        session.connection(), INSTALMENT, ("arrangement_id", "seq", "due_on", "amount", "status"),
        [(arrangement_id, seq, on, amount, "due")
         for seq, (on, amount) in enumerate(instalments, start=1)],
    )  # fmt: skip
    audit(session, clock, actor=who, action="arrangement.create", entity="payment_arrangement",
          entity_id=arrangement_id, before=None,
          after={"account_id": account_id, "instalments": [[d.isoformat(), str(a)]
                                                           for d, a in instalments]},
          reason=note)  # fmt: skip
    stop_ladder(session=session, clock=clock, rules=rules, account_id=account_id,
                reason=Reason.arrangement_active,
                words="a payment arrangement is active")  # fmt: skip
    return arrangement_json(session, arrangement_id)


def _check_instalments(
    instalments: Sequence[tuple[date, Decimal]], *, today: date, rules: ArrearsRules
) -> None:
    policy = rules.collections
    if not instalments:
        raise InvalidInput("instalments: at least one is needed")
    if len(instalments) > policy.max_instalments:
        raise InvalidInput(f"instalments: at most {policy.max_instalments}")
    days = [on for on, _ in instalments]
    if days != sorted(days) or len(set(days)) != len(days):
        raise InvalidInput("instalments: dates must be different and in order")
    if days[0] < today:
        raise InvalidInput("instalments: the first date is in the past")
    if (days[-1] - today).days > policy.max_arrangement_days:
        raise InvalidInput(
            f"instalments: the last date is more than {policy.max_arrangement_days} days away"
        )
    for _, amount in instalments:
        if amount <= 0 or amount != amount.quantize(CENT):
            raise InvalidInput("instalments: each amount must be positive, in cents")


def decline_arrangement(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    actor: StaffUser,
    arrangement_id: int,
    reason: str,
) -> dict[str, Any]:
    """A requested (or active) arrangement ended by staff, with the reason: the ladder
    resumes from today."""
    who = collections(actor)
    text = reason_text(reason)
    row = row_of(session, ARRANGEMENT, arrangement_id, "arrangement")
    if row.status not in PAUSING:
        raise Conflict(f"arrangement {arrangement_id} is {row.status}")
    now = clock.now()
    session.execute(update(ARRANGEMENT).where(ARRANGEMENT.c.id == arrangement_id)
                    .values(status="declined", closed_at=now, closed_reason=text))  # fmt: skip
    resume_case(session, account_id=row.account_id, today=now.astimezone(rules.tz).date())
    audit(session, clock, actor=who, action="arrangement.decline", entity="payment_arrangement",
          entity_id=arrangement_id, before={"status": row.status}, after={"status": "declined"},
          reason=text)  # fmt: skip
    return arrangement_json(session, arrangement_id)


def arrangement_json(session: Session, arrangement_id: int) -> dict[str, Any]:
    row = row_of(session, ARRANGEMENT, arrangement_id, "arrangement")
    instalments = session.execute(
        select(INSTALMENT.c.seq, INSTALMENT.c.due_on, INSTALMENT.c.amount, INSTALMENT.c.status,
               INSTALMENT.c.settled_at)
        .where(INSTALMENT.c.arrangement_id == arrangement_id).order_by(INSTALMENT.c.seq)
    ).all()  # fmt: skip
    return {**as_json(row), "instalments": [as_json(i) for i in instalments]}


def list_arrangements(
    *,
    session: Session,
    status: str | None = None,
    account_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(ARRANGEMENT.c.id)
    if status is not None:
        query = query.where(ARRANGEMENT.c.status == status)
    if account_id is not None:
        query = query.where(ARRANGEMENT.c.account_id == account_id)
    ids = session.execute(
        query.order_by(ARRANGEMENT.c.id.desc()).limit(limit).offset(offset)
    ).scalars()
    return [arrangement_json(session, i) for i in list(ids)]
