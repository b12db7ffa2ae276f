"""The inbox (`/console`, role agent): conversations across SMS and Telegram, newest activity
first, filtered (waiting for a person, mine, with an agent, with the bot, all; unread only),
with unread counts and how long each customer has waited. The rows are a fragment of their
own (`/console/inbox/rows`), which the page fetches again when the live stream says
something changed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api.console.pages import NavItem, console_router, latest_event_id, render, with_role
from api.deps import ClockDep, SessionDep
from billing_core.clock import Clock
from billing_core.conversations import inbox
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console", "Inbox", (Role.agent,))
Agent = Annotated[StaffUser, Depends(with_role(Role.agent))]
StateQuery = Annotated[inbox.Filter, Query()]
FILTER_TITLES = {
    "queued": "Waiting for a person",
    "mine": "Mine",
    "agent": "With an agent",
    "bot": "With the bot",
    "all": "All",
}


def _rows(
    session: Session, clock: Clock, user: StaffUser, state: inbox.Filter, unread: bool
) -> dict[str, Any]:
    rows = inbox.list_conversations(
        session=session, viewer=user.username, state=state, unread_only=unread
    )
    return {
        "rows": rows,
        "now": clock.now(),
        "state": state,
        "unread": unread,
        "unread_total": inbox.unread_conversations(session=session, viewer=user.username),
        "state_labels": inbox.STATE_LABELS,
    }


@router.get("/console", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    state: StateQuery = "all",
    unread: bool = False,
) -> HTMLResponse:
    return render(
        request, "console/inbox.html", user,
        {**_rows(session, clock, user, state, unread), "filters": FILTER_TITLES,
         "last_event_id": latest_event_id(session)},
    )  # fmt: skip


@router.get("/console/inbox/rows", response_class=HTMLResponse)
def inbox_rows(
    request: Request,
    user: Agent,
    session: SessionDep,
    clock: ClockDep,
    state: StateQuery = "all",
    unread: bool = False,
) -> HTMLResponse:
    return render(
        request, "console/_inbox_rows.html", user, _rows(session, clock, user, state, unread)
    )
