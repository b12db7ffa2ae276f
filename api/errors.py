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
    # 422 by number: Starlette renamed its constant (…_ENTITY → …_CONTENT) and warns on the
    # old name, while the versions this project allows do not all have the new one.
    return HTTPException(UNPROCESSABLE, str(exc))


UNPROCESSABLE = 422
