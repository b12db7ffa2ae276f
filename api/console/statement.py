"""A customer's statement (`/console/statement?account=N`, any staff role): the balance, what
is due, open late fees, each bill's standing and the newest ledger entries, as the accounts
API shows them (`GET /api/v1/accounts/{number}/statement`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.console.pages import ConsoleUser, NavItem, account_ledger, console_router, render
from api.deps import ClockDep, SessionDep, SettingsDep

router = console_router()
NAV = NavItem("/console/statement", "Statement")


@router.get("/console/statement", response_class=HTMLResponse)
def statement_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    account: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    number = account.strip()
    ledger, problem = account_ledger(session, clock, settings, number, recent=30)
    return render(
        request, "console/statement.html", user,
        {"account": number, "ledger": ledger,
         "problem": problem or request.query_params.get("problem", "")},
        status_code=404 if problem else 200,
    )  # fmt: skip
