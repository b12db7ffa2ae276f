"""Storing the bill run's drafts: bills, lines, review items, "bill issued" events and
ledger charges, one chunk a transaction (a chunk another run stored is skipped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from billing_core.bills.charges import pending_bill_charges
from billing_core.bills.draft import BillDraft
from billing_core.bills.tables import Bill, BillLine, ReviewItem
from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.db.fast import PendingRows, insert_pending, pending_rows, reserve_ids
from billing_core.events.service import IssuedBill, pending_bill_issued_events

BILL = table_of(Bill)
LINE = table_of(BillLine)
REVIEW = table_of(ReviewItem)


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
