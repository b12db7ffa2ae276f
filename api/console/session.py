"""Signing in to the console and out: `/console/login` (a form: username and password, with
the same back-off and lock-out as the staff API's HTTP Basic) makes a server-side session and
sets its cookie (HttpOnly, SameSite=Lax, Secure outside development); `/console/logout`
deletes it. The form carries a double-submit CSRF token: a random value in a cookie of the
sign-in page's own and the same value in a hidden field."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import SESSION_COOKIE, actor_name, session_cookie, sign_in_with_password
from api.console.pages import (
    LOGIN_PATH,
    ConsoleUser,
    NavItem,
    PageRefused,
    console_router,
    cookie_secure,
    render,
    safe_next,
)
from api.csrf import refuse_foreign_origin
from api.deps import ClockDep, ReaderDep, SessionDep, SettingsDep
from billing_core.app_services import services
from billing_core.staff import sessions
from billing_core.staff.model import Role

router = console_router()
NAV: NavItem | None = None
LOGIN_CSRF_COOKIE = "wattdesk_login_csrf"
HOMES = {  # where a role lands after signing in
    Role.agent: "/console",
    Role.reviewer: "/console/review",
    Role.collections: "/console/refunds",
    Role.admin: "/console",
}


def _login_page(
    request: Request, *, next_path: str, problem: str = "", status_code: int = 200
) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "console/login.html", None,
        {"next": next_path, "login_csrf": token, "problem": problem, "username": ""},
        status_code=status_code,
    )  # fmt: skip
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, path=LOGIN_PATH, httponly=True, samesite="strict",
        secure=cookie_secure(services(request).settings),
    )  # fmt: skip
    return response


@router.get(LOGIN_PATH, response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console") -> HTMLResponse:
    return _login_page(request, next_path=safe_next(next))


@router.post(LOGIN_PATH, response_model=None)
async def login(
    request: Request,
    read: ReaderDep,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/console",
) -> Response:
    next_path = safe_next(next)
    try:
        refuse_foreign_origin(request, settings)
    except HTTPException as exc:
        raise PageRefused(exc.status_code, str(exc.detail)) from None
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        raise PageRefused(
            status.HTTP_403_FORBIDDEN,
            "the sign-in form's CSRF token is missing or wrong: reload the page and try again",
        )
    try:
        # A NUL names no one (and PostgreSQL refuses it in a query's text).
        name = username.strip().replace("\x00", "\ufffd")
        user = await sign_in_with_password(request, read, name, password)
    except HTTPException as exc:  # 429: locked out for now
        page = _login_page(request, next_path=next_path, problem=str(exc.detail),
                           status_code=exc.status_code)  # fmt: skip
        page.headers.update(exc.headers or {})
        return page
    if user is None:
        return _login_page(
            request, next_path=next_path, problem="wrong username or password",
            status_code=status.HTTP_401_UNAUTHORIZED,
        )  # fmt: skip
    token = sessions.start_session(session=session, clock=clock, user=user)
    home = HOMES.get(Role(user.role), "/console")
    response = RedirectResponse(
        next_path if next_path != "/console" else home, status_code=status.HTTP_303_SEE_OTHER
    )
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(sessions.SESSION_LIFETIME.total_seconds()), path="/",
        httponly=True, samesite="lax", secure=cookie_secure(settings),
    )  # fmt: skip
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/console/logout")
def logout(user: ConsoleUser, request: Request, session: SessionDep, clock: ClockDep) -> Response:
    """Sign out (a POST with the CSRF token, checked when `user` is resolved)."""
    cookie = session_cookie(request)
    if cookie is not None:
        sessions.end_session(session=session, clock=clock, token=cookie, actor=actor_name(user))
    response = RedirectResponse(f"{LOGIN_PATH}?signed_out=1", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
