"""/healthz (the process is up) and /readyz (database reachable, migrations current)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api import schemas
from api.deps import EngineDep
from billing_core.db import migrate

router = APIRouter(tags=["health"])

# /healthz is polled often and its answer never changes: its body is written once, and the
# route answers a Response (FastAPI then skips validating and serialising it; the model
# still describes it in the OpenAPI document).
_UP = schemas.Health(status="ok").model_dump_json().encode()


@router.get("/healthz", response_model=schemas.Health)
def healthz() -> Response:
    return Response(_UP, media_type="application/json")


@router.get(
    "/readyz",
    response_model=schemas.Readiness,
    responses={503: {"model": schemas.Readiness, "description": "Not ready"}},
)
def readyz(engine: EngineDep, response: Response) -> schemas.Readiness:
    checks: dict[str, str] = {}
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = migrate.current_revision(engine), migrate.head_revision(engine)
        checks["migrations"] = "ok" if current == head else f"at {current}, newest is {head}"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values()) and "migrations" in checks
    if not ready:
        response.status_code = 503
    return schemas.Readiness(status="ready" if ready else "not ready", checks=checks)
