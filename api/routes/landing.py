"""The landing page: what is running and where a newcomer should go."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from api.deps import EngineDep, SettingsDep
from billing_core.db import migrate
from billing_core.seed.demo import DEMO_CUSTOMERS, stored_demo_numbers
from billing_core.settings import Environment

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))

LINKS = [
    {"href": "/console", "title": "Staff console", "text": "inbox, review, refunds, waivers"},
    {"href": "/docs", "title": "API documentation", "text": "OpenAPI, try the staff API"},
    {"href": "/healthz", "title": "/healthz", "text": "is the process up"},
    {"href": "/readyz", "title": "/readyz", "text": "database reachable, migrations current"},
    {"href": "/simulator", "title": "Customer simulator", "text": "text wattdesk as a customer"},
]


def _version() -> str:
    try:
        return version("wattdesk")
    except PackageNotFoundError:
        return "dev"


def _demo_customers(engine: Engine) -> list[dict[str, object]]:
    """The README's demo customers, and whether this database holds them."""
    try:
        with Session(engine) as session:
            present = stored_demo_numbers(session)
    except SQLAlchemyError:
        present = set()
    return [
        {
            "name": demo.name,
            "account": demo.account_number,
            "phone": demo.phone,
            "language": str(demo.language),
            "present": demo.account_number in present,
        }
        for demo in DEMO_CUSTOMERS
    ]


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
            # Outside production, which database this is (password hidden); in production no
            # connection string at all: host, port, user and database name help an attacker.
            "database": (
                None
                if settings.env == Environment.production
                else engine.url.render_as_string(hide_password=True)
            ),
            "schema": schema,
            "version": _version(),
            # the simulator exists only outside production (it answers 404 there)
            "links": [
                link
                for link in LINKS
                if link["href"] != "/simulator" or settings.env != Environment.production
            ],
            "demo_customers": _demo_customers(engine),
        },
    )
