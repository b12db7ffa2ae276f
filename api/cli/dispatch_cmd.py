"""`wattdesk dispatch`: deliver the outbox (without serving), and the wiring the server shares:
the transports chosen from the settings (SMS always; Telegram with a bot token), the
dispatcher and the scheduled jobs."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import typer
from sqlalchemy import Engine

from api.cli.common import clock, console, engine, fail, settings
from api.payments.probe import payment_probe
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.terms import load_payment_terms_policy
from billing_core.clock import Clock
from billing_core.conversations.service import conversation_context
from billing_core.customers.model import Channel
from billing_core.health.model import Probe
from billing_core.health.policy import load_health_policy
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.live.policy import load_live_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.outbox.policy import load_outbox_policy
from billing_core.outbox.transport import Transport
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.settings import Environment, Settings, SettingsError
from billing_core.tariffs.catalog import TariffCatalog
from bot.chart import render_chart as draw_usage_chart
from bot.probe import telegram_probe
from bot.transport import OfflineTelegramTransport, TelegramTransport
from scheduler.dispatcher import Dispatcher
from scheduler.jobs import BillRunInputs, JobContext, Scheduler
from scheduler.policy import load_schedule_policy
from sms.probe import sms_probe
from sms.transport import STATUS_PATH, OfflineTransport, TwilioTransport


def register(app: typer.Typer) -> None:
    app.command("dispatch")(dispatch)


def sms_transport(config: Settings) -> Transport:
    """Twilio when its credentials and a sender are configured; otherwise the offline
    transport of the embedded default, which production refuses."""
    if config.twilio_configured:
        return TwilioTransport(
            account_sid=config.twilio_account_sid,
            auth_token=config.twilio_auth_token.get_secret_value(),
            from_=config.twilio_from,
            messaging_service_sid=config.twilio_messaging_service_sid,
            api_base=config.twilio_api_base,
            status_callback=config.public_base_url + STATUS_PATH,
        )
    if config.env == Environment.production:
        raise SettingsError(
            "invalid settings:\n  WATTDESK_TWILIO_ACCOUNT_SID, WATTDESK_TWILIO_AUTH_TOKEN and "
            "WATTDESK_TWILIO_FROM (or _MESSAGING_SERVICE_SID): production sends real SMS"
        )
    return OfflineTransport()


# Draws the chart a Telegram message's payload describes, as PNG bytes (bot/chart.py).
ChartRenderer = Callable[[dict[str, Any]], bytes]


def telegram_transport(
    config: Settings, *, render_chart: ChartRenderer | None = None
) -> Transport | None:
    """The bot's transport when a token is set (None otherwise: Telegram's messages then go
    by each customer's next channel; the demo's offline bot: the offline transport); it
    draws usage charts with `bot.chart.render_chart` unless told otherwise."""
    if not config.telegram_enabled:
        return None
    if config.telegram_offline:
        return OfflineTelegramTransport()
    return TelegramTransport(
        token=config.telegram_bot_token.get_secret_value(),
        api_base=config.telegram_api_base,
        render_chart=render_chart or draw_usage_chart,
    )


def delivered_channels(config: Settings) -> frozenset[str]:
    """The channels this deployment delivers, whichever dispatcher process carries them: a
    message on any other goes by the customer's next channel."""
    channels = {Channel.sms.value}
    if config.telegram_enabled:
        channels.add(Channel.telegram.value)
    return frozenset(channels)


def build_dispatcher(
    config: Settings,
    db: Engine,
    now: Clock,
    *,
    senders: int = 1,
    render_chart: ChartRenderer | None = None,
) -> Dispatcher:
    """The dispatcher with every configured transport; `render_chart` draws the usage charts
    Telegram messages carry (without it they go as text)."""
    transports = [sms_transport(config)]
    telegram = telegram_transport(config, render_chart=render_chart)
    if telegram is not None:
        transports.append(telegram)
    return Dispatcher(
        engine=db,
        clock=now,
        transports=transports,
        tz=config.tz,
        batch=config.dispatcher_batch,
        rate_per_second=config.sms_rate_per_second,
        channel_rates={Channel.telegram.value: config.telegram_rate_per_second},
        deliverable=delivered_channels(config),
        senders=senders,
        send_window=load_outbox_policy(config.policy_dir).send_window.window,
    )


def channel_probes(config: Settings, *, timeout: float = 10.0) -> tuple[Probe, ...]:
    """Each configured channel's probe, made by the adapter that knows its provider (the
    scheduler runs them; it imports no adapter)."""
    probes: list[Probe] = [sms_probe(config, timeout=timeout)]
    telegram = telegram_probe(config, timeout=timeout)
    if telegram is not None:
        probes.append(telegram)
    probes.append(payment_probe(config, timeout=timeout))
    return tuple(probes)


def build_scheduler(
    config: Settings, db: Engine, now: Clock, *, render_chart: ChartRenderer | None = None
) -> Scheduler:
    """The timed jobs and the dispatcher, to run in background threads of this process
    (`start()`; the server's app starts it with its lifespan)."""
    health = load_health_policy(config.policy_dir)
    context = JobContext(
        engine=db,
        clock=now,
        tz=config.tz,
        payments_context=payment_context(config, load_payments_policy(config.policy_dir)),
        notices_policy=load_notices_policy(config.policy_dir),
        late_fee_policy=load_late_fee_policy(config.policy_dir),
        conversations=conversation_context(config),
        probes=channel_probes(config, timeout=health.probe_timeout_seconds),
        health_policy=health,
        live_policy=load_live_policy(config.policy_dir),
        schedule=load_schedule_policy(config.policy_dir),
        bill_run=BillRunInputs(
            tariffs=TariffCatalog.load(config.tariff_dir),
            thresholds=ReviewThresholds.from_policy(load_review_policy(config.policy_dir)),
            payment_terms=load_payment_terms_policy(config.policy_dir),
        ),
    )
    dispatcher = build_dispatcher(config, db, now, render_chart=render_chart)
    return Scheduler(context, dispatcher, dispatcher_interval=config.dispatcher_interval_seconds)


def dispatch(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then stop."),
    senders: int = typer.Option(1, "--senders", min=1, max=32, help="Sending threads."),
) -> None:
    """Deliver outbox messages (quiet hours, opt-outs, rate limit, retries) until stopped."""
    config = settings()
    try:
        dispatcher = build_dispatcher(config, engine(), clock(), senders=senders)
    except SettingsError as exc:
        fail(str(exc))
        return
    transport = ", ".join(type(t).__name__ for t in dispatcher.transports.values())
    if once:
        report = dispatcher.drain()
        dispatcher.stop()
        console.print(f"{report.claimed} claimed via {transport}: {dict(report.results)}")
        return
    rates = f"{config.sms_rate_per_second:g} SMS/s per sender"
    if Channel.telegram in dispatcher.transports:
        rates += f", {config.telegram_rate_per_second:g} Telegram messages/s"
    console.print(
        f"dispatching via {transport} every {config.dispatcher_interval_seconds:g} s, "
        f"{rates}; Ctrl-C stops"
    )
    stopped = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    dispatcher.start(config.dispatcher_interval_seconds)
    stopped.wait()
    dispatcher.stop()
