"""The landing page: what is running and where a newcomer should go."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep, SettingsDep
from billing_core.db import migrate

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

LINKS = [
    {"href": "/docs", "title": "API documentation", "text": "OpenAPI, try the staff API"},
    {"href": "/healthz", "title": "/healthz", "text": "is the process up"},
    {"href": "/readyz", "title": "/readyz", "text": "database reachable, migrations current"},
]


def _version() -> str:
    try:
        return version("wattdesk")
    except PackageNotFoundError:
        return "dev"


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, settings: SettingsDep, engine: EngineDep) -> HTMLResponse:
    try:
        current = migrate.current_revision(engine)
        head = migrate.head_revision(engine)
        schema = f"revision {current}" + ("" if current == head else f" (newest is {head})")
    except SQLAlchemyError:
        schema = "database unreachable"
    return templates.TemplateResponse(
        request,
        "landing.html",
        {
            "settings": settings,
            "database": engine.url.render_as_string(hide_password=True),
            "schema": schema,
            "version": _version(),
            "links": LINKS,
            "demo_customers": request.app.state.landing_extras.get("demo_customers", []),
        },
    )
