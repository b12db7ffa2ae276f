"""The FastAPI application factory: one app for the embedded default and for each web worker."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine

from api.logging_setup import configure_logging, request_id_var
from api.routes import health, landing, readings, review
from billing_core.bills.policy import load_review_policy
from billing_core.clock import Clock, SystemClock
from billing_core.db import create_db_engine
from billing_core.settings import Settings
from billing_core.tariffs.catalog import TariffCatalog

log = logging.getLogger("wattdesk.http")

REQUEST_ID_HEADER = "X-Request-ID"


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    if configure_logs:
        configure_logging(settings)
    app = FastAPI(
        title="wattdesk",
        summary="An electricity utility's self-service desk: billing core, SMS, Telegram.",
        version="0.1.0",
    )
    app.state.settings = settings
    app.state.engine = engine or create_db_engine(settings.effective_database_url)
    app.state.clock = clock or SystemClock()
    # Policies and tariffs are loaded and validated once, at start: a bad file stops start-up.
    app.state.tariffs = TariffCatalog.load(settings.tariff_dir)
    app.state.review_policy = load_review_policy(settings.policy_dir)

    app.middleware("http")(_request_id_and_access_log)
    app.include_router(health.router)
    app.include_router(landing.router)
    app.include_router(review.router)
    app.include_router(readings.router)
    return app


async def _request_id_and_access_log(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = (
        incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    )
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception:
        log.exception("unhandled error", extra=_fields(request, 500, started))
        raise
    finally:
        request_id_var.reset(token)
    response.headers[REQUEST_ID_HEADER] = request_id
    token = request_id_var.set(request_id)
    log.info(
        "%s %s -> %s",
        request.method,
        request.url.path,
        response.status_code,
        extra=_fields(request, response.status_code, started),
    )
    request_id_var.reset(token)
    return response


def _fields(request: Request, status: int, started: float) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.url.path,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
