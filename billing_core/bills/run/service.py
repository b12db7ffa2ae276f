"""The bill run: bill every account whose reading falls due on a date.

It loads what the bills depend on with a handful of set queries, drafts every bill with the
pure functions of `draft`, then stores them chunk by chunk, each chunk its own transaction.
That is why it takes an engine rather than a session: a run of a million accounts is many
units of work, so that a crash loses at most one uncommitted chunk. Rerunning skips what is
already billed (one live bill per account and period, a unique index), so a rerun after a
kill -9 ends where an uninterrupted run would have."""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, func, insert, select, update
from sqlmodel import Session

from billing_core.bills.draft import AccountPeriod, BillDraft, draft_bill, work_out_usage
from billing_core.bills.model import ReviewThresholds, is_catch_up
from billing_core.bills.run.load import load_due_periods
from billing_core.bills.run.plan import plan_parts
from billing_core.bills.run.store import prepare_chunk, store_drafts
from billing_core.bills.run.workers import can_fork, map_in_forks
from billing_core.bills.tables import Bill, BillRun
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.errors import WattdeskError
from billing_core.tariffs.model import Tariff

ZERO = Decimal(0)

BILL = table_of(Bill)
RUN = table_of(BillRun)

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class BillRunSummary:
    run_id: int
    run_date: date
    book: str | None
    due: int = 0
    issued: int = 0
    in_review: int = 0
    already_billed: int = 0
    # bills issued after the reading day they bill (a catch-up run): each is due its payment
    # terms after the day it was issued, not after the reading day
    catch_up: int = 0
    issued_on: date | None = None  # the local day the run issued its bills
    missed: list[tuple[str, str]] = field(default_factory=list)  # (account number, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (account number, why)
    total_amount: Decimal = ZERO
    review_by_rule: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # time spent by phase, summed over the run's parts (in workers, over all of them): where a
    # run's time goes; waiting for the write lock counts as storing
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def add(self, part: BillRunSummary) -> None:
        """Count in one part of the run."""
        self.due += part.due
        self.issued += part.issued
        self.in_review += part.in_review
        self.already_billed += part.already_billed
        self.catch_up += part.catch_up
        self.issued_on = max(filter(None, (self.issued_on, part.issued_on)), default=None)
        self.missed.extend(part.missed)
        self.failed.extend(part.failed)
        self.total_amount += part.total_amount
        for phase, seconds in part.phase_seconds.items():
            self.phase_seconds[phase] = self.phase_seconds.get(phase, 0.0) + seconds
        for rule, count in part.review_by_rule.items():
            self.review_by_rule[rule] = self.review_by_rule.get(rule, 0) + count

    @property
    def bills_per_second(self) -> float:
        stored = self.issued + self.in_review
        return stored / self.seconds if self.seconds else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_date": self.run_date.isoformat(),
            "book": self.book,
            "due": self.due,
            "issued": self.issued,
            "in_review": self.in_review,
            "already_billed": self.already_billed,
            "catch_up": self.catch_up,
            "issued_on": self.issued_on.isoformat() if self.issued_on else None,
            "missed": len(self.missed),
            "failed": len(self.failed),
            "total_amount": str(self.total_amount),
            "review_by_rule": dict(sorted(self.review_by_rule.items())),
            "missed_accounts": [{"account": a, "why": w} for a, w in self.missed[:200]],
            "failed_accounts": [{"account": a, "why": w} for a, w in self.failed[:200]],
            "seconds": round(self.seconds, 3),
            "phase_seconds": {phase: round(t, 3) for phase, t in self.phase_seconds.items()},
        }


class TariffLookup(Protocol):
    """Anything that finds a compiled tariff by code (the tariff catalog)."""

    def get(self, code: str) -> Tariff: ...


def run_bills(
    *,
    engine: Engine,
    clock: Clock,
    run_date: date,
    tz: ZoneInfo,
    tariffs: TariffLookup,
    thresholds: ReviewThresholds,
    book: str | None = None,
    chunk_size: int = 5000,
    workers: int = 1,
    progress: Progress | None = None,
    after_chunk: Callable[[int], None] | None = None,
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS,
) -> BillRunSummary:
    """Bill every active account whose reading day is `run_date`'s day (in `book`, if given).

    With `workers` > 1 the accounts are shared among that many forked processes, each of
    which loads, drafts and stores its part (`plan_parts` keeps the accounts of a
    parent/child meter hierarchy together, in the first part); where forking is not safe the
    run stays in this process. `after_chunk(stored_so_far)` runs after each committed chunk
    of an in-process run (tests use it to crash a run at a chosen point)."""
    started = time.perf_counter()
    with Session(engine) as session, session.begin():
        run_id = session.execute(
            insert(RUN).returning(RUN.c.id),
            {
                "run_date": run_date,
                "book_code": book,
                "status": "running",
                "started_at": clock.now(),
                "summary": {},
            },
        ).scalar_one()
    summary = BillRunSummary(run_id=run_id, run_date=run_date, book=book)
    job = _Job(clock, tariffs, thresholds, run_id, run_date, tz, book, chunk_size,
               analyze_after_first_chunk=_planner_sees_no_bills(engine),
               payment_terms=payment_terms)  # fmt: skip
    if workers > 1 and after_chunk is None and can_fork(engine, workers):
        parts = plan_parts(engine, run_date, book, workers)
        # a parallel run's progress as the database sees it: bills stored of accounts due
        due = sum(map(len, parts))

        def report_progress() -> None:
            if progress is not None:
                stored = _count(engine, select(BILL.c.id).where(BILL.c.bill_run_id == run_id))
                progress(stored, max(due, stored))

        for part_summary in map_in_forks(
            _bill_part_in_worker,
            job,
            parts,
            engine=engine,
            workers=workers,
            while_waiting=report_progress,
        ):
            summary.add(part_summary)
        report_progress()
    else:
        summary.add(_bill_part(engine, job, None, progress=progress, after_chunk=after_chunk))

    summary.seconds = time.perf_counter() - started
    with Session(engine) as session, session.begin():
        session.execute(
            update(RUN)
            .where(RUN.c.id == run_id)
            .values(
                status="finished",
                finished_at=clock.now(),
                issued=summary.issued,
                in_review=summary.in_review,
                skipped=summary.already_billed,
                missed=len(summary.missed),
                failed=len(summary.failed),
                summary=summary.as_json(),
            )
        )
    return summary


class _Job(NamedTuple):
    """What every part of a run shares (pickled for the workers)."""

    clock: Clock
    tariffs: TariffLookup
    thresholds: ReviewThresholds
    run_id: int
    run_date: date
    tz: ZoneInfo
    book: str | None
    chunk_size: int
    analyze_after_first_chunk: bool = False
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS  # policies/payment_terms.yaml


def _bill_part_in_worker(
    engine: Engine, lock: AbstractContextManager[Any], job: _Job, part: Sequence[int]
) -> BillRunSummary:
    # On SQLite one writer at a time: the workers take turns as soon as the lock is free,
    # where SQLite's own busy wait would have them sleep and poll.
    write_lock = lock if engine.dialect.name == "sqlite" else nullcontext()
    return _bill_part(engine, job, part, write_lock=write_lock)


def _bill_part(
    engine: Engine,
    job: _Job,
    part: Sequence[int] | None,
    *,
    write_lock: AbstractContextManager[Any] | None = None,
    progress: Progress | None = None,
    after_chunk: Callable[[int], None] | None = None,
) -> BillRunSummary:
    """Load, draft and store one part of the run's accounts (all of them for None): the
    part's own counts, for `BillRunSummary.add`."""
    with cycle_collection_paused():
        return _bill_part_now(
            engine, job, part, write_lock=write_lock, progress=progress, after_chunk=after_chunk
        )


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, and back on (if it was on) after it.

    A part of a run holds hundreds of thousands of rows, periods and drafts (tuples and
    Decimals) while it allocates more, so the collector's passes kept traversing them all:
    a large share of a bill run's CPU time, though none of them is in a reference cycle
    (reference counting frees them). The little cyclic garbage the block leaves (a session's
    bookkeeping) is collected once the collector is back on. The switch is the process's,
    so in a process that serves requests as well they too go without cycle collection for
    the block's few seconds."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _bill_part_now(
    engine: Engine,
    job: _Job,
    part: Sequence[int] | None,
    *,
    write_lock: AbstractContextManager[Any] | None,
    progress: Progress | None,
    after_chunk: Callable[[int], None] | None,
) -> BillRunSummary:
    summary = BillRunSummary(run_id=job.run_id, run_date=job.run_date, book=job.book)
    clock = time.perf_counter
    started = clock()
    with Session(engine) as session:
        periods, missed, already = load_due_periods(
            session=session,
            run_date=job.run_date,
            tz=job.tz,
            book=job.book,
            account_ids=part,
            payment_terms=job.payment_terms,
        )
    loaded = clock()
    summary.due = len(periods) + len(missed) + already
    summary.missed = missed
    summary.already_billed = already
    # Due dates count from the day the bills are issued, not from the reading day.
    issued_on = job.clock.now().astimezone(job.tz).date()
    summary.issued_on = issued_on
    catch_up = is_catch_up(run_date=job.run_date, issued_on=issued_on)

    drafts = draft_all(
        periods,
        tariffs=job.tariffs,
        thresholds=job.thresholds,
        issued_on=issued_on,
        failed=summary.failed,
    )
    drafted = clock()
    stored, waited = 0, 0.0
    for chunk in _chunks(drafts, job.chunk_size):
        # Converted before the chunk's turn at the writer (SQLite has one at a time).
        prepared = prepare_chunk(engine.dialect, job.clock, chunk, job.run_id, issued_on)
        asked = clock()
        with write_lock or nullcontext():
            waited += clock() - asked
            counted = store_drafts(
                engine=engine, clock=job.clock, drafts=chunk, run_id=job.run_id,
                issued_on=issued_on, prepared=prepared,
            )  # fmt: skip
        if job.analyze_after_first_chunk and stored == 0:
            _analyze_bill_tables(engine)  # each part's first chunk: see RUN_TABLES
        summary.already_billed += counted.already_billed
        for draft in counted.stored:
            if draft.needs_review:
                summary.in_review += 1
                for finding in draft.findings:
                    summary.review_by_rule[finding.rule] = (
                        summary.review_by_rule.get(finding.rule, 0) + 1
                    )
            else:
                summary.issued += 1
                summary.catch_up += int(catch_up)
            summary.total_amount += draft.total
        stored += len(chunk)
        if progress:
            progress(stored, len(drafts))
        if after_chunk:
            after_chunk(stored)
    # "wait": for the other workers' turns at SQLite's one writer (not counted in "store")
    summary.phase_seconds = {
        "load": loaded - started, "draft": drafted - loaded,
        "store": clock() - drafted - waited, "wait": waited,
    }  # fmt: skip
    return summary


# The tables a run writes. On PostgreSQL, a `bill` table analyzed (or vacuumed) while empty
# makes the planner cost a lookup in it as a scan of nothing: the foreign-key checks of the
# run's lines, charges and review items are then planned as sequential scans, and each
# worker keeps those plans while the table grows (a run of 20,000 bills took four times as
# long, one scan of `bill` per bill). ANALYZE once the first chunk is in replans them.
RUN_TABLES = ("bill", "bill_line", "review_item", "ledger_entry", "domain_event")


def _planner_sees_no_bills(engine: Engine) -> bool:
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        estimate = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'bill'::regclass"
        ).scalar()
    return estimate == 0  # -1: never analyzed, where the planner assumes a few pages


def _analyze_bill_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(f"ANALYZE {', '.join(RUN_TABLES)}")


def _count(engine: Engine, query: Select[Any]) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        )


def draft_all(
    periods: Sequence[AccountPeriod],
    *,
    tariffs: TariffLookup,
    thresholds: ReviewThresholds,
    issued_on: date,
    failed: list[tuple[str, str]],
) -> list[BillDraft]:
    """Work out usage for every account, sum child meters onto their parents, then price and
    review; the issued bills are due their terms after `issued_on`. A domain error fails that
    one account, with its reason, never the run."""
    usages = {}
    for period in periods:
        try:
            usages[period.account_id] = work_out_usage(period, thresholds)
        except WattdeskError as exc:
            failed.append((period.account_number, str(exc)))
    children: dict[int, Decimal] = defaultdict(Decimal)
    for period in periods:
        parent = period.meter.parent_meter_id
        if parent is not None and period.account_id in usages:
            children[parent] += usages[period.account_id].kwh
    drafts = []
    for period in periods:
        usage = usages.get(period.account_id)
        if usage is None:
            continue
        try:
            tariff = tariffs.get(period.tariff_code)
            changes = [(on, tariffs.get(code)) for on, code in period.tariff_changes]
            drafts.append(
                draft_bill(
                    period,
                    usage,
                    tariff=tariff,
                    thresholds=thresholds,
                    issued_on=issued_on,
                    children_kwh=children.get(period.meter.meter_id),
                    tariff_changes=changes,
                )
            )
        except WattdeskError as exc:
            failed.append((period.account_number, str(exc).splitlines()[-1].strip()))
    return drafts


def _chunks(items: Sequence[BillDraft], size: int) -> Iterable[Sequence[BillDraft]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
