"""The scheduler and `wattdesk dispatch`: a bill issued is noticed and delivered by the
background jobs with the offline transport; one active scheduler on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli import app as cli
from billing_core.clock import FixedClock
from billing_core.db import create_db_engine, session_scope
from billing_core.events.service import bill_issued_event, record_events
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.notices.service import bill_notice_key
from billing_core.outbox.service import REPLY
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.service import PaymentContext
from scheduler.dispatcher import Dispatcher
from scheduler.jobs import JobContext, LeaderLock, Scheduler
from sms.transport import OfflineTransport
from tests.factories import make_account, make_bill, make_contact, make_customer
from tests.integration.outbox.helpers import put

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai


def test_the_scheduler_notices_an_issued_bill_and_the_dispatcher_delivers_it(
    fresh_engine: Engine,
) -> None:
    with session_scope(fresh_engine) as session:
        customer = make_customer(session, at=CLOCK.now(), language="en")
        contact = make_contact(session, customer=customer, at=CLOCK.now())
        account = make_account(session, customer=customer)
        bill = make_bill(
            session,
            account=account,
            period_start=date(2026, 10, 1),
            total=Decimal("99.00"),
            due_date=date(2026, 12, 10),
            at=CLOCK.now(),
        )
        bill_id = bill.id or 0
        record_events(
            session=session,
            clock=CLOCK,
            events=[
                bill_issued_event(
                    bill_id=bill_id,
                    account_id=account.id or 0,
                    total=bill.total,
                    currency="CNY",
                    due_date=date(2026, 12, 10),
                    period_start=bill.period_start,
                    period_end=bill.period_end,
                )
            ],
        )
    context = JobContext(
        engine=fresh_engine,
        clock=CLOCK,
        tz=SHANGHAI,
        payments_context=PaymentContext(
            tz=SHANGHAI, currency="CNY", public_base_url="https://d.example", secret_key="k"
        ),
        notices_policy=load_notices_policy(),
        late_fee_policy=load_late_fee_policy(),
    )
    dispatcher = Dispatcher(
        engine=fresh_engine, clock=CLOCK, transports=[OfflineTransport()], tz=SHANGHAI
    )
    jobs = Scheduler(context, dispatcher, dispatcher_interval=0.05).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with session_scope(fresh_engine) as session:
                notice = session.exec(
                    select(OutboxMessage).where(
                        col(OutboxMessage.dedupe_key) == bill_notice_key(bill_id)
                    )
                ).first()
            if notice is not None and notice.status == "delivered":
                break
            time.sleep(0.05)
    finally:
        jobs.shutdown()
    assert notice is not None and notice.status == "delivered"
    assert notice.recipient == contact.address
    assert notice.provider_id is not None and notice.provider_id.startswith("offline-")


def test_dispatch_once_delivers_offline_without_twilio_credentials(
    cli_database: str, cli_env: CliRunner
) -> None:
    engine = create_db_engine(cli_database)
    with session_scope(engine) as session:
        put(session, CLOCK, "+8613300000001", "cli:once", kind=REPLY)
    result = cli_env.invoke(cli, ["dispatch", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 claimed via OfflineTransport" in result.output
    with session_scope(engine) as session:
        message = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.dedupe_key) == "cli:once")
        ).one()
    engine.dispose()
    assert message.status == "delivered" and (message.provider_id or "").startswith("offline-")


def test_only_one_process_holds_the_scheduler_lock(fresh_engine: Engine) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one process: no lock is taken")
    first, second = LeaderLock(fresh_engine), LeaderLock(fresh_engine)
    try:
        assert first.held()
        assert not second.held()
        assert first.held()  # and keeps it
        first.release()
        assert second.held()
    finally:
        first.release()
        second.release()
