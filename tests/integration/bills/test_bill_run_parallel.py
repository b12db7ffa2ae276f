"""A bill run shared among forked worker processes stores exactly what an in-process run
stores (bills, lines, review items, ledger charges, events), on SQLite and PostgreSQL; the
accounts of a parent/child meter hierarchy stay together in one part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from billing_core.bills.run import can_fork, load_due_periods, plan_parts, run_bills
from billing_core.bills.run import plan as run_plan
from billing_core.bills.run import service as run_service
from billing_core.bills.tables import ReviewItem
from billing_core.db.columns import table_of
from billing_core.events.tables import DomainEvent
from billing_core.ledger.tables import LedgerEntry
from billing_core.readings.tables import Meter
from tests.integration.bills.helpers import (
    CLOCK,
    TARIFFS,
    THRESHOLDS,
    TZ,
    bills_snapshot,
    cycle_reading_dates,
    seeded_twins,
)

CUSTOMERS = 900


@pytest.fixture
def twins(db_kind: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two databases of the same kind seeded identically."""
    with seeded_twins(db_kind, tmp_path, CUSTOMERS) as pair:
        yield pair


def counts(engine: Engine) -> dict[str, object]:
    review, ledger, event = table_of(ReviewItem), table_of(LedgerEntry), table_of(DomainEvent)
    with engine.connect() as connection:
        return {
            "review": sorted(connection.execute(select(review.c.rule, func.count())
                                                .group_by(review.c.rule)).all()),
            "charges": connection.execute(select(func.count(), func.sum(ledger.c.amount))).one(),
            "events": connection.execute(select(func.count()).select_from(event)).scalar_one(),
        }  # fmt: skip


@pytest.mark.parametrize("part_accounts", [None, 7], ids=["three-parts", "many-parts"])
def test_a_run_in_two_workers_stores_what_an_in_process_run_stores(
    twins: tuple[Engine, Engine], part_accounts: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if part_accounts is not None:  # as a run of many accounts: parts of at most this many
        monkeypatch.setattr(run_plan, "MAX_PART_ACCOUNTS", part_accounts)
    parallel, serial = twins
    assert can_fork(parallel, 2)  # else the run below would quietly stay in-process
    for day in cycle_reading_dates(parallel)[:6]:
        seen: list[tuple[int, int]] = []
        shared = run_bills(engine=parallel, clock=CLOCK, run_date=day, tz=TZ, tariffs=TARIFFS,
                           thresholds=THRESHOLDS, workers=2, chunk_size=40,
                           progress=lambda *done_of, seen=seen: seen.append(done_of))  # fmt: skip
        # progress as the database sees it: at the end, every stored bill of the accounts due
        assert seen[-1] == (shared.issued + shared.in_review, shared.due)
        alone = run_bills(engine=serial, clock=CLOCK, run_date=day, tz=TZ, tariffs=TARIFFS,
                          thresholds=THRESHOLDS, workers=1, chunk_size=40)  # fmt: skip
        mine, theirs = shared.as_json(), alone.as_json()
        for noise in ("run_id", "seconds", "phase_seconds", "missed_accounts", "failed_accounts"):
            mine.pop(noise), theirs.pop(noise)
        assert mine == theirs
        assert set(shared.phase_seconds) == {"load", "draft", "store", "wait"}
        assert sorted(shared.missed) == sorted(alone.missed)
    assert bills_snapshot(parallel) == bills_snapshot(serial)
    assert counts(parallel) == counts(serial)
    assert bills_snapshot(parallel)[1] > 0
    # a second run of the same days finds everything billed
    again = run_bills(engine=parallel, clock=CLOCK, run_date=day, tz=TZ, tariffs=TARIFFS,
                      thresholds=THRESHOLDS, workers=2)  # fmt: skip
    assert again.issued + again.in_review == 0 and again.already_billed == shared.due - len(
        shared.missed
    ) - len(shared.failed)


def test_parts_share_the_accounts_and_keep_meter_hierarchies_in_the_first(
    twins: tuple[Engine, Engine],
) -> None:
    engine, _ = twins
    meter = table_of(Meter)
    with engine.connect() as connection:
        related = {
            row[0]
            for row in connection.execute(
                select(meter.c.account_id).where(
                    meter.c.parent_meter_id.is_not(None)
                    | meter.c.id.in_(select(meter.c.parent_meter_id))
                )
            )
        }
    assert related, "the seed plants parent/child meters"
    seen_related = large_days = 0
    for day in cycle_reading_dates(engine):
        planned = plan_parts(engine, day, None, workers=2)
        # no empty part; in decreasing sizes (bar the first, which holds every hierarchy
        # account due) when there are enough accounts for every part
        sizes = [len(part) for part in planned]
        assert all(sizes) and len(sizes) <= 3
        if sum(sizes) >= 40:
            assert len(sizes) == 3
            # weights 3, 2, 1 (an eighth of the first's moved to the second): the first
            # worker's one part is about as large as the other's two
            assert abs(sizes[0] - sizes[1] - sizes[2]) <= max(2, sum(sizes) // 20)
            assert sizes[1:] == sorted(sizes[1:], reverse=True) and sizes[-1] < sizes[1]
            large_days += 1
        with Session(engine) as session:
            whole, *_ = load_due_periods(session=session, run_date=day, tz=TZ, book=None)
            parts = [
                load_due_periods(session=session, run_date=day, tz=TZ, book=None, account_ids=part)[
                    0
                ]
                for part in planned
            ]
        ids = [sorted(period.account_id for period in part) for part in parts]
        every = sorted(account for part_ids in ids for account in part_ids)
        assert every == sorted(period.account_id for period in whole)
        assert not related & {account for part_ids in ids[1:] for account in part_ids}
        seen_related += len(related & set(ids[0]))
        assert {p.account_id: p for p in whole} == {p.account_id: p for part in parts for p in part}
    assert seen_related > 0 and large_days > 0


def test_a_bill_table_analyzed_while_empty_is_analyzed_again_once_bills_are_in(
    fresh_engine: Engine,
) -> None:
    """PostgreSQL plans the foreign-key checks of a run's rows against `bill` from its
    statistics: taken while it was empty, they make every check a sequential scan (one per
    bill, which the workers keep). The run analyzes the tables once its first bills are in."""
    from tests.integration.bills.helpers import busiest_reading_date, seed

    if fresh_engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans each statement afresh from its own statistics")
    seed(fresh_engine, customers=300)
    with fresh_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"VACUUM ANALYZE {', '.join(run_service.RUN_TABLES)}")
    assert run_service._planner_sees_no_bills(fresh_engine)
    day = busiest_reading_date(fresh_engine)
    summary = run_bills(engine=fresh_engine, clock=CLOCK, run_date=day, tz=TZ, tariffs=TARIFFS,
                        thresholds=THRESHOLDS, workers=2, chunk_size=40)  # fmt: skip
    assert summary.issued > 0
    assert not run_service._planner_sees_no_bills(fresh_engine)
    with fresh_engine.connect() as connection:
        estimate = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'bill'::regclass"
        ).scalar()
    assert estimate and estimate > 0
