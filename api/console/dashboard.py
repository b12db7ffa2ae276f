"""The dashboard (`/console/dashboard`, any staff role): messages per channel and status,
the agents' queue, the outbox backlog, collection rate, arrears ageing and channel health,
drawn in the browser from `GET /api/v1/dashboard` (docs/health.md)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.console.pages import ConsoleUser, NavItem, console_router, render

router = console_router()
NAV = NavItem("/console/dashboard", "Dashboard")


@router.get("/console/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, user: ConsoleUser) -> HTMLResponse:
    return render(request, "console/dashboard.html", user, {})
