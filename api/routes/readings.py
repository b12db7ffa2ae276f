"""`POST /api/v1/readings`: a batch of meter readings from an integration or a reader's app,
imported as one batch by a staff user (reviewer or admin); the answer is the batch's report."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import actor_name, staff_with_role
from api.deps import ClockDep, SessionDep, SettingsDep, exact_json
from billing_core.errors import Conflict
from billing_core.readings.importing import ApiReading, parse_api_json
from billing_core.readings.service import import_readings
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = APIRouter(prefix="/api/v1", tags=["readings"])

MAX_READINGS = 10_000  # a larger batch is split by the caller; each part is its own batch


class ReadingsBody(BaseModel):
    """The request body. Each item of `readings` is checked on its own (see ApiReading), so
    one bad item is reported in the batch, not answered with 422."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=255)
    readings: list[Any] = Field(min_length=1, max_length=MAX_READINGS)


_BODY_SCHEMA = {
    "type": "object",
    "required": ["readings"],
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "readings": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_READINGS,
            "items": ApiReading.model_json_schema(),
        },
    },
}


ReadingsStaff = Annotated[StaffUser, Depends(staff_with_role(Role.reviewer))]
Body = Annotated[ReadingsBody, Depends(exact_json(ReadingsBody))]


@router.post(
    "/readings",
    summary="Import a batch of meter readings",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
    responses={409: {"description": "The same batch is being imported concurrently"}},
)
def post_readings(
    user: ReadingsStaff,  # first: credentials are checked before the body is read
    body: Body,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    parsed = parse_api_json(body.readings, tz=settings.tz, now=clock.now())
    # The readings, canonically serialised, identify the batch: a retried call is a no-op.
    content = json.dumps(
        body.readings, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()
    try:
        report = import_readings(
            session=session,
            clock=clock,
            parsed=parsed,
            source="api",
            name=body.name,
            content=content,
            actor=actor_name(user),
            tz=settings.tz,
        )
    except Conflict as exc:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return report.to_json()
