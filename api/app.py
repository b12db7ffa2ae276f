"""The FastAPI application factory: one app for the embedded default and for each web worker."""

from __future__ import annotations

import functools
import gc
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import console, live
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.logging_setup import configure_logging, request_id_var
from api.payments import stripe_webhook
from api.payments.stripe_provider import make_stripe_provider
from api.routes import (
    accounts,
    arrears,
    bill_runs,
    conversations,
    dashboard,
    health,
    landing,
    master_data,
    outbox,
    pay,
    payments,
    reading_plans,
    readings,
    review,
    simulator,
)
from api.writer_setup import prepare_writer
from billing_core.app_services import Background, Services
from billing_core.bills.policy import load_review_policy
from billing_core.bills.terms import load_payment_terms_policy
from billing_core.clock import Clock, SystemClock
from billing_core.conversations.nlu import warm as warm_recogniser
from billing_core.conversations.service import conversation_context
from billing_core.dashboard.policy import load_dashboard_policy
from billing_core.db import create_db_engine
from billing_core.db.unit_of_work import UnitOfWorkRunner
from billing_core.health.policy import load_health_policy
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.providers import SANDBOX, CheckoutProvider, SandboxProvider
from billing_core.settings import Settings, SettingsError
from billing_core.tariffs.catalog import TariffCatalog
from bot import webhook as telegram_webhook
from bot.telegram import TelegramBot
from sms import inbound
from sms import status as sms_status

log = logging.getLogger("wattdesk.http")

REQUEST_ID_HEADER = "X-Request-ID"
STATIC_DIR = Path(__file__).resolve().parent / "static"  # the console's scripts and styles
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock | None = None,
    configure_logs: bool = True,
    background: Sequence[Background] = (),
) -> FastAPI:
    """The app, with its Services (`app.state.services`) built from `settings`: a test may
    hand in its `engine` and `clock`; `background` parts (the scheduler) start and stop with
    the app's lifespan."""
    # Settings copied with model_copy skip their validators: ask again (the sandbox takes no
    # real money, and a published secret key lets anyone forge receipts, so neither must
    # ever start in production).
    problems = settings.startup_problems()
    if problems:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
    if configure_logs:
        configure_logging(settings)
    app = FastAPI(
        title="wattdesk",
        summary="An electricity utility's self-service desk: billing core, SMS, Telegram.",
        version="0.1.0",
        lifespan=_lifespan,
    )
    engine = engine or create_db_engine(settings.effective_database_url)
    clock = clock or SystemClock()
    context = conversation_context(settings)
    # A SQLite writer process logs as this process does, request ids included; the
    # conversation context every message's unit of work takes along is sent to it once.
    units = UnitOfWorkRunner.for_settings(
        settings, engine,
        writer_setup=functools.partial(prepare_writer, settings, configure_logs=configure_logs),
        writer_carried=(f"{configure_logging.__module__}:request_id_var",),
        writer_shared=(context,),
    )  # fmt: skip
    # Policies and tariffs are loaded and validated once, at start: a bad file stops start-up.
    app.state.services = Services(
        settings=settings,
        engine=engine,
        clock=clock,
        units=units,
        tariffs=TariffCatalog.load(settings.tariff_dir),
        review_policy=load_review_policy(settings.policy_dir),
        payment_context=payment_context(settings, load_payments_policy(settings.policy_dir)),
        conversation_context=context,
        checkout_provider=_checkout_provider(settings, clock),
        dashboard_policy=load_dashboard_policy(settings.policy_dir),
        health_policy=load_health_policy(settings.policy_dir),
        payment_terms=load_payment_terms_policy(settings.policy_dir),
        background=tuple(background),
    )

    # The last added runs first: a refused body still gets its request id and access line.
    app.add_middleware(BodySizeLimit)
    app.add_middleware(RequestIdAndAccessLog)
    install_error_handlers(app)
    # A request is matched against the routers in this order (no two share a path): the
    # busiest first. The customers' webhooks (Twilio's, Telegram's) come right after the
    # health checks: every route before a path is tried against it (about 1 µs each).
    app.include_router(health.router)
    app.include_router(inbound.router)
    if settings.telegram_enabled:  # without a token no route answers (404)
        telegram = TelegramBot.for_services(app.state.services)
        app.state.telegram = telegram
        app.include_router(telegram_webhook.router(telegram))
    app.include_router(sms_status.router)
    app.include_router(landing.router)
    # Before the conversations' own routes: /events would otherwise match their /{id}.
    app.state.live = live.LiveHub(engine)
    app.include_router(live.router)
    app.include_router(review.router)
    app.include_router(readings.router)
    app.include_router(payments.router)
    app.include_router(stripe_webhook.router)
    app.include_router(accounts.router)
    app.include_router(arrears.router)
    app.include_router(outbox.router)
    app.include_router(dashboard.router)
    app.include_router(conversations.router)
    app.include_router(bill_runs.router)
    app.include_router(reading_plans.router)
    app.include_router(master_data.router)
    console.install(app)
    app.include_router(pay.router)
    app.include_router(simulator.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.payment_provider == SANDBOX:
        app.include_router(pay.sandbox_router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While the app serves, what start-up made (modules, settings, policies, tariffs, the
    routes) is left out of the cyclic garbage collector's full passes: it lives as long as
    the process, and scanning it paused every thread now and then under load, the slowest
    requests' latency. On a SQLite file the units of work's writer process starts first, so
    the first SMS does not wait for it (nor for the recogniser: whichever process runs the
    units of work trains it first), then the background parts; at the end they stop, and
    the writer finishes what it has queued."""
    parts: Services = app.state.services
    if parts.units.kind != "process":  # the units of work recognise messages in this process
        await anyio.to_thread.run_sync(warm_recogniser)
    await parts.start()
    hub: live.LiveHub = app.state.live
    await hub.start()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        await hub.aclose()
        telegram: TelegramBot | None = getattr(app.state, "telegram", None)
        if telegram is not None:  # its HTTP session (answers to buttons, polling's calls)
            await telegram.aclose()
        await parts.aclose()


def _checkout_provider(settings: Settings, clock: Clock) -> CheckoutProvider:
    if settings.payment_provider == SANDBOX:
        return SandboxProvider(settings.public_base_url)
    return make_stripe_provider(settings, clock=clock)


class RequestIdAndAccessLog:
    """Every request gets an id (the caller's X-Request-ID when it is a sane one) that its log
    lines carry and its response echoes, and one access-log line. Plain ASGI: Starlette's
    `@app.middleware("http")` runs every request through a task group and memory streams,
    which cost a trivial request about as much as its endpoint."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next(
            (value.decode("latin-1") for key, value in scope["headers"] if key == _REQUEST_ID_KEY),
            "",
        )
        request_id = (
            incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        )
        echoed = (_REQUEST_ID_KEY, request_id.encode("latin-1"))
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID_KEY]
                message = {**message, "headers": [*headers, echoed]}
            await send(message)

        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error", extra=_fields(scope, 500, started))
                raise
            # After the response is sent: the log line does not delay the answer.
            log.info("%s %s -> %s", scope["method"], _path(scope), status,
                     extra=_fields(scope, status, started))  # fmt: skip
        finally:
            request_id_var.reset(token)


def _path(scope: Scope) -> str:
    """The path as Starlette's `request.url.path` has it."""
    path: str = scope["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def _fields(scope: Scope, status: int, started: float) -> dict[str, Any]:
    return {
        "method": scope["method"],
        "path": _path(scope),
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
    }
