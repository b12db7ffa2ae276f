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
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Date,
    Engine,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.ddl import CreateTable
from sqlmodel import Session

from billing_core.bills.draft import (
    AccountPeriod,
    BillDraft,
    MeterPeriod,
    ReadingValues,
    draft_bill,
    work_out_usage,
)
from billing_core.bills.forks import can_fork, map_in_forks
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.tables import Bill, BillLine, BillRun, ReviewItem
from billing_core.clock import Clock
from billing_core.customers.model import AccountStatus
from billing_core.customers.tables import (
    Account,
    BusinessChange,
    Customer,
    TariffAssignment,
)
from billing_core.db.columns import table_of
from billing_core.db.fast import (
    PendingRows,
    bind_converter,
    decimal_reader,
    fetch_converted,
    fetch_raw,
    insert_pending,
    instant_reader,
    pending_rows,
    raw,
    required_decimal_reader,
    reserve_ids,
)
from billing_core.errors import WattdeskError
from billing_core.events.service import IssuedBill, pending_bill_issued_events
from billing_core.ledger.service import pending_bill_charges
from billing_core.readings.model import MeterRow, ReverseKind, register_delta
from billing_core.readings.tables import Meter, MeterReading, ReadingBook
from billing_core.readings.vee import Replacement
from billing_core.tariffs.model import POWER_FACTOR_ADJUSTMENT, Tariff

ZERO = Decimal(0)
READING_WINDOW_DAYS = 3  # a reading up to this many days before the reading day counts
COMPARISON_MONTHS = (1, 2, 12, 13)  # the previous period, and the same period last year

BILL = table_of(Bill)
LINE = table_of(BillLine)
REVIEW = table_of(ReviewItem)
RUN = table_of(BillRun)
ACCOUNT = table_of(Account)
CUSTOMER = table_of(Customer)
ASSIGNMENT = table_of(TariffAssignment)
METER = table_of(Meter)
READING = table_of(MeterReading)
BOOK = table_of(ReadingBook)
CHANGE = table_of(BusinessChange)
# A reading as the run loads it (read_at and the registers converted by the loop itself).
READING_COLUMNS = (
    READING.c.id, READING.c.meter_id, raw(READING.c.read_at), raw(READING.c.total),
    raw(READING.c.peak), raw(READING.c.flat), raw(READING.c.valley),
    raw(READING.c.reactive), READING.c.estimated,
)  # fmt: skip

Progress = Callable[[int, int], None]  # (done, total)
# A run in worker processes shares its accounts in parts, each loaded, drafted and stored on
# its own (see `plan_parts`); more parts when the largest would hold more accounts than
# this: a part's periods and drafts are held in its worker's memory until they are stored.
MAX_PART_ACCOUNTS = 50_000
# The first worker's one part is the largest, and so is its turn at SQLite's writer; with
# exactly equal shares it asked for that turn just before the other worker's last (small)
# part did, which then waited for it, and the first worker sat idle while that last part was
# stored. This much of the first part's weight moves to the second (the other worker's
# first), so the large turn is over before the small one is asked for: the run's wait for
# the writer 0.35-0.46 -> 0.25 s a cycle of 100,000 accounts.
FIRST_PART_SHIFT = 0.125


@dataclass
class BillRunSummary:
    run_id: int
    run_date: date
    book: str | None
    due: int = 0
    issued: int = 0
    in_review: int = 0
    already_billed: int = 0
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
            "missed": len(self.missed),
            "failed": len(self.failed),
            "total_amount": str(self.total_amount),
            "review_by_rule": dict(sorted(self.review_by_rule.items())),
            "missed_accounts": [{"account": a, "why": w} for a, w in self.missed[:200]],
            "failed_accounts": [{"account": a, "why": w} for a, w in self.failed[:200]],
            "seconds": round(self.seconds, 3),
            "phase_seconds": {phase: round(t, 3) for phase, t in self.phase_seconds.items()},
        }


class _AccountRow(NamedTuple):
    id: int
    number: str
    status: str
    payment_terms_days: int
    opened_on: date
    kind: str
    household_size: int
    timezone: str | None


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
               analyze_after_first_chunk=_planner_sees_no_bills(engine))  # fmt: skip
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
    over a quarter of a bill run's CPU time, though none of them is in a reference cycle
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
            session=session, run_date=job.run_date, tz=job.tz, book=job.book, account_ids=part
        )
    loaded = clock()
    summary.due = len(periods) + len(missed) + already
    summary.missed = missed
    summary.already_billed = already

    drafts = draft_all(
        periods,
        tariffs=job.tariffs,
        thresholds=job.thresholds,
        run_date=job.run_date,
        failed=summary.failed,
    )
    drafted = clock()
    stored, waited = 0, 0.0
    issued_on = job.clock.now().astimezone(job.tz).date()
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
    run_date: date,
    failed: list[tuple[str, str]],
) -> list[BillDraft]:
    """Work out usage for every account, sum child meters onto their parents, then price and
    review. A domain error fails that one account, with its reason, never the run."""
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
                    run_date=run_date,
                    children_kwh=children.get(period.meter.meter_id),
                    tariff_changes=changes,
                )
            )
        except WattdeskError as exc:
            failed.append((period.account_number, str(exc).splitlines()[-1].strip()))
    return drafts


@dataclass
class StoredChunk:
    stored: list[BillDraft]
    already_billed: int


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk of drafts as rows converted for the driver, waiting only for their bill ids
    (which the storing transaction reserves): prepared before the chunk's turn at the
    writer, so that the turn does little more than the inserts."""

    drafts: Sequence[BillDraft]
    tables: list[PendingRows]


def prepare_chunk(
    dialect: Dialect, clock: Clock, drafts: Sequence[BillDraft], run_id: int, issued_on: date
) -> PreparedChunk:
    """The bills, their lines, review items, "bill issued" events and ledger charges of
    `drafts`, each row waiting for the index of its bill's id."""
    now = clock.now()
    bills = [
        (
            d.account_id, d.period_start, d.period_end,
            "in_review" if d.findings else "issued", d.kwh, d.total, d.currency, d.estimated,
            None if d.findings else d.due_date, None if d.findings else now,
            d.prev_reading_id, d.curr_reading_id, run_id, now,
        )
        for d in drafts
    ]  # fmt: skip
    lines, line_owners, reviews, review_owners = [], [], [], []
    issued: list[tuple[int, IssuedBill]] = []
    for index, draft in enumerate(drafts):
        for position, line in enumerate(draft.lines, start=1):
            lines.append((position, "charge", *line))
            line_owners.append(index)
        for finding in draft.findings:
            reviews.append((str(finding.rule), finding.detail[:500], "open", "", now))
            review_owners.append(index)
        if not draft.findings:
            assert draft.due_date is not None
            issued.append((index, IssuedBill(draft.account_id, draft.total, draft.currency,
                                             draft.due_date, draft.period_start,
                                             draft.period_end)))  # fmt: skip
    own_id = {"id": _bill_id}
    their_bill = {"bill_id": _bill_id}
    return PreparedChunk(
        drafts=drafts,
        tables=[
            pending_rows(dialect, BILL, BILL_COLUMNS, bills, owners=range(len(drafts)),
                         late=own_id),
            pending_rows(dialect, LINE, LINE_COLUMNS, lines, owners=line_owners,
                         late=their_bill),
            pending_rows(dialect, REVIEW, REVIEW_COLUMNS, reviews, owners=review_owners,
                         late=their_bill),
            pending_bill_issued_events(dialect, bills=issued, now=now),
            # An issued bill's charge enters the ledger in the same transaction as the bill.
            pending_bill_charges(
                dialect, now=now,
                bills=[(i, b.account_id, b.total, b.currency, issued_on) for i, b in issued],
            ),
        ],
    )  # fmt: skip


def _bill_id(_row: int, bill_id: int) -> int:
    return bill_id


def store_drafts(
    *,
    engine: Engine,
    clock: Clock,
    drafts: Sequence[BillDraft],
    run_id: int,
    issued_on: date,
    prepared: PreparedChunk | None = None,
) -> StoredChunk:
    """Store one chunk in one transaction (`prepared` ahead of it, or now). If another run
    stored some of these bills in the meantime (the unique index says so), those are
    dropped and the chunk is stored again."""
    pending = list(drafts)
    already = 0
    while True:
        if prepared is None or len(prepared.drafts) != len(pending):
            prepared = prepare_chunk(engine.dialect, clock, pending, run_id, issued_on)
        try:
            with Session(engine) as session, session.begin():
                _insert_chunk(session, prepared)
            return StoredChunk(pending, already)
        except IntegrityError:
            with Session(engine) as session:
                billed = _billed_starts(session, pending)
            before = len(pending)
            pending = [d for d in pending if (d.account_id, d.period_start) not in billed]
            if len(pending) == before:
                raise  # not a bill stored by another run: a real error
            already += before - len(pending)


def _billed_starts(session: Session, drafts: Sequence[BillDraft]) -> set[tuple[int, date]]:
    ids = [d.account_id for d in drafts]
    rows = session.execute(
        select(BILL.c.account_id, BILL.c.period_start).where(
            BILL.c.account_id.in_(ids), BILL.c.status != "cancelled"
        )
    )
    return {(row[0], row[1]) for row in rows}


def _insert_chunk(session: Session, prepared: PreparedChunk) -> None:
    if not prepared.drafts:
        return
    connection = session.connection()
    # Ids are taken first (a sequence on PostgreSQL, under the write lock on SQLite), so the
    # bills go in with one executemany and nothing needs to be read back.
    ids = reserve_ids(connection, BILL, len(prepared.drafts))
    for table in prepared.tables:
        insert_pending(connection, table, ids)


BILL_COLUMNS = ("id", "account_id", "period_start", "period_end", "status", "kwh", "total",
                "currency", "estimated", "due_date", "issued_at", "prev_reading_id",
                "curr_reading_id", "bill_run_id", "created_at")  # fmt: skip
LINE_COLUMNS = ("bill_id", "position", "kind", "component", "quantity", "unit_price", "amount")
REVIEW_COLUMNS = ("bill_id", "rule", "detail", "status", "note", "created_at")


def _chunks(items: Sequence[BillDraft], size: int) -> Iterable[Sequence[BillDraft]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- loading -------------------------------------------------------------------------------


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, 28))


def _local_range_utc(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in local time, as UTC instants."""
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    after = last + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC)
    return start, end


def _due_accounts(run_date: date, book: str | None) -> Select[tuple[int]]:
    due = select(ACCOUNT.c.id).where(
        ACCOUNT.c.reading_day == run_date.day,
        ACCOUNT.c.status == AccountStatus.active,
        ACCOUNT.c.opened_on <= run_date,
    )
    if book is not None:
        due = due.join(BOOK, BOOK.c.id == ACCOUNT.c.reading_book_id).where(BOOK.c.code == book)
    return due


# The accounts due, written once per load into a temporary table that each of the load's
# queries reads, instead of each query selecting them again (by day, status and part).
_DUE = Table(
    "bill_run_due_account",
    MetaData(),
    Column("id", Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)


def _due_table(session: Session, due: Select[tuple[int]] | Sequence[int]) -> Table:
    """The accounts due, in this connection's temporary table: the ids `due` selects, or the
    ids themselves (a part `plan_parts` planned). The table is created in the load's
    transaction and goes with it, on SQLite as on PostgreSQL; it is emptied first all the
    same, for a connection whose transaction kept it."""
    connection = session.connection()
    connection.execute(CreateTable(_DUE, if_not_exists=True))
    connection.execute(delete(_DUE))
    if isinstance(due, Select):
        connection.execute(insert(_DUE).from_select(["id"], due))
    elif due:
        connection.execute(insert(_DUE), [{"id": account_id} for account_id in due])
    if connection.dialect.name == "postgresql":
        # A temporary table has no statistics until analysed: the planner would take it for
        # thousands of rows and scan the readings whole rather than look them up.
        connection.exec_driver_sql(f"ANALYZE {_DUE.name}")
        # Even so, with the default cost of a random page (4, set for spinning disks) it
        # hash-joined a part's few hundred accounts against whole tables (accounts, meters,
        # tariffs, bills), once per part: half of a parallel run's load time. The load reads
        # by key from tables the cache holds, where a random page costs about what a
        # sequential one does. SET LOCAL: only for this load's transaction.
        connection.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    return _DUE


def _hierarchy_accounts() -> Select[tuple[int]]:
    """The accounts with a meter in a parent/child hierarchy (总分表): one small set the
    database works out from the parent_meter_id index (few meters have a parent)."""
    child = METER.alias("child_meter")
    has_parent = child.c.parent_meter_id.is_not(None)
    return select(METER.c.account_id).where(
        METER.c.id.in_(
            union(
                select(child.c.id).where(has_parent),
                select(child.c.parent_meter_id).where(has_parent),
            )
        )
    )


def plan_parts(
    engine: Engine, run_date: date, book: str | None, workers: int
) -> list[tuple[int, ...]]:
    """The accounts due, shared into parts for `workers` processes that each take the next
    part when done with one: every account of a parent/child meter hierarchy in the first
    part (a parent's bill is checked against its children's usage in the same run), and
    2 × workers - 1 parts in decreasing sizes (weights k, k-1, …, 1). Taken in that order,
    the first worker gets k, the next k-1 and then 1, the next k-2 and 2…: equal shares,
    where equal parts left one worker idle while the other finished its last. The first
    parts are large (a part costs a few ms of set-up), the last small, and the workers'
    turns at SQLite's one writer fall at different times, bar the last ones."""
    with engine.connect() as connection:
        due_ids = sorted(row[0] for row in fetch_raw(connection, _due_accounts(run_date, book)))
        in_hierarchy = {row[0] for row in fetch_raw(connection, _hierarchy_accounts())}
    related = [account_id for account_id in due_ids if account_id in in_hierarchy]
    others = [account_id for account_id in due_ids if account_id not in in_hierarchy]
    due = len(due_ids)
    count = 2 * workers - 1
    while count > 1 and 2 * due > MAX_PART_ACCOUNTS * (count + 1):  # the largest: 2/(k+1)
        count += 2 * workers
    weights = [float(weight) for weight in range(count, 0, -1)]
    if count > 1:  # see FIRST_PART_SHIFT
        weights[0] -= FIRST_PART_SHIFT
        weights[1] += FIRST_PART_SHIFT
    ordered = related + others
    parts: list[tuple[int, ...]] = []
    start, cumulative, total = 0, 0.0, sum(weights)
    for weight in weights:
        cumulative += weight
        end = max(start, round(due * cumulative / total))
        if not parts:
            end = max(end, len(related))
        parts.append(tuple(ordered[start:end]))
        start = end
    return [part for part in parts if part]


def load_due_periods(
    *,
    session: Session,
    run_date: date,
    tz: ZoneInfo,
    book: str | None,
    account_ids: Sequence[int] | None = None,
) -> tuple[list[AccountPeriod], list[tuple[str, str]], int]:
    """The inputs of every bill due on `run_date` (of the `account_ids` given, a part that
    `plan_parts` planned, else of every account due): (periods, missed accounts, already
    billed)."""
    due_ids = _due_table(
        session, _due_accounts(run_date, book) if account_ids is None else account_ids
    )
    due_in = ACCOUNT.c.id.in_(select(due_ids.c.id))

    connection = session.connection()
    accounts = {
        row[0]: _AccountRow._make(row)
        for row in fetch_converted(
            connection,
            select(
                ACCOUNT.c.id,
                ACCOUNT.c.number,
                ACCOUNT.c.status,
                ACCOUNT.c.payment_terms_days,
                ACCOUNT.c.opened_on,
                CUSTOMER.c.kind,
                CUSTOMER.c.household_size,
                CUSTOMER.c.timezone,
            )
            .join(CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id)
            .where(due_in),
        )
    }
    if not accounts:
        return [], [], 0

    # Every tariff assignment up to the date, oldest first: the period is priced at the one in
    # force on its first day and split at each one that takes effect inside it.
    assignments: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for account_id, code, effective_from in fetch_converted(
        connection,
        select(ASSIGNMENT.c.account_id, ASSIGNMENT.c.tariff_code, ASSIGNMENT.c.effective_from)
        .where(
            ASSIGNMENT.c.account_id.in_(select(due_ids.c.id)),
            ASSIGNMENT.c.effective_from <= run_date,
        )
        .order_by(ASSIGNMENT.c.account_id, ASSIGNMENT.c.effective_from),
    ):
        assignments[account_id].append((effective_from, code))

    zones: dict[str | None, ZoneInfo] = {None: tz}
    zone_of_meter: dict[int, ZoneInfo] = {}
    meters: dict[int, list[Any]] = defaultdict(list)
    window_floor = _months_before(run_date, 2) - timedelta(days=READING_WINDOW_DAYS)
    meter_filter = (
        METER.c.account_id.in_(select(due_ids.c.id)),
        METER.c.installed_on <= run_date,
        or_(METER.c.removed_on.is_(None), METER.c.removed_on >= window_floor),
    )
    due_meters = select(METER.c.id).where(*meter_filter)
    for row in fetch_converted(
        connection,
        select(*(METER.c[name] for name in MeterRow._fields))
        .where(*meter_filter)
        .order_by(METER.c.installed_on),
    ):
        meter = MeterRow._make(row)
        meters[meter.account_id].append(meter)
        zone = accounts[meter.account_id].timezone
        if zone not in zones:
            zones[zone] = ZoneInfo(zone) if zone else tz
        zone_of_meter[meter.id] = zones[zone]

    # Readings in the windows around this reading day and the comparison months, as local
    # dates in each customer's time zone (the query takes a day more on each side).
    windows = [(run_date, 0)] + [(_months_before(run_date, k), k) for k in COMPARISON_MONTHS]
    ranges = []
    for day, _k in windows:
        start, end = _local_range_utc(
            day - timedelta(days=READING_WINDOW_DAYS + 1), day + timedelta(days=1), tz
        )
        ranges.append(and_(READING.c.read_at >= start, READING.c.read_at < end))
    window_of = {
        day - timedelta(days=back): k
        for day, k in windows
        for back in range(READING_WINDOW_DAYS + 1)
    }
    day_lists: dict[ZoneInfo, _LocalDays] = {}
    days_of_meter: dict[int, _LocalDays] = {}
    to_raw = bind_converter(READING.c.read_at, session.get_bind().dialect)
    for meter_id, meter_zone in zone_of_meter.items():
        if meter_zone not in day_lists:
            day_lists[meter_zone] = _LocalDays(window_of, meter_zone, to_raw)
        days_of_meter[meter_id] = day_lists[meter_zone]
    # (row, local date) of the latest reading of each meter in each window, by window.
    readings: dict[int, dict[int, tuple[Any, date]]] = defaultdict(dict)
    rows = fetch_raw(
        connection,
        select(*READING_COLUMNS)
        .where(READING.c.meter_id.in_(due_meters), or_(*ranges))
        .order_by(READING.c.meter_id, READING.c.read_at),
    )
    for reading in rows:
        meter_id = reading[1]
        local = days_of_meter[meter_id].local_date(reading[2])
        if local is not None:
            k = window_of.get(local)
            if k is not None:  # the latest reading in a window wins (rows come in time order)
                readings[meter_id][k] = (reading, local)
    dialect = session.get_bind().dialect.name
    as_values = _values_reader(dialect)
    total_kwh = required_decimal_reader(READING.c.total, dialect)

    # The final reading of each meter removed in the period (换表), wherever it falls: the last
    # one on or before the day it was removed.
    period_floor = _months_before(run_date, 1) - timedelta(days=READING_WINDOW_DAYS)
    finals = _final_readings(
        session,
        {
            meter.id: meter.removed_on
            for account_meters in meters.values()
            for meter in account_meters
            if meter.removed_on and period_floor <= meter.removed_on <= run_date
        },
        zone_of_meter,
        period_floor,
        run_date,
        tz,
    )

    last_bill = _last_live_bills(session, run_date)
    last_pf = _power_factor_adjustments(
        session, [row.id for aid, row in last_bill.items() if accounts[aid].kind != "residential"]
    )
    last_year_amount = _bills_starting_near(session, due_ids, _months_before(run_date, 13))
    changes: dict[int, list[tuple[str, date]]] = defaultdict(list)
    for row in session.execute(
        select(CHANGE.c.account_id, CHANGE.c.kind, CHANGE.c.effective_on).where(
            CHANGE.c.account_id.in_(select(due_ids.c.id)),
            CHANGE.c.effective_on > window_floor,
            CHANGE.c.effective_on <= run_date,
        )
    ):
        changes[row.account_id].append((row.kind, row.effective_on))
    ytd = _year_to_date_kwh(session, due_ids, run_date)

    periods: list[AccountPeriod] = []
    missed: list[tuple[str, str]] = []
    already = 0
    for account_id, account in accounts.items():
        account_meters = meters.get(account_id, [])
        if len(account_meters) == 1 and account_meters[0].removed_on is None:
            current_meter: MeterRow | None = account_meters[0]  # most accounts: one meter
        else:
            current_meter = next(
                (
                    m
                    for m in reversed(account_meters)
                    if m.removed_on is None or m.removed_on > run_date
                ),
                None,
            )
        if current_meter is None:
            missed.append((account.number, "no meter in service"))
            continue
        found = readings[current_meter.id]
        current = as_values(found[0]) if 0 in found else None
        if current is None:
            missed.append(
                (
                    account.number,
                    f"no reading of meter {current_meter.serial} "
                    f"in the {READING_WINDOW_DAYS + 1} days to "
                    f"{run_date.isoformat()}",
                )
            )
            continue
        previous_bill = last_bill.get(account_id)
        if previous_bill is not None and previous_bill.curr_reading_id == current.id:
            already += 1
            continue
        replacement = None
        previous = as_values(found[1]) if 1 in found else None
        first_bill = False
        old_meter = None
        if previous is None and current_meter.installed_on > window_floor:
            # No reading of this meter a month ago: it replaced one inside the period (换表),
            # or the account is a new connection.
            old_meter = max(
                (
                    m
                    for m in account_meters
                    if m.id != current_meter.id and m.removed_on and m.removed_on >= period_floor
                ),
                key=lambda m: m.removed_on or date.min,
                default=None,
            )
        if old_meter is not None:
            old_found = readings[old_meter.id]
            previous = as_values(old_found[1]) if 1 in old_found else None
            if previous is None:
                why = f"no reading of replaced meter {old_meter.serial} to bill from"
                missed.append((account.number, why))
                continue
            final = finals.get(old_meter.id)
            removed_on = old_meter.removed_on or previous.local_date
            if final is None or (
                final.local_date <= previous.local_date < removed_on  # nothing read since
            ):
                missed.append(
                    (
                        account.number,
                        f"no final reading of replaced meter {old_meter.serial} "
                        f"on or before {old_meter.removed_on}",
                    )
                )
                continue
            replacement = Replacement(
                old_final=final.total,
                new_initial=current_meter.initial_total,
                old_final_peak=final.peak,
                old_final_flat=final.flat,
                old_final_valley=final.valley,
                new_initial_peak=current_meter.initial_peak,
                new_initial_flat=current_meter.initial_flat,
                new_initial_valley=current_meter.initial_valley,
            )
        if previous is None and current_meter.installed_on >= window_floor:
            previous = ReadingValues(
                id=None,
                local_date=current_meter.installed_on,
                total=current_meter.initial_total,
                peak=current_meter.initial_peak,
                flat=current_meter.initial_flat,
                valley=current_meter.initial_valley,
            )
            first_bill = True
        if previous is None:
            missed.append((account.number, "no previous reading to bill from"))
            continue
        if previous_bill is not None and previous_bill.period_start >= previous.local_date:
            already += 1
            continue
        tariffs = _tariffs_in_period(
            assignments.get(account_id, []), previous.local_date, current.local_date
        )
        if tariffs is None:
            missed.append((account.number, "no tariff assigned"))
            continue
        account_changes = changes.get(account_id)
        kinds: tuple[str, ...] = ()
        if account_changes:
            kinds = tuple(
                sorted({kind for kind, on in account_changes if on > previous.local_date})
            )
        if assignments[account_id][-1][0] > previous.local_date:
            kinds = tuple(sorted({*kinds, "tariff_change"}))
        if account.opened_on > previous.local_date:
            first_bill = True
        periods.append(
            AccountPeriod(
                account_id=account_id,
                account_number=account.number,
                customer_kind=account.kind,
                household_size=account.household_size,
                active=account.status == AccountStatus.active,
                payment_terms_days=account.payment_terms_days,
                tariff_code=tariffs[0],
                meter=MeterPeriod(
                    meter_id=current_meter.id,
                    multiplier=current_meter.multiplier,
                    digits=current_meter.digits,
                    tou=current_meter.tou,
                    previous=previous,
                    current=current,
                    parent_meter_id=current_meter.parent_meter_id,
                    replacement=replacement,
                ),
                # the comparison periods' kWh, from this meter's plain totals
                previous_kwh=_advance(found.get(2), found.get(1), current_meter, total_kwh),
                previous_amount=previous_bill.total if previous_bill is not None else None,
                previous_pf_adjustment=(
                    last_pf.get(previous_bill.id) if previous_bill is not None else None
                ),
                last_year_kwh=_advance(found.get(13), found.get(12), current_meter, total_kwh),
                last_year_amount=last_year_amount.get(account_id),
                ytd_kwh=ytd.get(account_id, ZERO),
                is_first_bill=first_bill,
                business_changes=kinds,
                meter_replaced_or_faulty=bool(kinds)
                and any(k in ("meter_replacement", "meter_fault") for k in kinds),
                tariff_changes=tariffs[1],
            )
        )
    return periods, missed, already


class _LocalDays:
    """Local dates of raw instants (as the driver returns the reading's `read_at`) in one time
    zone, for the given days only: a binary search over the first instant of each of these
    days, and of each day after one that is not among them, in the same raw form, instead of
    a datetime and a zone conversion per row. Only the days asked for are converted (the
    reading windows' few days, not the year between them)."""

    def __init__(
        self, days: Iterable[date], zone: ZoneInfo, to_raw: Callable[[Any], Any] | None
    ) -> None:
        wanted = set(days)
        self.days: list[date | None] = []
        starts: list[datetime] = []
        for day in sorted(wanted):
            self.days.append(day)
            starts.append(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
            after = day + timedelta(days=1)
            if after not in wanted:  # a gap: instants from here to the next day are None
                self.days.append(None)
                starts.append(
                    datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
                )
        self.starts = [to_raw(start) for start in starts] if to_raw else starts

    def local_date(self, raw_instant: Any) -> date | None:
        """The local date of the instant; None unless it is one of the days."""
        index = bisect_right(self.starts, raw_instant) - 1
        return self.days[index] if index >= 0 else None


def _values_reader(dialect: str) -> Callable[[tuple[tuple[Any, ...], date]], ReadingValues]:
    """(raw reading row, its local date) → ReadingValues, every register converted."""
    kwh = decimal_reader(READING.c.total, dialect)
    total_kwh = required_decimal_reader(READING.c.total, dialect)

    def values(found: tuple[tuple[Any, ...], date]) -> ReadingValues:
        (reading_id, _meter, _at, total, peak, flat, valley, reactive, estimated), local = found
        if peak is None and flat is None and valley is None:  # a plain meter
            return ReadingValues(
                reading_id, local, total_kwh(total), None, None, None, kwh(reactive),
                bool(estimated),
            )  # fmt: skip
        return ReadingValues(
            reading_id, local, total_kwh(total), kwh(peak), kwh(flat), kwh(valley),
            kwh(reactive), bool(estimated),
        )  # fmt: skip

    return values


def _tariffs_in_period(
    assignments: Sequence[tuple[date, str]], start: date, current: date
) -> tuple[str, tuple[tuple[date, str], ...]] | None:
    """The tariff in force on the period's first day, and (effective date, tariff) of each one
    that takes effect inside it (the period ends the day before the current reading). An
    account whose first tariff starts later is priced at that one from the start; None when
    it has no tariff at all."""
    if not assignments:
        return None
    at_start: str | None = None
    inside: list[tuple[date, str]] = []
    for on, code in assignments:
        if on <= start:
            at_start = code
        elif on < current:
            inside.append((on, code))
    if at_start is None:
        if not inside:
            return assignments[-1][1], ()
        at_start = inside.pop(0)[1]
    return at_start, tuple(inside)


def _final_readings(
    session: Session,
    removed_on: dict[int, date],
    zone_of_meter: dict[int, ZoneInfo],
    first: date,
    last: date,
    tz: ZoneInfo,
) -> dict[int, ReadingValues]:
    """The last reading of each of these meters on or before the (local) day it was removed
    (`removed_on`: meter id → day), among its readings from `first` to `last`: one query for
    all of them (few: a meter replaced in the period is rare)."""
    dialect = session.get_bind().dialect.name
    instant, as_values = instant_reader(dialect), _values_reader(dialect)
    start, end = _local_range_utc(first - timedelta(days=1), last + timedelta(days=1), tz)
    finals: dict[int, ReadingValues] = {}
    for part in _id_parts(sorted(removed_on)):
        rows = fetch_raw(
            session.connection(),
            select(*READING_COLUMNS)
            .where(
                READING.c.meter_id.in_(part),
                READING.c.read_at >= start,
                READING.c.read_at < end,
            )
            .order_by(READING.c.read_at),
        )
        for reading in rows:
            meter_id = reading[1]
            local = instant(reading[2]).astimezone(zone_of_meter[meter_id]).date()
            if local <= removed_on[meter_id]:  # in time order: the last one wins
                finals[meter_id] = as_values((reading, local))
    return finals


def _advance(
    earlier: tuple[tuple[Any, ...], date] | None,
    later: tuple[tuple[Any, ...], date] | None,
    meter: MeterRow,
    as_kwh: Callable[[Any], Decimal],
) -> Decimal | None:
    """kWh between two plain readings' totals, from their raw rows; a register that rolled
    over counts its wrapped advance (`register_delta`, a tenth of the register's range at
    most); None when either is missing or the register went backwards otherwise (a
    comparison is then simply not made)."""
    if earlier is None or later is None:
        return None
    before, after = earlier[0][3], later[0][3]
    if after >= before:  # nearly every meter: the difference as stored, converted once
        return as_kwh(after - before) * meter.multiplier
    delta = register_delta(as_kwh(before), as_kwh(after), digits=meter.digits)
    return None if delta.reverse is ReverseKind.error else delta.advance * meter.multiplier


def _id_parts(ids: Sequence[int], size: int = 20000) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _latest_live_bills() -> Select[Any]:
    """Each due account's latest live bill starting on or before :run_date: one pass over
    the accounts' bills (a window function), whatever the planner believes about the table's
    size (a self-join to the latest date per account became quadratic on PostgreSQL when
    the statistics still said the table was empty). Built once: only the date changes."""
    ranked = (
        select(
            BILL.c.id, BILL.c.account_id, BILL.c.period_start, BILL.c.total,
            BILL.c.curr_reading_id,
            func.row_number()
            .over(partition_by=BILL.c.account_id, order_by=BILL.c.period_start.desc())
            .label("newest"),
        )
        .where(
            BILL.c.account_id.in_(select(_DUE.c.id)),
            BILL.c.status != "cancelled",
            BILL.c.period_start <= bindparam("run_date", type_=Date),
        )
        .subquery()
    )  # fmt: skip
    return select(
        ranked.c.id, ranked.c.account_id, ranked.c.period_start, ranked.c.total,
        ranked.c.curr_reading_id,
    ).where(ranked.c.newest == 1)  # fmt: skip


_LATEST_LIVE_BILLS = _latest_live_bills()


def _last_live_bills(session: Session, run_date: date) -> dict[int, Any]:
    """Each due account's (in `_DUE`) latest live bill starting on or before the date."""
    rows = session.execute(_LATEST_LIVE_BILLS, {"run_date": run_date})
    return {row.account_id: row for row in rows}


def _power_factor_adjustments(session: Session, bill_ids: list[int]) -> dict[int, Decimal]:
    """The power-factor adjustment (力率调整电费) on each of these bills that has one."""
    found: dict[int, Decimal] = {}
    for part in _id_parts(bill_ids):
        for bill_id, amount in session.execute(
            select(LINE.c.bill_id, func.sum(LINE.c.amount))
            .where(
                LINE.c.bill_id.in_(part),
                LINE.c.component.like(f"{POWER_FACTOR_ADJUSTMENT}%"),
            )
            .group_by(LINE.c.bill_id)
        ):
            found[bill_id] = amount
    return found


def _bills_starting_near(session: Session, due_ids: Any, day: date) -> dict[int, Decimal]:
    rows = session.execute(
        select(BILL.c.account_id, BILL.c.total).where(
            BILL.c.account_id.in_(select(due_ids.c.id)),
            BILL.c.status != "cancelled",
            BILL.c.period_start >= day - timedelta(days=READING_WINDOW_DAYS),
            BILL.c.period_start <= day,
        )
    )
    return {row.account_id: row.total for row in rows}


def _year_to_date_kwh(session: Session, due_ids: Any, run_date: date) -> dict[int, Decimal]:
    """kWh of the live bills of the calendar year the period starts in, for annual blocks
    (年阶梯)."""
    rows = session.execute(
        select(BILL.c.account_id, func.sum(BILL.c.kwh).label("kwh"))
        .where(
            BILL.c.account_id.in_(select(due_ids.c.id)),
            BILL.c.status != "cancelled",
            # the tariff year of the period being billed, which starts a month before
            BILL.c.period_start >= date(_months_before(run_date, 1).year, 1, 1),
        )
        .group_by(BILL.c.account_id)
    )
    return {row.account_id: row.kwh or ZERO for row in rows}
