"""A customer's statement (`/console/statement?account=N`, any staff role): the balance, what
is due, open late fees, each bill's standing and the newest ledger entries, as the accounts
API shows them (`GET /api/v1/accounts/{number}/statement`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from api.console.pages import ConsoleUser, NavItem, console_router, late_fee_policy, render
from api.deps import ClockDep, SessionDep, SettingsDep
from billing_core.arrears import service as arrears
from billing_core.errors import NotFound

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
    ledger, problem = None, ""
    number = account.strip()
    if number:
        try:
            ledger = arrears.account_ledger(
                session=session, number=number,
                today=clock.now().astimezone(settings.tz).date(), currency=settings.currency,
                policy=late_fee_policy(settings.policy_dir), recent=30,
            )  # fmt: skip
        except NotFound as exc:
            problem = str(exc)
    return render(
        request, "console/statement.html", user,
        {"account": number, "ledger": ledger, "problem": problem or request.query_params.get(
            "problem", "")},
        status_code=404 if problem else 200,
    )  # fmt: skip
