"""The staff API for an account's ledger: its statement (any staff role) and late fee waivers
(the roles the late fee policy names: collections and admin by default)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from api import schemas
from api.auth import StaffDep, staff_router
from api.deps import ClockDep, SessionDep, SettingsDep, exact_json, json_body_doc
from api.errors import error_responses
from billing_core.arrears import service as arrears
from billing_core.ledger.policy import LateFeePolicy, load_late_fee_policy

router = staff_router(prefix="/api/v1/accounts", tags=["accounts"])


class WaiveBody(BaseModel):
    reason: str = Field(min_length=1, max_length=300)
    entry_ids: list[int] | None = Field(default=None, max_length=1000)


@cache
def _policy(directory: Path) -> LateFeePolicy:
    # Read once per policy directory, then kept: the file does not change under a running app.
    return load_late_fee_policy(directory)


@router.get(
    "/{number}/statement",
    response_model=schemas.AccountStatement,
    responses=error_responses(404),
)
def statement(
    number: str,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    _user: StaffDep,
    entries: Annotated[int, Query(ge=0, le=500)] = 20,
) -> dict[str, Any]:
    ledger = arrears.account_ledger(
        session=session,
        number=number,
        today=clock.now().astimezone(settings.tz).date(),
        currency=settings.currency,
        policy=_policy(settings.policy_dir),
        recent=entries,
    )
    return ledger.as_json()


@router.post(
    "/{number}/late-fees/waive",
    openapi_extra=json_body_doc(WaiveBody),
    response_model=schemas.Waivers,
    responses=error_responses(403, 404, 409),
)
def waive_late_fees(
    number: str,
    body: Annotated[WaiveBody, Depends(exact_json(WaiveBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    user: StaffDep,
) -> dict[str, Any]:
    # Who may waive is the policy's to say, so the role is checked by the service.
    account = arrears.account_by_number(session, number)
    assert account.id is not None
    waivers = arrears.waive_late_fees(
        session=session,
        clock=clock,
        tz=settings.tz,
        actor=user,
        account_id=account.id,
        reason=body.reason,
        entry_ids=body.entry_ids,
        policy=_policy(settings.policy_dir),
    )
    return {"account": number, "waived": [arrears.waiver_json(w) for w in waivers]}
