"""The retention job deletes the live events older than the policy's days, a chunk per
transaction, and is registered with the scheduler."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.live import service as live
from billing_core.live.policy import LivePolicy
from billing_core.notices.policy import load_notices_policy
from billing_core.payments.service import PaymentContext
from scheduler.jobs import JobContext, Scheduler, run_live_retention

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def context(engine: Engine, policy: LivePolicy) -> JobContext:
    return JobContext(
        engine=engine, clock=FixedClock(NOW), tz=SHANGHAI,
        payments_context=PaymentContext(
            tz=SHANGHAI, currency="CNY", public_base_url="https://d.example", secret_key="k"
        ),
        notices_policy=load_notices_policy(), late_fee_policy=load_late_fee_policy(),
        live_policy=policy,
    )  # fmt: skip


def test_old_events_go_in_chunks_and_recent_ones_stay(fresh_engine: Engine) -> None:
    old, recent = FixedClock(NOW - timedelta(days=3, seconds=1)), FixedClock(NOW)
    with session_scope(fresh_engine) as session:
        for clock, count in ((old, 250), (recent, 3)):
            for i in range(count):
                live.publish(session, clock=clock, kind=live.MESSAGE_IN, conversation_id=i,
                             payload={"n": i})  # fmt: skip
    policy = LivePolicy(version=1, effective_from=date(2025, 1, 1), keep_days=3, delete_chunk=100)
    assert run_live_retention(context(fresh_engine, policy)) == 250
    assert run_live_retention(context(fresh_engine, policy)) == 0
    with Session(fresh_engine) as session:
        left = live.events_after(session, after_id=0)
        assert [e.at for e in left] == [NOW] * 3
        assert live.latest_id(session) == left[-1].id


def test_the_scheduler_runs_it_daily(fresh_engine: Engine) -> None:
    policy = LivePolicy(version=1, effective_from=date(2025, 1, 1))
    jobs = Scheduler(context(fresh_engine, policy), None).start()
    try:
        job = jobs.scheduler.get_job("live_retention")
        assert job is not None and "hour='3'" in str(job.trigger)
    finally:
        jobs.shutdown()
