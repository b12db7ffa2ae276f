"""The scheduled jobs (APScheduler 3, in a background thread of the serving process): bill
notices every minute, due-date reminders daily at 08:00 local time (and once at start), late
fees daily just after midnight, the arrears ladder daily at the collections policy's time
(and once at start), queued conversations nobody took given back to the bot every
minute, the channel health probes and delivery watch every policy interval
(policies/health.yaml), the day's bill run late in the evening (catching up the days missed
while down, and once at start), and the outbox dispatcher in its own thread. The times are
data: policies/schedule.yaml (`scheduler.policy`).

At scale, run as many dispatchers as you like, but the timed jobs in one process at a time:
on PostgreSQL the jobs run only in the process holding an advisory lock (taken, and retaken
after a lost connection, before each run), so extra schedulers idle. On SQLite (one machine,
one process) the lock is not needed and not taken. Every job is idempotent anyway (dedupe
keys), so an overlap wastes work but never doubles a message or a fee."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, text

from billing_core.arrears.cases import LadderChunk, run_ladder_chunk
from billing_core.arrears.service import accrue_late_fees
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.run.service import TariffLookup
from billing_core.bills.run.summary import run_due_days
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.clock import Clock
from billing_core.conversations.agents import return_unanswered_queue
from billing_core.conversations.service import ConversationContext
from billing_core.db import session_scope
from billing_core.db.unit_of_work import Retry
from billing_core.health.model import Probe, ProbeResult, ProbeStatus
from billing_core.health.policy import HealthPolicy
from billing_core.health.service import record_probe_results, watch_delivery
from billing_core.ledger.policy import LateFeePolicy
from billing_core.live.policy import DEFAULT_LIVE_POLICY, LivePolicy
from billing_core.live.service import delete_older
from billing_core.notices.policy import NoticesPolicy
from billing_core.notices.service import enqueue_bill_notices, enqueue_due_reminders
from billing_core.payments.service import PaymentContext, issue_balance_links
from billing_core.readings.plans_changes import apply_due_plans
from scheduler.dispatcher import Dispatcher
from scheduler.policy import DEFAULT_SCHEDULE, DailyJob, SchedulePolicy

log = logging.getLogger("wattdesk.scheduler")

# A job's transactions the database turned away run again: SQLite refuses a transaction
# that read before another writer committed (the dispatcher writes all the time), PostgreSQL
# may pick it as a deadlock victim. Every job is idempotent (dedupe keys), so a dropped
# connection is worth another try too; the pauses are jittered, as the jobs start together.
JOB_RETRY = Retry(attempts=5, backoff=0.1, jitter=0.1, disconnects=True)
CHUNK = 200  # notices per transaction: short enough not to hold SQLite's writer for long
LOCK_KEY = 0x77617474  # "watt": the PostgreSQL advisory lock the active scheduler holds


class LeaderLock:
    """Elects the one process that runs the timed jobs: a session-level PostgreSQL advisory
    lock held on a dedicated connection for the life of the process. Always held on SQLite."""

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self.engine = engine
        self.key = key
        self._connection: Connection | None = None
        self._mutex = threading.Lock()

    def held(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        with self._mutex:
            if self._connection is not None:
                try:
                    self._connection.execute(text("SELECT 1"))
                    return True
                except Exception:
                    log.warning("lost the scheduler lock's connection; trying to take it again")
                    self._drop()
            connection = self.engine.connect()
            try:
                taken = connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar()
                connection.commit()
            except Exception:
                connection.close()
                raise
            if not taken:
                connection.close()  # held elsewhere: this one holds nothing, back to the pool
                return False
            log.info("this process is the active scheduler")
            self._connection = connection
            return True

    def release(self) -> None:
        with self._mutex:
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            # Unlocked first, so that another process can take it the moment this returns
            # (the server ends a closed session a little later). Then not back to the pool
            # (the session would live on there): the database connection is closed, which
            # frees the lock anyway when the unlock could not run (a lost connection).
            with contextlib.suppress(Exception):
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self._connection.commit()
            with contextlib.suppress(Exception):
                self._connection.invalidate()
                self._connection.close()
            self._connection = None


@dataclass(frozen=True)
class BillRunInputs:
    """What the scheduled bill run prices and reviews with (the composition root loads them)."""

    tariffs: TariffLookup
    thresholds: ReviewThresholds
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS


@dataclass(frozen=True)
class JobContext:
    engine: Engine
    clock: Clock
    tz: ZoneInfo
    payments_context: PaymentContext
    notices_policy: NoticesPolicy
    late_fee_policy: LateFeePolicy
    conversations: ConversationContext | None = None  # without it, queues are not swept
    # Channel health: the adapters' probes, handed in by the composition root (this package
    # imports no adapter), and the watch's policy (without it, no health job).
    probes: tuple[Probe, ...] = ()
    health_policy: HealthPolicy | None = None
    live_policy: LivePolicy = DEFAULT_LIVE_POLICY
    schedule: SchedulePolicy = DEFAULT_SCHEDULE  # policies/schedule.yaml: the jobs' times
    bill_run: BillRunInputs | None = None  # without it, no scheduled bill run


def run_bill_notices(context: JobContext) -> int:
    """Notices for recent `bill_issued` events, a chunk per transaction."""
    total, cursor = 0, 0
    while True:
        with session_scope(context.engine, write=True) as session:
            run = enqueue_bill_notices(
                session=session,
                clock=context.clock,
                tz=context.tz,
                payments_context=context.payments_context,
                after_event_id=cursor,
                max_age=timedelta(days=context.notices_policy.bill_notice_max_age_days),
                limit=CHUNK,
                group_settle=timedelta(minutes=context.notices_policy.group_notice_settle_minutes),
            )
        total, cursor = total + run.enqueued, run.cursor
        if run.looked_at < CHUNK:
            return total


def run_due_reminders(context: JobContext) -> int:
    """Today's due-date reminders, a chunk per transaction."""
    today = context.clock.now().astimezone(context.tz).date()
    total, cursor = 0, 0
    while True:
        with session_scope(context.engine, write=True) as session:
            run = enqueue_due_reminders(
                session=session,
                clock=context.clock,
                tz=context.tz,
                payments_context=context.payments_context,
                on=today,
                days_before=context.notices_policy.due_reminder_days_before,
                after_bill_id=cursor,
                limit=CHUNK,
            )
        total, cursor = total + run.enqueued, run.cursor
        if run.looked_at < CHUNK:
            return total


def run_late_fees(context: JobContext) -> int:
    today = context.clock.now().astimezone(context.tz).date()
    with session_scope(context.engine, write=True) as session:
        report = accrue_late_fees(
            session=session,
            clock=context.clock,
            tz=context.tz,
            on=today,
            policy=context.late_fee_policy,
        )
    return report.posted


def run_arrears_ladder(context: JobContext) -> int:
    """The daily arrears ladder (docs/arrears.md, "The daily job"): every account owing
    something, a chunk of accounts per transaction, selected and written set-based; one job
    whatever the number of accounts. Idempotent (each decision has a unique key), so a rerun
    or a run caught up after a misfire adds only what is new. Returns the steps recorded."""
    return ladder_run(context).steps


def ladder_run(context: JobContext) -> LadderChunk:
    rules = context.payments_context.arrears
    if rules is None:
        return LadderChunk()
    payments = context.payments_context
    total, cursor = LadderChunk(), 0
    while True:
        with session_scope(context.engine, write=True) as session:
            part = run_ladder_chunk(
                session=session,
                clock=context.clock,
                rules=rules,
                currency=payments.currency,
                after_account_id=cursor,
                pay_links=lambda s, ids: issue_balance_links(
                    session=s, clock=context.clock, context=payments, account_ids=ids
                ),
            )
        total.add(part)
        cursor = part.cursor
        if not part.more:
            return total


def run_queue_timeouts(context: JobContext) -> int:
    """Queued conversations no agent took in time go back to the bot (customers told)."""
    if context.conversations is None:
        return 0
    with session_scope(context.engine, write=True) as session:
        return return_unanswered_queue(
            session=session, clock=context.clock, context=context.conversations
        )


def run_probes(probes: tuple[Probe, ...]) -> list[ProbeResult]:
    """Each probe's answer; a probe that raises (it should not) counts as failing."""
    results = []
    for probe in probes:
        try:
            results.append(probe())
        except Exception as exc:
            log.exception("the %s probe of %s raised", probe.provider, probe.channel)
            results.append(ProbeResult(probe.channel, probe.provider, ProbeStatus.failing,
                                       None, f"the probe raised {type(exc).__name__}"))  # fmt: skip
    return results


def run_channel_health(context: JobContext) -> int:
    """Probe each channel's provider (outside any transaction: they wait on the network),
    then record the answers and run the delivery watch in one transaction. Returns the
    alerts raised or cleared (each logged)."""
    if context.health_policy is None:
        return 0
    results = run_probes(context.probes)
    with session_scope(context.engine, write=True) as session:
        changes = record_probe_results(session=session, clock=context.clock, results=results)
        changes += watch_delivery(
            session=session, clock=context.clock, policy=context.health_policy
        )
    for change in changes:
        level = logging.WARNING if change.change.value == "raise" else logging.INFO
        log.log(
            level, "channel alert %s %s: %s", change.subject, change.change.value, change.reason
        )
    return len(changes)


def run_live_retention(context: JobContext) -> int:
    """The console's live events older than the policy's days deleted, a chunk per
    transaction (docs/live.md)."""
    policy, total = context.live_policy, 0
    while True:
        with session_scope(context.engine, write=True) as session:
            deleted = delete_older(session, clock=context.clock, keep_days=policy.keep_days,
                                   limit=policy.delete_chunk)  # fmt: skip
        total += deleted
        if deleted < policy.delete_chunk:
            return total


def run_scheduled_bill_run(context: JobContext) -> int:
    """The day's bill run (docs/billing.md, "The scheduled bill run"): every reading day whose
    time has come and that has no finished run, missed days first (at most the policy's
    `catch_up_days` back), each recorded with its missed readings. Returns the days run."""
    if context.bill_run is None:
        return 0
    days = run_due_days(
        engine=context.engine,
        clock=context.clock,
        tz=context.tz,
        at=context.schedule.jobs.bill_run.at,
        catch_up_days=context.schedule.bill_run.catch_up_days,
        tariffs=context.bill_run.tariffs,
        thresholds=context.bill_run.thresholds,
        payment_terms=context.bill_run.payment_terms,
    )
    for day in days:
        log.info(
            "bill run %s (%s%s): %d due, %d issued, %d in review, %d already billed, "
            "%d missed readings, %d failed",
            day.run_date, day.status, ", catch-up" if day.catch_up else "", day.accounts_due,
            day.issued, day.in_review, day.already_billed, day.missed_readings, day.failed,
        )  # fmt: skip
    return len(days)


def run_reading_plans(context: JobContext) -> int:
    """Approved reading plans whose effective date has come are applied (docs/readings.md,
    "Applying a reading plan"): the accounts' reading days change that day. Idempotent: an
    applied plan is not applied again. Returns the plans applied."""
    today = context.clock.now().astimezone(context.tz).date()
    with session_scope(context.engine, write=True) as session:
        applied = apply_due_plans(session=session, clock=context.clock, today=today,
                                  actor="system:scheduler")  # fmt: skip
    for plan_id in applied:
        log.info("reading plan %d applied: reading days changed from %s", plan_id, today)
    return len(applied)


def _with_retries(job: Callable[[JobContext], int], context: JobContext) -> int:
    """The job, run again (the whole of it) while the database turns it away (`JOB_RETRY`)."""
    return JOB_RETRY.call(job, context)


class Scheduler:
    """The running jobs and dispatcher; `shutdown()` stops them."""

    def __init__(
        self,
        context: JobContext,
        dispatcher: Dispatcher | None,
        *,
        dispatcher_interval: float = 1.0,
    ) -> None:
        self.context = context
        self.dispatcher = dispatcher
        self.dispatcher_interval = dispatcher_interval
        self.lock = LeaderLock(context.engine)
        self.scheduler = BackgroundScheduler(timezone=context.tz)

    def _as_leader(self, name: str, job: Callable[[JobContext], int]) -> Callable[[], None]:
        def run() -> None:
            try:
                if not self.lock.held():
                    return
                done = _with_retries(job, self.context)
                if done:
                    log.info("%s: %d", name, done)
            except Exception:
                log.exception("scheduled job %s failed", name)

        return run

    def _daily(self, job: DailyJob) -> dict[str, Any]:
        """A daily job's trigger and misfire grace, from policies/schedule.yaml."""
        return {
            "trigger": CronTrigger(
                hour=job.at.hour, minute=job.at.minute, timezone=self.context.tz
            ),
            "misfire_grace_time": job.misfire_grace_minutes * 60,
        }

    def start(self, *, paused: bool = False) -> Scheduler:
        """Register the jobs and start them (`paused`: registered, none run; for counting)."""
        add = self.scheduler.add_job
        times = self.context.schedule.jobs
        notices = self._as_leader("bill notices", run_bill_notices)
        reminders = self._as_leader("due reminders", run_due_reminders)
        add(notices, IntervalTrigger(minutes=times.bill_notices.every_minutes), id="bill_notices",
            coalesce=True, max_instances=1)  # fmt: skip
        add(
            reminders,
            id="due_reminders",
            coalesce=True,
            max_instances=1,
            **self._daily(times.due_reminders),
        )
        # Late fees are not caught up at start: `wattdesk ledger accrue-late-fees --from`.
        add(
            self._as_leader("late fees", run_late_fees),
            id="late_fees",
            coalesce=True,
            max_instances=1,
            **self._daily(times.late_fees),
        )
        add(
            self._as_leader("queue time-outs", run_queue_timeouts),
            IntervalTrigger(minutes=times.queue_timeouts.every_minutes),
            id="queue_timeouts",
            coalesce=True,
            max_instances=1,
        )
        rules = self.context.payments_context.arrears
        ladder = self._as_leader("arrears ladder", run_arrears_ladder)
        if rules is not None:
            run_at = rules.collections.daily_run_at
            add(
                ladder,
                CronTrigger(hour=run_at.hour, minute=run_at.minute, timezone=self.context.tz),
                id="arrears_ladder",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=12 * 3600,  # a missed morning is caught up that day
            )
        health_policy = self.context.health_policy
        if health_policy is not None:
            health = self._as_leader("channel health", run_channel_health)
            add(
                health,
                IntervalTrigger(seconds=health_policy.probe_interval_seconds),
                id="channel_health",
                coalesce=True,
                max_instances=1,
            )
            add(health, id="channel_health_at_start")
        add(
            self._as_leader("live event retention", run_live_retention),
            id="live_retention",
            coalesce=True,
            max_instances=1,
            **self._daily(times.live_retention),
        )
        plans = self._as_leader("reading plans", run_reading_plans)
        add(plans, id="reading_plans", coalesce=True, max_instances=1,
            **self._daily(times.reading_plans))  # fmt: skip
        bill_run = self._as_leader("bill run", run_scheduled_bill_run)
        if self.context.bill_run is not None:
            # A misfire within the grace runs late; beyond it, the next run (or the one at
            # start) catches the missed days up: each day not finished is billed then.
            add(bill_run, id="bill_run", coalesce=True, max_instances=1,
                **self._daily(times.bill_run))  # fmt: skip
        # Once at start too (all idempotent): a restart must not wait for the trigger.
        add(notices, id="bill_notices_at_start")
        add(reminders, id="due_reminders_at_start")
        add(plans, id="reading_plans_at_start")  # before the day's bill run reads the days
        if rules is not None:
            add(ladder, id="arrears_ladder_at_start")
        if self.context.bill_run is not None:
            add(bill_run, id="bill_run_at_start")
        self.scheduler.start(paused=paused)
        if self.dispatcher is not None:
            self.dispatcher.start(self.dispatcher_interval)
        return self

    def shutdown(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.lock.release()
