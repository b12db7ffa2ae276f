"""The demo's staff: one user per role, with passwords printed by `make demo`.

Only for the embedded development default; `ensure_demo_staff` refuses in production."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from billing_core.clock import Clock
from billing_core.errors import PermissionDenied
from billing_core.settings import Environment, Settings
from billing_core.staff.model import Role
from billing_core.staff.service import add_staff
from billing_core.staff.tables import StaffUser


@dataclass(frozen=True)
class DemoStaff:
    username: str
    role: Role
    password: str
    full_name: str


DEMO_STAFF = (
    DemoStaff("agent", Role.agent, "agent-demo-2026", "王芳 (demo agent)"),
    # A second agent: the console shows one owner at a time (sign in as both to see it).
    DemoStaff("agent2", Role.agent, "agent2-demo-2026", "李强 (demo agent)"),
    DemoStaff("reviewer", Role.reviewer, "reviewer-demo-2026", "张伟 (demo reviewer)"),
    DemoStaff(
        "collections", Role.collections, "collections-demo-2026", "Sam Lee (demo collections)"
    ),
    DemoStaff("admin", Role.admin, "admin-demo-2026", "Demo Admin"),
)


def ensure_demo_staff(*, session: Session, clock: Clock, settings: Settings) -> list[DemoStaff]:
    """Create any missing demo staff user; returns those created."""
    if settings.env == Environment.production:
        raise PermissionDenied("demo staff with published passwords are refused in production")
    existing = set(session.exec(select(StaffUser.username)))
    created = []
    for demo in DEMO_STAFF:
        if demo.username in existing:
            continue
        add_staff(
            session=session,
            clock=clock,
            username=demo.username,
            role=demo.role,
            password=demo.password,
            full_name=demo.full_name,
            actor="demo",
        )
        created.append(demo)
    return created
