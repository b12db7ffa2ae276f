"""FastAPI dependencies: the app's Services and what routes read of them (the settings, the
clock, ...), one unit of work per request, and JSON bodies read with exact decimals."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.app_services import Services, services
from billing_core.arrears.rules import ArrearsRules
from billing_core.clock import Clock
from billing_core.db.engine import IMMEDIATE, SQLITE_BEGIN
from billing_core.errors import Conflict
from billing_core.payments.service import PaymentContext
from billing_core.settings import Settings

Body = TypeVar("Body", bound=BaseModel)
T = TypeVar("T")

# The largest id a row can have: every id column is INTEGER, 32 bits on PostgreSQL. Every
# integer id a route takes from its path is `Id`, so a larger number (or zero, or a negative
# one) is refused before it reaches the driver, where it overflowed into a 500; api/errors.py
# answers a path that names no row with 404. Widen this with the columns (BIGINT: 2**63 - 1).
MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
# A page's offset in a listing: past MAX_ID no row can be, and a larger number overflowed the
# driver (SQLite's 64-bit integer) into a 500; found by the API fuzz (tests/integration).
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


def id_or_none(value: str) -> int | None:
    """A page's id from its path text, None when it cannot name a row (the page answers its
    own 404): ASCII digits only (str.isdigit also accepts '²', which int() refuses)."""
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_ID)):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


def exact_json(model: type[Body]) -> Callable[[Request], Awaitable[Body]]:
    """A dependency reading the JSON body into `model` with numbers as Decimal, never binary
    floats; errors as FastAPI's own 422."""

    async def body(request: Request) -> Body:
        try:
            data = json.loads(await request.body(), parse_float=Decimal)
        except ValueError as exc:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"JSON decode error: {exc}"}]
            ) from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in errors]
            ) from None

    return body


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """A route's `openapi_extra` documenting `model` as its JSON body, for a route that reads
    its body with `exact_json` (after the caller is signed in) rather than as a parameter
    FastAPI parses before any dependency. Nested models are written out in place."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


def get_services(request: Request) -> Services:
    return services(request)


def get_settings(request: Request) -> Settings:
    return services(request).settings


def get_engine(request: Request) -> Engine:
    return services(request).engine


def get_clock(request: Request) -> Clock:
    return services(request).clock


# Requests that only read. Any other may write: on SQLite its unit of work takes the write
# lock at BEGIN (waiting its turn under the busy timeout). Begun deferred, a unit that reads
# and then writes fails with "database is locked" when another writer (the scheduler, the
# webhook writer, a command) commits between its first read and its first write. Staff
# routes sign the user in before this unit begins (api/auth.py), in a short read of its own.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(
    request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> Iterator[Session]:
    """The request's unit of work: committed when the route returns, rolled back if it
    raises. Its transaction begins at its first statement, not here, so that whatever a
    route checks before it touches the database (the signed-in user's role, a body) answers
    with no transaction begun: on SQLite, without ever holding the write lock."""
    if request.method not in READ_ONLY_METHODS:
        # A light copy of the engine sharing its pool: its connections begin IMMEDIATE.
        engine = engine.execution_options(**{SQLITE_BEGIN: IMMEDIATE})
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class Reader:
    """Reads in a short read-only transaction of their own, each in a worker thread: what a
    request must know before its unit of work begins (who signed in), read without holding
    anything once read. `await reader(work)` is `work(session)`'s result."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, work: Callable[[Session], T]) -> T:
        return await anyio.to_thread.run_sync(self._read, work)

    def _read(self, work: Callable[[Session], T]) -> T:
        with Session(self.engine, expire_on_commit=False) as session:
            return work(session)  # the session's end rolls the read back: nothing to commit


def get_reader(engine: Annotated[Engine, Depends(get_engine)]) -> Reader:
    return Reader(engine)


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ReaderDep = Annotated[Reader, Depends(get_reader)]
# scope="function": the unit of work commits (or rolls back) when the route returns, before
# the answer is sent, so a 200 means the write is durable; FastAPI's default would commit
# after the response, where a crash loses what was acknowledged.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_payment_context(request: Request) -> PaymentContext:
    """The app's PaymentContext (settings joined with policies/payments.yaml), made at start."""
    return services(request).payment_context


PaymentContextDep = Annotated[PaymentContext, Depends(get_payment_context)]


def arrears_rules(request: Request) -> ArrearsRules:
    """The arrears ladder's rules for the staff API and the console (a Conflict when the
    ladder is not configured)."""
    rules = services(request).payment_context.arrears
    if rules is None:
        raise Conflict("the arrears ladder is not configured")
    return rules
