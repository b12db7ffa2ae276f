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
from api.payments import stripe_webhook
from api.payments.stripe_provider import make_stripe_provider
from api.routes import accounts, health, landing, pay, payments, readings, review, simulator
from billing_core.bills.policy import load_review_policy
from billing_core.clock import Clock, SystemClock
from billing_core.db import create_db_engine
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.providers import SANDBOX, CheckoutProvider, SandboxProvider
from billing_core.settings import Settings, SettingsError
from billing_core.tariffs.catalog import TariffCatalog
from sms import inbound
from sms import status as sms_status

log = logging.getLogger("wattdesk.http")

REQUEST_ID_HEADER = "X-Request-ID"


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    configure_logs: bool = True,
) -> FastAPI:
    # Settings copied with model_copy skip their validators: ask again (the sandbox takes no
    # real money, so it must never start in production).
    problems = settings.payment_provider_problems()
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
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
    app.state.payment_context = payment_context(settings, load_payments_policy(settings.policy_dir))
    app.state.checkout_provider = _checkout_provider(settings, app.state.clock)

    app.middleware("http")(_request_id_and_access_log)
    app.include_router(health.router)
    app.include_router(landing.router)
    app.include_router(review.router)
    app.include_router(readings.router)
    app.include_router(payments.router)
    app.include_router(stripe_webhook.router)
    app.include_router(accounts.router)
    app.include_router(pay.router)
    app.include_router(sms_status.router)
    app.include_router(inbound.router)
    app.include_router(simulator.router)
    if settings.payment_provider == SANDBOX:
        app.include_router(pay.sandbox_router)
    return app


def _checkout_provider(settings: Settings, clock: Clock) -> CheckoutProvider:
    if settings.payment_provider == SANDBOX:
        return SandboxProvider(settings.public_base_url)
    return make_stripe_provider(settings, clock=clock)


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
