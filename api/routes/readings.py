"""`POST /api/v1/readings`: a batch of meter readings from an integration or a reader's app,
imported as one batch by a staff user (reviewer or admin); the answer is the batch's report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from api import schemas
from api.auth import actor_name, staff_router, staff_with_role
from api.deps import ClockDep, SessionDep, SettingsDep, exact_json
from api.errors import ErrorBody, error_responses
from billing_core.readings.importing import ApiReading, api_content, parse_api_json
from billing_core.readings.service import import_readings
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1", tags=["readings"])

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
    response_model=schemas.ReadingsReport,
    responses={
        **error_responses(403),
        409: {"model": ErrorBody, "description": "The same batch is being imported concurrently"},
    },
)
def post_readings(
    user: ReadingsStaff,  # its role is checked before the body is read
    body: Body,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    parsed = parse_api_json(body.readings, tz=settings.tz, now=clock.now())
    report = import_readings(
        session=session,
        clock=clock,
        parsed=parsed,
        source="api",
        name=body.name,
        content=api_content(body.readings),
        actor=actor_name(user),
        tz=settings.tz,
    )
    return report.to_json()
