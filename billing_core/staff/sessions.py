"""Console sessions: a browser signed in with a username and password gets a session cookie
holding 256 random bits; only their SHA-256 is stored (`staff_session`), with an absolute
expiry. Looking a session up is one indexed read and writes nothing (a page read never
writes); signing out deletes the row, and expired rows are swept when someone signs in.

The password itself is checked by the caller, outside any transaction (api/auth.py), with
the same back-off and lock-out as the staff API."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from billing_core.audit.service import record_change
from billing_core.clock import Clock
from billing_core.staff.tables import StaffSession, StaffUser

# A working shift and a margin: after it the person signs in again.
SESSION_LIFETIME = timedelta(hours=12)
_CSRF_CONTEXT = b"wattdesk console csrf v1"


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(session_token: str) -> str:
    """The session's CSRF token (a form's hidden input, fetch's X-CSRF-Token header): derived
    from the cookie's value, which a page on another site can neither read nor guess, so
    nothing more is stored."""
    return hmac.new(
        session_token.encode("utf-8", "surrogatepass"), _CSRF_CONTEXT, hashlib.sha256
    ).hexdigest()


def start_session(*, session: Session, clock: Clock, user: StaffUser) -> str:
    """A new session for `user` (already signed in by password); returns the cookie value
    (stored only as its hash). Audited."""
    now = clock.now()
    session.execute(delete(StaffSession).where(col(StaffSession.expires_at) <= now))
    token = new_session_token()
    row = StaffSession(
        staff_user_id=user.id or 0,
        token_hash=session_hash(token),
        created_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    session.add(row)
    session.flush()
    record_change(
        session=session, clock=clock, actor=f"staff:{user.username}",
        action="staff.console.sign_in", entity="staff_session", entity_id=row.id, before=None,
        after={"expires_at": row.expires_at}, reason="signed in to the console",
    )  # fmt: skip
    return token


def staff_for_session(*, session: Session, token: str, clock: Clock) -> StaffUser | None:
    """The active staff user whose unexpired session this cookie value is, or None. Reads
    only."""
    if not token or len(token) > 128:
        return None
    return session.exec(
        select(StaffUser)
        .join(StaffSession, col(StaffSession.staff_user_id) == col(StaffUser.id))
        .where(
            col(StaffSession.token_hash) == session_hash(token),
            col(StaffSession.expires_at) > clock.now(),
            col(StaffUser.active).is_(True),
        )
    ).first()


def end_session(*, session: Session, clock: Clock, token: str, actor: str) -> bool:
    """Sign out: the session's row is deleted (whether or not it had expired). Audited when
    there was one; returns whether there was."""
    row = session.exec(
        select(StaffSession).where(col(StaffSession.token_hash) == session_hash(token))
    ).first()
    if row is None:
        return False
    record_change(
        session=session, clock=clock, actor=actor, action="staff.console.sign_out",
        entity="staff_session", entity_id=row.id, before={"expires_at": row.expires_at},
        after=None, reason="signed out of the console",
    )  # fmt: skip
    session.delete(row)
    session.flush()
    return True
