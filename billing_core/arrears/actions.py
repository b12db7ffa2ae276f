"""What the staff services of the arrears package share: the role check and audit entry of
each action, resuming a case's ladder, and rows as JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlmodel import Session

from billing_core.arrears.cases import CASE
from billing_core.audit.service import record_change
from billing_core.clock import Clock
from billing_core.errors import InvalidInput, NotFound
from billing_core.staff.model import Role
from billing_core.staff.service import require_role
from billing_core.staff.tables import StaffUser

MAX_REASON = 300


def collections(actor: StaffUser) -> str:
    """The actor's audit name, once their role allows collections work (admins always)."""
    require_role(actor, Role.collections)
    return f"staff:{actor.username}"


def reason_text(reason: str, *, field: str = "reason") -> str:
    text = reason.strip()
    if not text:
        raise InvalidInput(f"{field}: a reason is needed")
    if len(text) > MAX_REASON:
        raise InvalidInput(f"{field}: longer than {MAX_REASON} characters")
    return text


def row_of(session: Session, table: Table, row_id: int, what: str) -> Any:
    row = session.execute(select(table).where(table.c.id == row_id)).first()
    if row is None:
        raise NotFound(f"no {what} {row_id}")
    return row


def audit(
    session: Session,
    clock: Clock,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    reason: str = "",
) -> None:
    record_change(session=session, clock=clock, actor=actor, action=action, entity=entity,
                  entity_id=entity_id, before=before, after=after, reason=reason)  # fmt: skip


def resume_case(session: Session, *, account_id: int, today: date) -> None:
    """The account's open case resumes its ladder today (its days count from today; steps
    already taken are not repeated)."""
    session.execute(
        update(CASE)
        .where(CASE.c.account_id == account_id, CASE.c.status == "open")
        .values(resumed_on=today)
    )


def open_case_id(session: Session, account_id: int) -> int | None:
    found = session.execute(
        select(CASE.c.id).where(CASE.c.account_id == account_id, CASE.c.status == "open")
    ).scalar()
    return int(found) if found is not None else None


def as_json(row: Any) -> dict[str, Any]:
    """A row's columns, times and dates as ISO 8601 and money as strings."""
    out: dict[str, Any] = {}
    for key, value in row._mapping.items():
        if isinstance(value, (datetime, date)):
            out[key] = value.isoformat()
        elif value is not None and not isinstance(value, (int, str, bool)):
            out[key] = str(value)
        else:
            out[key] = value
    return out
