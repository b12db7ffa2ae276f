"""Late-fee waivers (`/console/waivers?account=N`, the roles the late fee policy names:
collections and admin by default): an account's open late fees, waived with a reason through
the same service as the accounts API (`POST /api/v1/accounts/{number}/late-fees/waive`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from api.console.pages import (
    ConsoleUser,
    NavItem,
    PageRefused,
    account_ledger,
    after_action,
    allowed,
    console_router,
    late_fee_policy,
    refusals,
    render,
)
from api.deps import ClockDep, SessionDep, SettingsDep
from billing_core.arrears import service as arrears
from billing_core.ledger.model import EntryKind
from billing_core.settings import Settings
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
# Who may waive is the policy's to say; the nav shows the page to the default roles.
NAV = NavItem("/console/waivers", "Late-fee waivers", (Role.collections,))


def _may_waive(user: StaffUser, settings: Settings) -> None:
    roles = late_fee_policy(settings.policy_dir).waiver_roles
    if not allowed(user, tuple(roles)):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            f"{user.username} ({user.role}) may not waive late fees; the policy allows "
            f"{', '.join(r.value for r in roles)}",
            user=user,
        )


@router.get("/console/waivers", response_class=HTMLResponse)
def waivers_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    account: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    _may_waive(user, settings)
    number = account.strip()
    ledger, problem = account_ledger(session, clock, settings, number, recent=100)
    fees = [e for e in ledger.recent if e.kind == EntryKind.late_fee] if ledger else []
    return render(
        request, "console/waivers.html", user,
        {"account": number, "ledger": ledger, "fees": fees,
         "problem": problem or request.query_params.get("problem", "")},
        status_code=404 if problem else 200,
    )  # fmt: skip


@router.post("/console/waivers")
def waive(
    user: ConsoleUser,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    account: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1200)] = "",
) -> Response:
    """Waive every open late fee on the account, with the reason (audited by the service)."""
    _may_waive(user, settings)
    here = "/console/waivers?" + urlencode({"account": account.strip()})
    waived = []
    with refusals(session) as problems:
        found = arrears.account_by_number(session, account.strip())
        waived = arrears.waive_late_fees(
            session=session, clock=clock, tz=settings.tz, actor=user, account_id=found.id or 0,
            reason=reason, entry_ids=None, policy=late_fee_policy(settings.policy_dir),
        )  # fmt: skip
    total = sum((-w.amount for w in waived), start=Decimal(0))
    done = f"{len(waived)} late fee(s) waived, {total} in all"
    return after_action(here, problems, done)
