"""The staff API for outbound messages (role agent): the messages in one status, so staff see
what could not be delivered and why (`undeliverable`: no channel left), and what failed or
was cancelled."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query

from api import schemas
from api.auth import staff_router, staff_with_role
from api.deps import Offset, SessionDep
from api.errors import error_responses
from billing_core.outbox.service import list_messages
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1", tags=["outbox"])
Agent = Annotated[StaffUser, Depends(staff_with_role(Role.agent))]
STATUSES = "^(undeliverable|failed|cancelled|pending|sending|sent|delivered)$"


@router.get("/outbox", response_model=schemas.OutboxMessages, responses=error_responses(403))
def list_outbox(
    session: SessionDep,
    _user: Agent,
    status: Annotated[str, Query(pattern=STATUSES)] = "undeliverable",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    return {"items": list_messages(session=session, status=status, limit=limit, offset=offset)}
