"""Channel health: each adapter's probe against its loopback fake (the real twilio, aiogram
and stripe clients), the scheduled job recording answers and alerts as domain events (raised
once, cleared once) on SQLite and PostgreSQL, and the dispatcher's send tallies feeding the
delivery watch."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from api.cli.dispatch_cmd import channel_probes
from api.payments.probe import SandboxProbe, StripeProbe
from bench.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from bench.fakes.telegram_api import FakeTelegramApi
from bench.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioApi
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.events.tables import DomainEvent
from billing_core.health.model import ProbeResult, ProbeStatus
from billing_core.health.policy import load_health_policy
from billing_core.health.service import (
    ALERT_CLEARED,
    ALERT_RAISED,
    CHANNEL_PROBED,
    channel_health,
)
from billing_core.health.tables import DeliveryTally
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.outbox.transport import Claimed, Outcome, SendResult
from billing_core.payments.service import PaymentContext
from billing_core.settings import load_settings
from bot.probe import OfflineTelegramProbe, TelegramProbe
from scheduler.dispatcher import Dispatcher
from scheduler.jobs import JobContext, run_channel_health
from sms.probe import OfflineSmsProbe, TwilioProbe
from tests.fakes.stripe_api import API_KEY, FakeStripeApi
from tests.integration.outbox.helpers import put

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
PAYMENTS = PaymentContext(tz=SHANGHAI, currency="CNY", public_base_url="http://t", secret_key="k")


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegramApi]:
    fake = FakeTelegramApi().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def stripe_api() -> Iterator[FakeStripeApi]:
    fake = FakeStripeApi().start()
    yield fake
    fake.stop()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_the_twilio_probe_fetches_the_account(twilio: FakeTwilioApi) -> None:
    ok = TwilioProbe(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=twilio.url)()
    assert (ok.status, ok.detail) == (ProbeStatus.ok, "account active")
    assert ok.latency_ms is not None and ok.latency_ms > 0

    refused = TwilioProbe(account_sid=ACCOUNT_SID, auth_token="wrong", api_base=twilio.url)()
    assert refused.status == ProbeStatus.failing
    assert "401 (credentials refused)" in refused.detail
    assert "wrong" not in refused.detail

    twilio.account_status = "suspended"
    try:
        suspended = TwilioProbe(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                api_base=twilio.url)()  # fmt: skip
    finally:
        twilio.account_status = "active"
    assert (suspended.status, suspended.detail) == (ProbeStatus.failing, "account suspended")

    down = TwilioProbe(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=_closed_port(),
                       timeout=2)()  # fmt: skip
    assert down.status == ProbeStatus.failing
    assert down.detail.startswith("no answer")


def test_the_telegram_probe_asks_get_me(telegram: FakeTelegramApi, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, telegram_bot_token=TELEGRAM_TOKEN,
                             telegram_api_base=telegram.url, _env_file=None)  # fmt: skip
    ok = TelegramProbe(settings)()
    assert (ok.status, ok.detail) == (ProbeStatus.ok, "@wattdesk_bot")
    assert telegram.calls_to("getMe")

    wrong = settings.model_copy(update={"telegram_bot_token": settings.telegram_bot_token.__class__(
        "1:wrong-token")})  # fmt: skip
    refused = TelegramProbe(wrong)()
    assert refused.status == ProbeStatus.failing

    down = settings.model_copy(update={"telegram_api_base": _closed_port()})
    assert TelegramProbe(down, timeout=2)().status == ProbeStatus.failing


def test_the_stripe_probe_retrieves_the_account(stripe_api: FakeStripeApi) -> None:
    ok = StripeProbe(api_key=API_KEY, api_base=stripe_api.url)()
    assert (ok.status, ok.detail) == (ProbeStatus.ok, "account acct_1WattdeskTest00")
    refused = StripeProbe(api_key="sk_test_wrong", api_base=stripe_api.url)()
    assert refused.status == ProbeStatus.failing
    assert refused.detail.startswith("key refused")


def test_the_composition_root_probes_what_is_configured(tmp_path: Path) -> None:
    offline = channel_probes(load_settings(data_dir=tmp_path, _env_file=None))
    assert [type(p) for p in offline] == [OfflineSmsProbe, SandboxProbe]
    assert offline[0]().status == ProbeStatus.offline
    demo = channel_probes(load_settings(data_dir=tmp_path, _env_file=None).with_offline_telegram())
    assert [type(p) for p in demo] == [OfflineSmsProbe, OfflineTelegramProbe, SandboxProbe]


class Scripted:
    """A probe whose answers a test sets (the adapters' probes are tested above)."""

    channel, provider = "sms", "twilio"

    def __init__(self) -> None:
        self.status = ProbeStatus.ok

    def __call__(self) -> ProbeResult:
        return ProbeResult(self.channel, self.provider, self.status, 3.0, str(self.status))


def _events(engine: Engine, kind: str) -> int:
    with Session(engine) as session:
        return int(
            session.execute(select(func.count()).where(col(DomainEvent.kind) == kind)).scalar_one()
        )


def test_the_job_records_probes_and_raises_an_alert_once(fresh_engine: Engine) -> None:
    clock = FixedClock(NOW)
    probe = Scripted()
    context = JobContext(
        engine=fresh_engine, clock=clock, tz=SHANGHAI,
        payments_context=PAYMENTS,
        notices_policy=load_notices_policy(), late_fee_policy=load_late_fee_policy(),
        probes=(probe,), health_policy=load_health_policy(),
    )  # fmt: skip
    assert run_channel_health(context) == 0
    probe.status = ProbeStatus.failing
    for _ in range(3):  # failing three runs in a row: one alert
        clock.advance(timedelta(minutes=1))
        run_channel_health(context)
    assert _events(fresh_engine, ALERT_RAISED) == 1
    with Session(fresh_engine) as session:
        health = channel_health(session=session, clock=clock, policy=load_health_policy())
    assert [a.subject for a in health.active] == ["probe:sms:twilio"]
    assert health.probes[0][0].status == ProbeStatus.failing

    probe.status = ProbeStatus.ok
    clock.advance(timedelta(minutes=1))
    assert run_channel_health(context) == 1
    clock.advance(timedelta(minutes=1))
    assert run_channel_health(context) == 0
    assert (_events(fresh_engine, ALERT_RAISED), _events(fresh_engine, ALERT_CLEARED)) == (1, 1)
    assert _events(fresh_engine, CHANNEL_PROBED) == 6

    probe.status = ProbeStatus.failing  # failing again: a second alert, numbered on
    clock.advance(timedelta(minutes=1))
    run_channel_health(context)
    assert _events(fresh_engine, ALERT_RAISED) == 2


class Flaky:
    """A transport that fails every fourth message (transient), the rest sent."""

    channel, sender = "sms", "flaky"

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: Claimed) -> SendResult:
        self.sent += 1
        if self.sent % 4 == 0:
            return SendResult(Outcome.transient, error_code="500", detail="HTTP 500")
        return SendResult(Outcome.sent, provider_id=f"SM{self.sent}")


def test_the_dispatchers_tallies_feed_the_delivery_watch(fresh_engine: Engine) -> None:
    clock = FixedClock(NOW)
    with session_scope(fresh_engine) as session:
        for n in range(40):
            put(session, clock, f"+8613800{n:06d}", f"tally-{n}", kind="reply")
    dispatcher = Dispatcher(engine=fresh_engine, clock=clock, transports=[Flaky()], tz=SHANGHAI,
                            rate_per_second=None)  # fmt: skip
    dispatcher.drain()
    clock.advance(timedelta(seconds=30))
    assert dispatcher.flush_tally() == 1
    assert dispatcher.flush_tally() == 0  # nothing since
    with Session(fresh_engine) as session:
        tallies = session.execute(select(DeliveryTally.attempts, DeliveryTally.failures)).all()
        assert [tuple(t) for t in tallies] == [(40, 10)]
    context = JobContext(
        engine=fresh_engine, clock=clock, tz=SHANGHAI,
        payments_context=PAYMENTS,
        notices_policy=load_notices_policy(), late_fee_policy=load_late_fee_policy(),
        health_policy=load_health_policy(),
    )  # fmt: skip
    assert run_channel_health(context) == 1  # 25 % of 40 failed: raised
    assert run_channel_health(context) == 0  # once
    clock.advance(timedelta(minutes=16))  # the window has passed, no failure in it: cleared
    assert run_channel_health(context) == 1
    assert (_events(fresh_engine, ALERT_RAISED), _events(fresh_engine, ALERT_CLEARED)) == (1, 1)
    dispatcher.stop()
