"""Domain errors translated at the edge: one mapping for every staff API route."""

from __future__ import annotations

from fastapi import HTTPException, status

from billing_core.errors import Conflict, NotFound, PermissionDenied, WattdeskError


def http_error(exc: WattdeskError) -> HTTPException:
    if isinstance(exc, PermissionDenied):
        return HTTPException(status.HTTP_403_FORBIDDEN, str(exc))
    if isinstance(exc, NotFound):
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if isinstance(exc, Conflict):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc))
