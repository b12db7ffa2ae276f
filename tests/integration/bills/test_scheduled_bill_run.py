"""The scheduler's daily bill run (issue 19, item 5), on SQLite and PostgreSQL: it bills the
day once its time has come and records a summary with the missed readings; a manual run the
same day and a second job run store nothing twice; days missed while down are caught up;
only the leader runs it; a run that breaks is recorded with its error."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from api.cli import app as cli
from billing_core.bills.run import run_bills, summary
from billing_core.bills.run.summary import get_run, list_runs
from billing_core.bills.run.tables import MissedReading, ScheduledBillRun
from billing_core.bills.tables import Bill
from billing_core.clock import FixedClock
from billing_core.db import create_db_engine, session_scope
from billing_core.db.columns import table_of
from billing_core.db.engine import IMMEDIATE, SQLITE_BEGIN
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.payments.service import PaymentContext
from billing_core.readings.plans_service import missed_readings
from billing_core.tariffs.model import Tariff
from scheduler.jobs import BillRunInputs, JobContext, LeaderLock, Scheduler, run_scheduled_bill_run
from scheduler.policy import DEFAULT_SCHEDULE, SchedulePolicy
from tests.integration.bills.helpers import TARIFFS, THRESHOLDS, TZ, busiest_reading_date, seed

RUN, MISSED, BILL = table_of(ScheduledBillRun), table_of(MissedReading), table_of(Bill)
PAYMENTS = PaymentContext(
    tz=TZ, currency="CNY", public_base_url="https://d.example", secret_key="k"
)


def context(engine: Engine, at: datetime, tariffs: Any = TARIFFS) -> JobContext:
    return JobContext(
        engine=engine,
        clock=FixedClock(at),
        tz=TZ,
        payments_context=PAYMENTS,
        notices_policy=load_notices_policy(),
        late_fee_policy=load_late_fee_policy(),
        bill_run=BillRunInputs(tariffs=tariffs, thresholds=THRESHOLDS),
    )


def evening(day: date) -> datetime:
    """Past the policy's bill-run time (22:00) that day, local time."""
    return datetime.combine(day, time(22, 30), tzinfo=TZ)


def runs(engine: Engine) -> list[dict[str, Any]]:
    with session_scope(engine, write=False) as session:
        return sorted(list_runs(session=session, limit=100), key=lambda r: r["run_date"])


def bill_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(BILL)).scalar_one())


def test_the_job_bills_the_day_and_records_it_with_its_missed_readings(
    fresh_engine: Engine,
) -> None:
    seed(fresh_engine, customers=60)
    day = busiest_reading_date(fresh_engine)
    job = context(fresh_engine, evening(day))

    assert run_scheduled_bill_run(job) == 1
    [row] = runs(fresh_engine)
    assert row["run_date"] == day and row["status"] == "finished" and not row["catch_up"]
    assert row["issued"] > 0 and row["issued"] + row["in_review"] == bill_count(fresh_engine)
    assert row["accounts_due"] >= row["issued"] + row["in_review"]
    assert row["bill_run_id"] is not None and row["finished_at"] is not None
    with session_scope(fresh_engine, write=False) as session:
        expected = missed_readings(session=session, on=day, tz=TZ)
        detail = get_run(session=session, run_id=row["id"])
    assert row["missed_readings"] == len(expected) == len(detail["missed"])
    assert [m["account_number"] for m in detail["missed"]] == [m.account_number for m in expected]

    # Run again (the next minute, a restart): the day is done, nothing runs or is stored.
    assert run_scheduled_bill_run(job) == 0
    assert len(runs(fresh_engine)) == 1


def test_before_its_time_the_job_does_not_bill_the_day(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=30)
    day = busiest_reading_date(fresh_engine)
    morning = datetime.combine(day, time(10, 0), tzinfo=TZ)
    assert run_scheduled_bill_run(context(fresh_engine, morning)) == 1
    [row] = runs(fresh_engine)
    assert row["run_date"] == day - timedelta(days=1)  # yesterday's, not today's yet


def test_a_manual_run_the_same_day_is_not_billed_twice(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=60)
    day = busiest_reading_date(fresh_engine)
    manual = run_bills(engine=fresh_engine, clock=FixedClock(evening(day) - timedelta(hours=4)),
                       run_date=day, tz=TZ, tariffs=TARIFFS, thresholds=THRESHOLDS)  # fmt: skip
    stored = bill_count(fresh_engine)
    assert manual.issued > 0

    assert run_scheduled_bill_run(context(fresh_engine, evening(day))) == 1
    [row] = runs(fresh_engine)
    assert bill_count(fresh_engine) == stored
    assert row["issued"] == row["in_review"] == 0
    assert row["already_billed"] == manual.issued + manual.in_review


def test_days_missed_while_down_are_caught_up_oldest_first(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=60)
    day = busiest_reading_date(fresh_engine)
    first = day - timedelta(days=3)
    assert run_scheduled_bill_run(context(fresh_engine, evening(first))) == 1

    # Down for three days: back at 10:00 on `day` + 1, the job at start bills day-2 … day.
    back = datetime.combine(day + timedelta(days=1), time(10, 0), tzinfo=TZ)
    assert run_scheduled_bill_run(context(fresh_engine, back)) == 3
    rows = runs(fresh_engine)
    assert [r["run_date"] for r in rows] == [first + timedelta(days=n) for n in range(4)]
    assert [r["catch_up"] for r in rows] == [False, True, True, True]
    assert all(r["status"] == "finished" for r in rows)
    assert rows[-1]["issued"] > 0  # the busiest day, billed late


def test_catch_up_goes_back_at_most_the_policys_days(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=20)
    day = busiest_reading_date(fresh_engine)
    run_scheduled_bill_run(context(fresh_engine, evening(day - timedelta(days=20))))
    assert run_scheduled_bill_run(context(fresh_engine, evening(day))) == (
        DEFAULT_SCHEDULE.bill_run.catch_up_days + 1
    )
    assert runs(fresh_engine)[1]["run_date"] == day - timedelta(days=7)


class BrokenCatalog:
    def get(self, code: str) -> Tariff:
        raise RuntimeError("the tariff store is unreachable")


def test_a_run_that_breaks_is_recorded_failed_and_run_again_later(
    fresh_engine: Engine,
) -> None:
    seed(fresh_engine, customers=30)
    day = busiest_reading_date(fresh_engine)
    assert run_scheduled_bill_run(context(fresh_engine, evening(day), BrokenCatalog())) == 1
    [row] = runs(fresh_engine)
    assert row["status"] == "failed"
    assert "RuntimeError: the tariff store is unreachable" in row["errors"]

    assert run_scheduled_bill_run(context(fresh_engine, evening(day) + timedelta(minutes=5))) == 1
    [row] = runs(fresh_engine)
    assert row["status"] == "finished" and row["errors"] == "" and row["issued"] > 0


def test_only_the_leader_runs_it(fresh_engine: Engine) -> None:
    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("the leader lock is PostgreSQL's (SQLite runs one process)")
    seed(fresh_engine, customers=20)
    day = busiest_reading_date(fresh_engine)
    other = LeaderLock(fresh_engine)
    assert other.held()
    follower = Scheduler(context(fresh_engine, evening(day)), None)
    try:
        follower._as_leader("bill run", run_scheduled_bill_run)()
        assert runs(fresh_engine) == []
        other.release()
        follower._as_leader("bill run", run_scheduled_bill_run)()
        assert [r["run_date"] for r in runs(fresh_engine)] == [day]
    finally:
        other.release()
        follower.lock.release()


def test_the_scheduler_takes_the_jobs_times_from_the_policy(fresh_engine: Engine) -> None:
    raw = DEFAULT_SCHEDULE.model_dump()
    raw["jobs"]["bill_run"]["at"] = time(21, 45)
    policy = SchedulePolicy.model_validate(raw)
    base = context(fresh_engine, evening(date(2026, 11, 20)))
    jobs = Scheduler(JobContext(**{**base.__dict__, "schedule": policy}), None).start(paused=True)
    try:
        bill_run = jobs.scheduler.get_job("bill_run")
        fields = {f.name: str(f) for f in bill_run.trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("21", "45")
        assert bill_run.misfire_grace_time == 720 * 60
        reminders = {f.name: str(f) for f in jobs.scheduler.get_job("due_reminders").trigger.fields}
        assert (reminders["hour"], reminders["minute"]) == ("8", "0")
        assert jobs.scheduler.get_job("bill_run_at_start") is not None
    finally:
        jobs.shutdown()


def test_after_a_manual_cli_run_the_job_stores_nothing_and_the_cli_lists_it(
    cli_database: str, cli_env: CliRunner
) -> None:
    engine = create_db_engine(cli_database)
    try:
        seed(engine, customers=40)
        day = busiest_reading_date(engine)
        manual = cli_env.invoke(cli, ["bill-run", "--date", day.isoformat(), "--workers", "1"])
        assert manual.exit_code == 0, manual.output
        stored = bill_count(engine)
        assert run_scheduled_bill_run(context(engine, evening(day))) == 1
        assert bill_count(engine) == stored
        [row] = runs(engine)
    finally:
        engine.dispose()
    assert row["issued"] == 0 and row["already_billed"] == stored

    listed = cli_env.invoke(cli, ["bill-runs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.output)
    assert item["run_date"] == day.isoformat() and item["already_billed"] == stored
    shown = cli_env.invoke(cli, ["bill-runs", "show", str(row["id"])])
    assert shown.exit_code == 0, shown.output
    assert f"missed readings: {row['missed_readings']}" in shown.output
    missing = cli_env.invoke(cli, ["bill-runs", "show", "999999"])
    assert missing.exit_code == 2 and "no scheduled bill run 999999" in missing.output


def test_a_day_starts_while_another_writer_holds_the_database(fresh_engine: Engine) -> None:
    """The demo's start-up jobs write at once. A day's record begins its transaction
    IMMEDIATE: it waits for the other writer instead of failing at its first write with
    "database is locked" once the other has committed (SQLite's stale snapshot)."""
    if fresh_engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")
    clock = FixedClock(datetime(2026, 11, 26, 14, 0, tzinfo=TZ))
    done: list[int | BaseException] = []
    with fresh_engine.connect() as connection:
        other = connection.execution_options(**{SQLITE_BEGIN: IMMEDIATE})
        held = other.begin()  # the write lock, until the commit below
        other.execute(text("CREATE TABLE _held (x INTEGER)"))

        def start() -> None:
            try:
                done.append(summary._start(fresh_engine, clock, date(2026, 11, 26), False))
            except BaseException as exc:  # the assertion below names it
                done.append(exc)

        thread = threading.Thread(target=start)
        thread.start()
        thread.join(0.3)  # it is waiting for the lock
        held.commit()
        thread.join(10)
    assert len(done) == 1 and isinstance(done[0], int), done
    assert [row["run_date"] for row in runs(fresh_engine)] == [date(2026, 11, 26)]
