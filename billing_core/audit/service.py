"""The one helper every service calls when it changes billing-relevant data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from billing_core.audit.tables import AuditEntry
from billing_core.clock import Clock

# Never copied into the audit log, whatever the entity.
_SECRET_FIELDS = frozenset({"password_hash", "password", "token_hash", "token_seed", "secret"})


def snapshot(entity: SQLModel, fields: Sequence[str] | None = None) -> dict[str, Any]:
    """A JSON-safe picture of an entity's columns (secrets left out)."""
    names = fields or list(type(entity).model_fields)
    return {name: _json_safe(getattr(entity, name)) for name in names if name not in _SECRET_FIELDS}


def record_change(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    entity: str,
    entity_id: object,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str = "",
) -> AuditEntry:
    """Append one audit entry in the caller's transaction: it lands or rolls back with the
    change it describes."""
    if not actor:
        raise ValueError("an audited change needs an actor")
    entry = AuditEntry(
        at=clock.now(),
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=_only_changed(before, after)[0] if before is not None else None,
        after=_only_changed(before, after)[1] if after is not None else None,
        reason=reason,
    )
    session.add(entry)
    return entry


def history(*, session: Session, entity: str, entity_id: object) -> list[AuditEntry]:
    statement = (
        select(AuditEntry)
        .where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
        .order_by(col(AuditEntry.id))
    )
    return list(session.exec(statement))


def _only_changed(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """For an update keep only what changed; a creation or deletion keeps everything."""
    old = {k: _json_safe(v) for k, v in (before or {}).items() if k not in _SECRET_FIELDS}
    new = {k: _json_safe(v) for k, v in (after or {}).items() if k not in _SECRET_FIELDS}
    if before is None or after is None:
        return old, new
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    return ({k: old.get(k) for k in changed}, {k: new.get(k) for k in changed})


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
