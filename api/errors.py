"""Domain errors translated at the edge: one exception handler maps every error the core raises
to its HTTP status and one JSON body, so routes call the core and let its errors through."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.deps import id_or_none
from billing_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied, WattdeskError
from billing_core.payments.providers import ProviderUnavailable

# 422 by number: Starlette renamed its constant (…_ENTITY → …_CONTENT) and warns on the
# old name, while the versions this project allows do not all have the new one.
UNPROCESSABLE = 422

# A domain error's class (or its nearest listed base) → its status and the body's `error`.
# A subclass maps as its base does: UnknownAccount as NotFound, TariffError as InvalidInput.
STATUSES: dict[type[WattdeskError], tuple[int, str]] = {
    PermissionDenied: (status.HTTP_403_FORBIDDEN, "permission_denied"),
    NotFound: (status.HTTP_404_NOT_FOUND, "not_found"),
    Conflict: (status.HTTP_409_CONFLICT, "conflict"),
    InvalidInput: (UNPROCESSABLE, "invalid_input"),
    ProviderUnavailable: (status.HTTP_503_SERVICE_UNAVAILABLE, "provider_unavailable"),
}
# Any other domain error: the request asked for something the rules refuse.
OTHER = (UNPROCESSABLE, "refused")


class ErrorBody(BaseModel):
    """The body of every answer to a domain error."""

    detail: str  # the core's message, for a person
    error: str  # what kind of error, for a program: one of STATUSES' names, or "refused"
    field: str | None = None  # the request field refused, where the core names one


def status_for(exc: WattdeskError) -> tuple[int, str]:
    """The status and name for `exc`: those of the first of its classes in STATUSES."""
    for cls in type(exc).__mro__:
        found = STATUSES.get(cls)
        if found is not None:
            return found
    return OTHER


async def domain_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WattdeskError)  # registered for WattdeskError only
    code, name = status_for(exc)
    body = {"detail": str(exc), "error": name}
    field = getattr(exc, "field", None)  # the request field a master data refusal names
    if isinstance(field, str):
        body["field"] = field
    return JSONResponse(body, status_code=code)


def _names_nothing(request: Request, exc: RequestValidationError) -> bool:
    """Whether the path fails its type or range (an id no row can have, `api.deps.Id`). A
    body dependency (`exact_json`) refuses before FastAPI reads the path, so the route's
    integer path parameters are checked here too: a bad id is 404 whatever the body."""
    if any(error.get("loc", ())[:1] == ("path",) for error in exc.errors()):
        return True
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return False
    return any(
        id_or_none(str(request.path_params.get(param.name, ""))) is None
        for param in route.dependant.path_params
        if param.field_info.annotation is int
    )


async def validation_error_response(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, except for a path that names nothing (an id beyond what the database
    stores, zero, not a number): 404."""
    assert isinstance(exc, RequestValidationError)  # registered for it only
    if _names_nothing(request, exc):
        return JSONResponse(
            {"detail": "Not Found", "error": "not_found"}, status_code=status.HTTP_404_NOT_FOUND
        )
    return await request_validation_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers. A route's unit of work (SessionDep) has rolled back by the time
    a handler answers: the error passes through the dependency on its way out."""
    app.add_exception_handler(WattdeskError, domain_error_response)
    app.add_exception_handler(RequestValidationError, validation_error_response)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route that may answer these statuses with an ErrorBody."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}


_DESCRIPTIONS = {
    status.HTTP_403_FORBIDDEN: "The staff user's role does not allow this",
    status.HTTP_404_NOT_FOUND: "Not found",
    status.HTTP_409_CONFLICT: "Conflicts with what is stored",
    UNPROCESSABLE: "Refused by the rules",
    status.HTTP_503_SERVICE_UNAVAILABLE: "The provider is unavailable",
}
