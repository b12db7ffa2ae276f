"""Staff authentication for the staff API: HTTP Basic (for scripts and integrations) checked
against the staff table, and role checks as dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from api.deps import SessionDep
from billing_core.staff.model import Role
from billing_core.staff.service import authenticate, require_role
from billing_core.staff.tables import StaffUser

_basic = HTTPBasic(auto_error=False, realm="wattdesk staff")


def current_staff(
    session: SessionDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> StaffUser:
    if credentials is not None:
        user = authenticate(
            session=session, username=credentials.username, password=credentials.password
        )
        if user is not None:
            return user
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="staff sign-in required",
        headers={"WWW-Authenticate": 'Basic realm="wattdesk staff"'},
    )


StaffDep = Annotated[StaffUser, Depends(current_staff)]


def staff_with_role(*roles: Role) -> Callable[[StaffUser], StaffUser]:
    """A dependency: the signed-in staff user, if their role allows (admins always do)."""

    def dependency(user: StaffDep) -> StaffUser:
        require_role(user, *roles)  # PermissionDenied answers 403 (api.errors)
        return user

    return dependency


def actor_name(user: StaffUser) -> str:
    """How a staff user appears in the audit log."""
    return f"staff:{user.username}"
