"""Staff use cases: create users, check passwords, check permissions, record lock-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlmodel import Session, select

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.errors import Conflict, InvalidInput, PermissionDenied
from billing_core.staff.model import Role
from billing_core.staff.passwords import hash_password, verify_password
from billing_core.staff.tables import StaffUser

MIN_PASSWORD_LENGTH = 10


def add_staff(
    *,
    session: Session,
    clock: Clock,
    username: str,
    role: str,
    password: str,
    full_name: str = "",
    actor: str,
) -> StaffUser:
    username = username.strip()
    if not username or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise InvalidInput("username: letters, digits, '.', '-' and '_' only")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(
            f"role {role!r} is not one of: {', '.join(r.value for r in Role)}"
        ) from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(StaffUser).where(StaffUser.username == username)).first():
        raise Conflict(f"staff user {username!r} already exists")
    user = StaffUser(
        username=username,
        full_name=full_name,
        role=role,
        password_hash=hash_password(password),
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="staff.add",
        entity="staff_user",
        entity_id=user.id,
        before=None,
        after=snapshot(user),
        reason="new staff user",
    )
    return user


def find_staff(session: Session, username: str) -> StaffUser | None:
    """The staff user of this name (active or not), or None."""
    return session.exec(select(StaffUser).where(StaffUser.username == username)).first()


def authenticate(*, session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with this password, or None (same answer, in about the same time, for
    unknown users). It checks the hash inside the caller's transaction: the web app reads
    the user in a short transaction of its own and checks the hash after it (api/auth.py)."""
    user = find_staff(session, username)
    matches = verify_password(user.password_hash if user else None, password)
    return user if user is not None and user.active and matches else None


LockedKind = Literal["staff_user", "client_address"]


def record_lockout(
    session: Session,
    *,
    clock: Clock,
    kind: LockedKind,
    key: str,
    failures: int,
    locked_until: datetime,
) -> None:
    """Audit that a username or a client address was locked out after failed sign-ins (once
    per run of failures, not per failure: a flood writes almost nothing)."""
    record_change(
        session=session,
        clock=clock,
        actor="system:sign-in",
        action="staff.sign_in.locked_out",
        entity=kind,
        entity_id=key[:64],
        before=None,
        after={"failures": failures, "locked_until": locked_until},
        reason="too many failed sign-ins",
    )


def require_role(user: StaffUser, *allowed: Role) -> None:
    """Admins may do everything; others only what their role allows."""
    if user.role == Role.admin or user.role in allowed:
        return
    raise PermissionDenied(
        f"{user.username} ({user.role}) may not do this; needs {', '.join(allowed)}"
    )
