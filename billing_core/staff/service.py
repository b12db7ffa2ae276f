"""Staff use cases: create users, check passwords, check permissions."""

from __future__ import annotations

from pwdlib import PasswordHash
from sqlmodel import Session, select

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.errors import Conflict, InvalidInput, PermissionDenied
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

_hasher = PasswordHash.recommended()  # argon2id

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
        password_hash=_hasher.hash(password),
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


def authenticate(*, session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with this password, or None (same answer for unknown users)."""
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    if user is None:
        _hasher.hash(password)  # spend the same time as a real check
        return None
    if not user.active or not _hasher.verify(password, user.password_hash):
        return None
    return user


def require_role(user: StaffUser, *allowed: Role) -> None:
    """Admins may do everything; others only what their role allows."""
    if user.role == Role.admin or user.role in allowed:
        return
    raise PermissionDenied(
        f"{user.username} ({user.role}) may not do this; needs {', '.join(allowed)}"
    )
