"""The bill run's plan: which accounts are due, and how they are shared into parts for
the worker processes (the accounts of a meter hierarchy together, parts by weight)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, Select, exists, select, union

from billing_core.customers.model import AccountStatus
from billing_core.customers.tables import Account
from billing_core.db.columns import table_of
from billing_core.db.fast import fetch_raw
from billing_core.readings.plans import PlanStatus
from billing_core.readings.tables import Meter, ReadingBook, ReadingDayChange, ReadingPlan

ACCOUNT = table_of(Account)
METER = table_of(Meter)
BOOK = table_of(ReadingBook)
DAY_CHANGE = table_of(ReadingDayChange)
READING_PLAN = table_of(ReadingPlan)

# A run in worker processes shares its accounts in parts, each loaded, drafted and stored on
# its own (see `plan_parts`); more parts when the largest would hold more accounts than
# this: a part's periods and drafts are held in its worker's memory until they are stored.
MAX_PART_ACCOUNTS = 50_000
# The first worker's one part is the largest, and so is its turn at SQLite's writer; with
# exactly equal shares it asked for that turn just before the other worker's last (small)
# part did, which then waited for it, and the first worker sat idle while that last part was
# stored. This much of the first part's weight moves to the second (the other worker's
# first), so the large turn is over before the small one is asked for, and no worker waits
# for the writer at the end of a run (figures: docs/performance.md).
FIRST_PART_SHIFT = 0.125


def _due_accounts(run_date: date, book: str | None) -> Select[tuple[int]]:
    due = select(ACCOUNT.c.id).where(
        ACCOUNT.c.reading_day == run_date.day,
        ACCOUNT.c.status == AccountStatus.active,
        ACCOUNT.c.opened_on <= run_date,
        ~in_transition(run_date),
    )
    if book is not None:
        due = due.join(BOOK, BOOK.c.id == ACCOUNT.c.reading_book_id).where(BOOK.c.code == book)
    return due


def in_transition(run_date: date) -> Any:
    """The account's reading day changed (an applied reading plan) and its first reading on
    the new day comes after `run_date`: it is not due that day (docs/readings.md)."""
    return exists().where(
        DAY_CHANGE.c.account_id == ACCOUNT.c.id,
        DAY_CHANGE.c.last_old_reading_on < run_date,
        DAY_CHANGE.c.first_new_reading_on > run_date,
        DAY_CHANGE.c.plan_id.in_(
            select(READING_PLAN.c.id).where(READING_PLAN.c.status == PlanStatus.applied)
        ),
    )


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
    parts are large (a part has a fixed set-up cost), the last small, and the workers'
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
