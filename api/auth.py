"""Staff sign-in for the staff API, and role checks.

Every staff route is on a router made by `staff_router`, whose dependency `current_staff`
FastAPI resolves before any of the route's own parameters, so before its unit of work
(SessionDep) exists. In that order it:

1. refuses a write a page on another site could have sent (api/csrf.py): 403;
2. refuses, with 429 and Retry-After, a client address or username locked out after failed
   sign-ins (billing_core/staff/throttle.py): a dictionary look-up, no hash, no database;
3. signs in with `Authorization: Bearer <token>` (a personal API token, one indexed read)
   or HTTP Basic: the user is read in a short read-only transaction, which has ended before
   the password hash (about 100 ms of CPU) is checked in a worker thread, off the event
   loop. So no database lock is ever held while a password is checked, and a flood of wrong
   passwords never holds up a writer (signed SMS replies included).

A failure counts against the address and the username; the failure that locks one out is
written to the audit log (once per run of failures). The throttle and the memory of recent
verifications live in this process (`SignIn`): with several web workers each keeps its own.
The client address is the ASGI client's: behind a reverse proxy, let the server take it from
X-Forwarded-For (uvicorn's FORWARDED_ALLOW_IPS set to the proxy's address), or every
client shares the proxy's address and its allowance.

Role checks (`staff_with_role`) need no database either; the route's unit of work begins
only at its first statement (api/deps.py), so a role refused is answered without one."""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from api.csrf import refuse_cross_site_write, refuse_unproven_write
from api.deps import Reader, ReaderDep
from billing_core.app_services import Services, services
from billing_core.staff import sessions, tokens
from billing_core.staff.model import Role
from billing_core.staff.passwords import RecentVerifications, verify_password
from billing_core.staff.service import LockedKind, find_staff, record_lockout, require_role
from billing_core.staff.tables import StaffUser
from billing_core.staff.throttle import ADDRESS_BACKOFF, USER_BACKOFF, Throttle

log = logging.getLogger("wattdesk.auth")

_basic = HTTPBasic(auto_error=False, realm="wattdesk staff")
_bearer = HTTPBearer(auto_error=False, description="A personal API token (`wattdesk staff token`)")
MAX_USERNAME = 64  # StaffUser.username's length: a longer one names nobody
SESSION_COOKIE = "wattdesk_console"  # the console's session (api/console/session.py)
# Password hashes checked at once: each takes a core for ~100 ms, and a flood must leave the
# other cores (and the thread pool the routes share) to everything else.
CONCURRENT_HASHES = 2


@dataclass
class SignIn:
    """This process's sign-in state for one app: the throttles and recent verifications."""

    users: Throttle = field(default_factory=lambda: Throttle(USER_BACKOFF))
    addresses: Throttle = field(default_factory=lambda: Throttle(ADDRESS_BACKOFF))
    verified: RecentVerifications = field(default_factory=RecentVerifications)
    hashing: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(CONCURRENT_HASHES))


def sign_in_state(request: Request) -> SignIn:
    """The app's SignIn, made on first use (on the event loop: no race)."""
    state: SignIn | None = getattr(request.app.state, "sign_in", None)
    if state is None:
        state = request.app.state.sign_in = SignIn()
    return state


def client_key(request: Request) -> str:
    """The client address a failure counts against. An IPv6 client is counted by its /64
    (one subscriber's whole network: anyone there can take a fresh address per attempt)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if address.version == 6 and address.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address.ipv4_mapped or address) if address.version == 6 else str(address)


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="staff sign-in required",
        headers={"WWW-Authenticate": 'Basic realm="wattdesk staff", Bearer'},
    )


def _too_many(wait: timedelta) -> HTTPException:
    seconds = max(1, math.ceil(wait.total_seconds()))
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many failed sign-ins: try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


async def _password_user(
    read: Reader, state: SignIn, username: str, password: str, now: datetime
) -> StaffUser | None:
    user = None
    if len(username) <= MAX_USERNAME:
        # Read in a transaction of its own, ended before the hash is checked.
        user = await read(lambda session: find_staff(session, username))
    stored = user.password_hash if user is not None else None
    if stored is not None and state.verified.seen(username, password, stored, now):
        matches = True
    else:
        matches = await anyio.to_thread.run_sync(
            verify_password, stored, password, limiter=state.hashing
        )
        if matches and stored is not None:
            state.verified.remember(username, password, stored, now)
    return user if user is not None and user.active and matches else None


async def _audit_lockout(
    parts: Services, throttle: Throttle, kind: LockedKind, key: str, now: datetime
) -> None:
    attempts = throttle.attempts(key)
    locked_until = attempts.locked_until or now
    log.warning("sign-in locked out: %s %s after %d failures until %s",
                kind, key, attempts.failures, locked_until.isoformat())  # fmt: skip
    try:
        await parts.units.run(
            functools.partial(record_lockout, clock=parts.clock, kind=kind, key=key,
                              failures=attempts.failures, locked_until=locked_until)
        )  # fmt: skip
    except Exception:  # the refusal stands whether or not its record could be written
        log.exception("could not audit a sign-in lock-out")


def session_cookie(request: Request) -> str | None:
    """The console's session cookie, if the request carries one."""
    return request.cookies.get(SESSION_COOKIE) or None


async def current_staff(
    request: Request,
    read: ReaderDep,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffUser:
    """The signed-in staff user (the module's docstring: CSRF, throttle, then credentials).
    Credentials, in this order: a Bearer token, HTTP Basic, the console's session cookie."""
    parts = services(request)
    cookie = session_cookie(request) if basic is None and bearer is None else None
    if cookie is not None:
        await refuse_unproven_write(request, parts.settings, sessions.csrf_token(cookie))
    else:
        refuse_cross_site_write(request, parts.settings)
    if basic is None and bearer is None and cookie is None:
        raise _unauthorized()
    if basic is not None:
        user = await sign_in_with_password(request, read, basic.username, basic.password)
        if user is None:
            raise _unauthorized()
        return user
    state = sign_in_state(request)
    now = parts.clock.now()
    address = client_key(request)
    wait = state.addresses.wait(address, now)
    if wait is not None:
        raise _too_many(wait)
    if bearer is not None:
        # A token is 256 random bits: guessing one is hopeless, so a username's lock-out (its
        # password being guessed) leaves its tokens working; an address's stops everything.
        token = bearer.credentials
        state.addresses.admit(address, now)
        try:
            user = await read(
                lambda session: tokens.staff_for_token(session=session, token=token, now=now)
            )
        except BaseException:
            state.addresses.withdraw(address)
            raise
        if user is not None:
            state.addresses.succeed(address, forgive=False)
            return user
        now = parts.clock.now()
        if state.addresses.fail(address, now):
            await _audit_lockout(parts, state.addresses, "client_address", address, now)
        raise _unauthorized()
    # The console's session: as unguessable as a token, and sent by the browser by itself,
    # so a stale one (an old tab after its session expired) is not counted as a failure:
    # it would lock an office out. The address's lock-out still stops it (above).
    assert cookie is not None
    clock = parts.clock
    user = await read(
        lambda session: sessions.staff_for_session(session=session, token=cookie, clock=clock)
    )
    if user is None:
        raise _unauthorized()
    return user


async def sign_in_with_password(
    request: Request, read: Reader, username: str, password: str
) -> StaffUser | None:
    """The active staff user with this username and password, or None; refused with 429 and
    Retry-After while the address or the username is locked out. HTTP Basic and the
    console's sign-in form both come here: the same back-off, lock-out and audit."""
    parts = services(request)
    state = sign_in_state(request)
    now = parts.clock.now()
    address = client_key(request)
    key = username[:MAX_USERNAME]  # what the username's failures count against
    waits = [state.addresses.wait(address, now), state.users.wait(key, now)]
    longest = max((w for w in waits if w is not None), default=None)
    if longest is not None:
        raise _too_many(longest)

    state.addresses.admit(address, now)
    state.users.admit(key, now)
    try:
        user = await _password_user(read, state, username, password, now)
    except BaseException:
        state.addresses.withdraw(address)
        state.users.withdraw(key)
        raise

    now = parts.clock.now()
    if user is not None:
        state.addresses.succeed(address, forgive=False)
        state.users.succeed(key, forgive=True)
        return user
    if state.addresses.fail(address, now):
        await _audit_lockout(parts, state.addresses, "client_address", address, now)
    if state.users.fail(key, now):
        await _audit_lockout(parts, state.users, "staff_user", key, now)
    return None


StaffDep = Annotated[StaffUser, Depends(current_staff)]
# The credentials current_staff reads, for a dependency that wraps it (the console's pages).
BasicDep = Annotated[HTTPBasicCredentials | None, Depends(_basic)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def staff_router(**kwargs: Any) -> APIRouter:
    """A router for staff routes: every route on it signs the user in first (and refuses a
    cross-site write), before anything of its own, its unit of work included."""
    dependencies = [Depends(current_staff), *kwargs.pop("dependencies", ())]
    return APIRouter(dependencies=dependencies, **kwargs)


def staff_with_role(*roles: Role) -> Callable[[StaffUser], Awaitable[StaffUser]]:
    """A dependency: the signed-in staff user, if their role allows (admins always do)."""

    async def dependency(user: StaffDep) -> StaffUser:  # async: no thread for a comparison
        require_role(user, *roles)  # PermissionDenied answers 403 (api.errors)
        return user

    return dependency


def actor_name(user: StaffUser) -> str:
    """How a staff user appears in the audit log."""
    return f"staff:{user.username}"
