"""The scheduled bill run (docs/billing.md, "The scheduled bill run"): which reading days are
due (today's once its time has come, and the days missed while the scheduler was down), each
day billed by `run_bills`, the day's missed readings listed, and one `scheduled_bill_run` row
per day with its counts for staff to see.

Idempotent: a day with a finished row is not run again; a day billed by hand
(`wattdesk bill-run`) bills nothing twice (one live bill per account and period), its row then
counts those bills as already billed. A row left `running` by a crash is run again. Like
`run_bills` it takes an engine: each step is its own short transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlmodel import Session

from billing_core.bills.model import ReviewThresholds
from billing_core.bills.run.service import BillRunSummary, TariffLookup, run_bills
from billing_core.bills.run.tables import MissedReading, ScheduledBillRun
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.engine import session_scope
from billing_core.errors import NotFound
from billing_core.readings.plans_service import DEFAULT_READING_WINDOW_DAYS, missed_readings

log = logging.getLogger("wattdesk.bills.scheduled")

RUN = table_of(ScheduledBillRun)
MISSED = table_of(MissedReading)
MAX_ERRORS = 200  # failed accounts named in a run's `errors` (the count is in `failed`)


class UnknownBillRun(NotFound):
    """No scheduled bill run with that id."""


def last_due_day(now: datetime, *, at: time, tz: ZoneInfo) -> date:
    """The latest reading day whose run time has come: today once the local clock reads `at`,
    else yesterday."""
    local = now.astimezone(tz)
    return local.date() if local.time() >= at else local.date() - timedelta(days=1)


def days_to_run(
    *, last_due: date, first_recorded: date | None, finished: set[date], catch_up_days: int
) -> list[date]:
    """The reading days to bill, oldest first: from `catch_up_days` before `last_due` (never
    before the first day the scheduler ever recorded: it does not bill history it never ran)
    up to `last_due`, less the days already finished. Pure."""
    if first_recorded is None:
        return [last_due]
    start = max(first_recorded, last_due - timedelta(days=catch_up_days))
    days = (start + timedelta(days=n) for n in range((last_due - start).days + 1))
    return [day for day in days if day not in finished]


@dataclass(frozen=True)
class ScheduledDay:
    """What the scheduler did for one reading day."""

    run_id: int
    run_date: date
    status: str
    catch_up: bool
    accounts_due: int
    issued: int
    in_review: int
    already_billed: int
    missed_readings: int
    failed: int


def run_due_days(
    *,
    engine: Engine,
    clock: Clock,
    tz: ZoneInfo,
    at: time,
    catch_up_days: int,
    tariffs: TariffLookup,
    thresholds: ReviewThresholds,
    grace_days: int = DEFAULT_READING_WINDOW_DAYS,
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS,
) -> list[ScheduledDay]:
    """Bill every reading day due and not yet run (`days_to_run`), oldest first. A day whose
    run raises is recorded `failed` with the error and the next days still run."""
    last_due = last_due_day(clock.now(), at=at, tz=tz)
    with Session(engine) as session:
        first = session.execute(select(func.min(RUN.c.run_date))).scalar()
        finished = set(
            session.execute(
                select(RUN.c.run_date).where(
                    RUN.c.status == "finished",
                    RUN.c.run_date >= last_due - timedelta(days=catch_up_days),
                )
            ).scalars()
        )
    days = days_to_run(
        last_due=last_due, first_recorded=first, finished=finished, catch_up_days=catch_up_days
    )
    return [
        run_day(
            engine=engine,
            clock=clock,
            tz=tz,
            run_date=day,
            tariffs=tariffs,
            thresholds=thresholds,
            grace_days=grace_days,
            payment_terms=payment_terms,
        )
        for day in days
    ]


def run_day(
    *,
    engine: Engine,
    clock: Clock,
    tz: ZoneInfo,
    run_date: date,
    tariffs: TariffLookup,
    thresholds: ReviewThresholds,
    grace_days: int = DEFAULT_READING_WINDOW_DAYS,
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS,
) -> ScheduledDay:
    """Bill one reading day (in this process: the scheduler's thread does not fork), list its
    missed readings and record the day's row."""
    today = clock.now().astimezone(tz).date()
    catch_up = run_date < today
    run_id = _start(engine, clock, run_date, catch_up)
    try:
        summary = run_bills(
            engine=engine,
            clock=clock,
            run_date=run_date,
            tz=tz,
            tariffs=tariffs,
            thresholds=thresholds,
            workers=1,
            payment_terms=payment_terms,
        )
    except Exception as exc:  # recorded for staff, then the next day runs
        log.exception("the scheduled bill run of %s failed", run_date)
        return _fail(engine, clock, run_id, run_date, catch_up, f"{type(exc).__name__}: {exc}")
    # Reads, then writes: it begins IMMEDIATE on SQLite (a deferred transaction that another
    # writer overtook fails at its first write with "database is locked", whatever the busy
    # timeout: the demo's start-up jobs all write at once).
    with session_scope(engine, write=True) as session:
        missed = missed_readings(session=session, on=run_date, tz=tz, grace_days=grace_days)
        if missed:
            session.execute(
                insert(MISSED),
                [
                    {
                        "run_id": run_id,
                        "account_number": m.account_number,
                        "book_code": m.book_code,
                        "meter_serial": m.meter_serial,
                        "last_read_on": m.last_read_on,
                    }
                    for m in missed
                ],
            )
        counts = _counts(summary, len(missed))
        session.execute(
            update(RUN)
            .where(RUN.c.id == run_id)
            .values(
                status="finished",
                finished_at=clock.now(),
                bill_run_id=summary.run_id,
                errors=_errors(summary),
                **counts,
            )
        )
    return ScheduledDay(run_id, run_date, "finished", catch_up, **counts)


def _counts(summary: BillRunSummary, missed: int) -> dict[str, int]:
    return {
        "accounts_due": summary.due,
        "issued": summary.issued,
        "in_review": summary.in_review,
        "already_billed": summary.already_billed,
        "missed_readings": missed,
        "failed": len(summary.failed),
    }


def _errors(summary: BillRunSummary) -> str:
    lines = [f"{number}: {why}" for number, why in summary.failed[:MAX_ERRORS]]
    if len(summary.failed) > MAX_ERRORS:
        lines.append(f"… and {len(summary.failed) - MAX_ERRORS} more")
    return "\n".join(lines)


def _start(engine: Engine, clock: Clock, run_date: date, catch_up: bool) -> int:
    """The day's row, new or (after a crash or a failure) reset, with its old list gone."""
    values = {
        "status": "running",
        "catch_up": catch_up,
        "started_at": clock.now(),
        "finished_at": None,
        "errors": "",
        "bill_run_id": None,
    }
    with session_scope(engine, write=True) as session:  # reads, then writes (as above)
        found = session.execute(select(RUN.c.id).where(RUN.c.run_date == run_date)).scalar()
        if found is None:
            return int(
                session.execute(
                    insert(RUN).returning(RUN.c.id), {"run_date": run_date, **values}
                ).scalar_one()
            )
        session.execute(delete(MISSED).where(MISSED.c.run_id == found))
        session.execute(update(RUN).where(RUN.c.id == found).values(**values))
        return int(found)


def _fail(
    engine: Engine, clock: Clock, run_id: int, run_date: date, catch_up: bool, error: str
) -> ScheduledDay:
    with Session(engine) as session, session.begin():
        session.execute(
            update(RUN)
            .where(RUN.c.id == run_id)
            .values(status="failed", finished_at=clock.now(), errors=error[:2000])
        )
    return ScheduledDay(run_id, run_date, "failed", catch_up, 0, 0, 0, 0, 0, 0)


# --- what staff read ------------------------------------------------------------------------

COLUMNS = (
    RUN.c.id, RUN.c.run_date, RUN.c.bill_run_id, RUN.c.status, RUN.c.catch_up,
    RUN.c.started_at, RUN.c.finished_at, RUN.c.accounts_due, RUN.c.issued, RUN.c.in_review,
    RUN.c.already_billed, RUN.c.missed_readings, RUN.c.failed, RUN.c.errors,
)  # fmt: skip


def list_runs(*, session: Session, limit: int = 30, offset: int = 0) -> list[dict[str, Any]]:
    """The scheduled runs, the newest reading day first."""
    rows = session.execute(
        select(*COLUMNS).order_by(RUN.c.run_date.desc()).limit(limit).offset(offset)
    ).mappings()
    return [dict(row) for row in rows]


def get_run(*, session: Session, run_id: int, limit: int = 1000) -> dict[str, Any]:
    """One scheduled run with its missed readings (by book, then account; at most `limit`)."""
    row = session.execute(select(*COLUMNS).where(RUN.c.id == run_id)).mappings().first()
    if row is None:
        raise UnknownBillRun(f"no scheduled bill run {run_id}")
    missed = session.execute(
        select(MISSED.c.account_number, MISSED.c.book_code, MISSED.c.meter_serial,
               MISSED.c.last_read_on)
        .where(MISSED.c.run_id == run_id)
        .order_by(MISSED.c.id)
        .limit(limit)
    ).mappings()  # fmt: skip
    return {**row, "missed": [dict(m) for m in missed]}
