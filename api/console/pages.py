"""What every console page shares: its router, the signed-in person (or a redirect to the
sign-in page), role checks answered with a 403 page, the layout's context (the nav for the
person's role, the CSRF token, the live stream's last event id) and a domain error turned
into a message on the page the action came from.

A page is one module of this package with a `router` made by `console_router()` and a `NAV`
entry (or None); `api/console/__init__.py` lists the modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from api.auth import SESSION_COOKIE, BasicDep, BearerDep, current_staff, session_cookie
from api.deps import ReaderDep
from api.errors import validation_error_response
from billing_core.app_services import services
from billing_core.arrears import service as arrears
from billing_core.arrears.service import AccountLedger
from billing_core.clock import Clock
from billing_core.errors import InvalidInput, NotFound, WattdeskError
from billing_core.ledger.policy import LateFeePolicy, load_late_fee_policy
from billing_core.live.service import latest_id
from billing_core.settings import Environment, Settings
from billing_core.staff import sessions
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

LOGIN_PATH = "/console/login"
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
MAX_MESSAGE = 300  # a message shown on the page after an action (it travels in the URL)


def waited(seconds: int | None) -> str:
    """How long someone has waited, as a person says it: "40 s", "12 min", "3 h 5 min"."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d"


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """An instant in the utility's time zone, to the minute."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value is not None else ""


templates.env.filters["waited"] = waited
templates.env.filters["local"] = local_time


@dataclass(frozen=True)
class NavItem:
    href: str
    title: str
    roles: tuple[Role, ...] = ()  # empty: every staff role


def allowed(user: StaffUser, roles: tuple[Role, ...]) -> bool:
    """Whether the user's role may use a page (admins may use every page)."""
    return not roles or user.role == Role.admin or user.role in roles


class LoginRequired(Exception):
    """No valid session: the person is sent to the sign-in page."""


class PageRefused(Exception):
    """A console page answered with an HTML error page (403 for a role, 404, ...)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        user: StaffUser | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.user = user
        self.headers = headers or {}


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in: anything else (another site, `//host`, a
    scheme) is the console's home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/console"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return "/console"
    return target


def login_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = request.headers.get("referer", "") and urlsplit(request.headers["referer"]).path
    return f"{LOGIN_PATH}?{urlencode({'next': safe_next(here)})}"


async def console_user(
    request: Request, read: ReaderDep, basic: BasicDep, bearer: BearerDep
) -> StaffUser:
    """The signed-in person: the console's session cookie (or, for scripts and tests, what
    the staff API accepts). No credentials, or a session that ended: LoginRequired."""
    if basic is None and bearer is None and session_cookie(request) is None:
        raise LoginRequired
    try:
        return await current_staff(request, read, basic, bearer)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and basic is None and bearer is None:
            raise LoginRequired from None
        raise PageRefused(
            exc.status_code, str(exc.detail), headers=dict(exc.headers or {})
        ) from None


ConsoleUser = Annotated[StaffUser, Depends(console_user)]


def with_role(*roles: Role) -> Callable[[StaffUser], Any]:
    """A dependency: the signed-in person, if their role may use the page (else a 403 page)."""

    async def dependency(user: ConsoleUser) -> StaffUser:
        if not allowed(user, roles):
            raise PageRefused(
                status.HTTP_403_FORBIDDEN,
                f"{user.username} ({user.role}) may not use this page; it is for "
                f"{', '.join(r.value for r in roles)} (and admins)",
                user=user,
            )
        return user

    return dependency


def console_router() -> APIRouter:
    """A router for console pages: not in the API's OpenAPI document."""
    return APIRouter(include_in_schema=False)


def cookie_secure(settings: Settings) -> bool:
    """The console's cookies are Secure (HTTPS only) except in development."""
    return settings.env != Environment.development


@cache
def late_fee_policy(directory: Path) -> LateFeePolicy:
    # Read once per policy directory, as the accounts API does.
    return load_late_fee_policy(directory)


def account_ledger(
    session: Session, clock: Clock, settings: Settings, number: str, *, recent: int
) -> tuple[AccountLedger | None, str]:
    """An account's statement and newest ledger entries, as the accounts API reads them;
    or None and why (no account of that number). No number: None and no reason."""
    if not number:
        return None, ""
    try:
        return arrears.account_ledger(
            session=session, number=number, today=clock.now().astimezone(settings.tz).date(),
            currency=settings.currency, policy=late_fee_policy(settings.policy_dir),
            recent=recent,
        ), ""  # fmt: skip
    except NotFound as exc:
        return None, str(exc)


def latest_event_id(session: Session) -> int:
    """The live stream's newest event id, where a page's EventSource starts (docs/live.md)."""
    return latest_id(session)


def render(
    request: Request,
    template: str,
    user: StaffUser | None,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """A console page in the layout: the nav for the person's role and their CSRF token."""
    nav: tuple[NavItem, ...] = getattr(request.app.state, "console_nav", ())
    cookie = session_cookie(request)
    settings = services(request).settings
    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "nav": [item for item in nav if user is not None and allowed(user, item.roles)],
            "csrf": sessions.csrf_token(cookie) if cookie else "",
            "tz": settings.tz,
            "message": request.query_params.get("done", "")[:MAX_MESSAGE],
            "problem": request.query_params.get("problem", "")[:MAX_MESSAGE],
            **context,
        },
        status_code=status_code,
    )


def back(path: str, *, done: str = "", problem: str = "") -> RedirectResponse:
    """303 to a console page (after a form), with what happened to show there."""
    query = {key: value[:MAX_MESSAGE] for key, value in (("done", done), ("problem", problem))
             if value}  # fmt: skip
    path, hash_mark, fragment = path.partition("#")
    if query:
        path += ("&" if "?" in path else "?") + urlencode(query)
    return RedirectResponse(path + hash_mark + fragment, status_code=status.HTTP_303_SEE_OTHER)


def after_action(path: str, problems: list[str], done: str) -> RedirectResponse:
    """`back` after an action run under `refusals`: why it was refused, or else what it did."""
    return back(path, problem="; ".join(problems), done="" if problems else done)


def optional_int(field: str, text: str) -> int | None:
    """A form's optional whole number (an id, a count of days): empty for none, else digits;
    anything else refused naming the field (for `refusals` to show)."""
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"{field}: a whole number, or empty; not {text[:20]!r}")
    return int(text)


def optional_decimal(field: str, text: str) -> Decimal | None:
    """A form's optional number (a register of a time-of-use meter): empty for none; anything
    that is no finite number refused naming the field."""
    text = text.strip()
    if not text:
        return None
    try:
        value: Decimal | None = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise InvalidInput(f"{field}: a number such as 1234.5, or empty; not {text[:20]!r}")
    return value


@contextmanager
def refusals(session: Session) -> Iterator[list[str]]:
    """Runs an action: a domain error (a conflict, a rule refused, bad input) rolls its
    unit of work back and is kept in the yielded list, for the page to show."""
    problems: list[str] = []
    try:
        yield problems
    except WattdeskError as exc:
        session.rollback()
        problems.append(str(exc))


async def form_refused_page(request: Request, exc: Exception) -> Response:
    """A console form whose fields fail their type or range (a letter in a reading, a day
    that is no date) goes back to the page the form is on, each field named, as a refused
    action does; nothing was written. Anything else gets the API's answer (FastAPI's 422)."""
    assert isinstance(exc, RequestValidationError)  # registered for it only
    if request.method != "POST" or not request.url.path.startswith("/console/"):
        return await validation_error_response(request, exc)
    problems = [
        f"{error.get('loc', ('', 'form'))[-1]}: {error.get('msg', 'not accepted')}"
        for error in exc.errors()
    ]
    return back(_form_page(request), problem="; ".join(problems) or "the form was not accepted")


def _form_page(request: Request) -> str:
    """The console page the form was sent from (its Referer, without the last action's
    message), else the console's first page."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/console"
    if not referer.path.startswith("/console") or referer.path.startswith(LOGIN_PATH):
        return "/console"
    kept = [(k, v) for k, v in parse_qsl(referer.query) if k not in ("done", "problem")]
    return referer.path + (f"?{urlencode(kept)}" if kept else "")


async def login_required_page(request: Request, _exc: Exception) -> Response:
    response = RedirectResponse(
        login_url(request),
        status_code=status.HTTP_302_FOUND if request.method == "GET" else status.HTTP_303_SEE_OTHER,
    )
    if session_cookie(request) is not None:  # it named no session: forget it
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def refused_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)
    response = render(
        request, "console/refused.html", exc.user,
        {"status_code": exc.status_code, "reason": exc.message}, status_code=exc.status_code,
    )  # fmt: skip
    response.headers.update(exc.headers)
    return response
