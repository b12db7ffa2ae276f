"""Personal API tokens: made for a staff user with a lifetime, listed, revoked, and looked up
by their SHA-256 when a request presents one.

A token is 256 random bits, so a plain SHA-256 of it cannot be reversed or guessed, and the
look-up is one indexed read (no slow hash: a token is checked on every request)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.staff.tables import StaffToken, StaffUser

PREFIX = "wdt_"  # says what a leaked string is, for people and secret scanners
MAX_DAYS = 366
MAX_LABEL = 100


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never the token itself."""

    id: int
    username: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def create_token(
    *, session: Session, clock: Clock, username: str, days: int, label: str = "", actor: str
) -> tuple[StaffToken, str]:
    """A new token for an active user, valid for `days` days; returns the row and the token
    (shown once: only its hash is stored)."""
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days: from 1 to {MAX_DAYS}")
    if len(label) > MAX_LABEL:
        raise InvalidInput(f"label: at most {MAX_LABEL} characters")
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    if user is None:
        raise NotFound(f"no staff user {username!r}")
    if not user.active:
        raise Conflict(f"staff user {username!r} is not active")
    assert user.id is not None
    token = new_token()
    now = clock.now()
    row = StaffToken(
        staff_user_id=user.id,
        token_hash=token_hash(token),
        label=label,
        created_at=now,
        expires_at=now + timedelta(days=days),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="staff.token.create",
        entity="staff_token",
        entity_id=row.id,
        before=None,
        after=snapshot(row),
        reason=f"API token for {username}",
    )
    return row, token


def list_tokens(*, session: Session, username: str | None = None) -> list[TokenInfo]:
    statement = (
        select(StaffToken, StaffUser.username)
        .join(StaffUser, col(StaffUser.id) == col(StaffToken.staff_user_id))
        .order_by(col(StaffToken.id))
    )
    if username is not None:
        statement = statement.where(StaffUser.username == username)
    return [
        TokenInfo(
            id=row.id or 0,
            username=name,
            label=row.label,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
        )
        for row, name in session.exec(statement)
    ]


def revoke_token(*, session: Session, clock: Clock, token_id: int, actor: str) -> StaffToken:
    """Revoke a token from now on; revoking it again changes nothing."""
    row = session.get(StaffToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is not None:
        return row
    before = snapshot(row)
    row.revoked_at = clock.now()
    session.add(row)
    session.flush()
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="staff.token.revoke",
        entity="staff_token",
        entity_id=row.id,
        before=before,
        after=snapshot(row),
        reason="revoked",
    )
    return row


def staff_for_token(*, session: Session, token: str, now: datetime) -> StaffUser | None:
    """The active user whose unexpired, unrevoked token this is, or None. One read."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    found = session.exec(
        select(StaffUser, StaffToken)
        .join(StaffToken, col(StaffToken.staff_user_id) == col(StaffUser.id))
        .where(StaffToken.token_hash == token_hash(token))
    ).first()
    if found is None:
        return None
    user, row = found
    if row.revoked_at is not None or row.expires_at <= now or not user.active:
        return None
    return user
