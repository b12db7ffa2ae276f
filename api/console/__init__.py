"""The staff console: pages for people, signed in with a session cookie (`session.py`), one
module per page. A new page (arrears cases, arrangements, disconnection approvals, the
dashboard) is a module with a `router` (from `pages.console_router()`) and a `NAV` entry,
added to `PAGES`; `install` includes every page's router and the console's error pages."""

from __future__ import annotations

from types import ModuleType

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from api.console import (
    arrears,
    bill_runs,
    call_tasks,
    conversation,
    customers,
    dashboard,
    disconnections,
    forecast,
    groups,
    inbox,
    reading_plans,
    reconnections,
    refunds,
    review,
    session,
    statement,
    waivers,
)
from api.console.pages import (
    LoginRequired,
    PageRefused,
    form_refused_page,
    login_required_page,
    refused_page,
)

# In the nav's order.
PAGES: tuple[ModuleType, ...] = (
    session,
    inbox,
    conversation,
    review,
    refunds,
    waivers,
    arrears,
    call_tasks,
    disconnections,
    reconnections,
    forecast,
    statement,
    dashboard,
    bill_runs,
    reading_plans,
    customers,
    groups,
)


def install(app: FastAPI) -> None:
    """Include every console page's router, its nav entry and its error pages."""
    for page in PAGES:
        app.include_router(page.router)
    app.state.console_nav = tuple(page.NAV for page in PAGES if page.NAV is not None)
    app.add_exception_handler(LoginRequired, login_required_page)
    app.add_exception_handler(PageRefused, refused_page)
    # after the API's own handler (api.errors), which it calls for anything not a console form
    app.add_exception_handler(RequestValidationError, form_refused_page)
