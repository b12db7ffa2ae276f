"""Bill runs on a seeded population, on SQLite and PostgreSQL: every due account is issued,
held in review or listed as missed; totals are the sum of their lines; reruns change nothing."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from billing_core.bills.run import run_bills
from billing_core.bills.tables import Bill, ReviewItem
from billing_core.db.columns import table_of
from billing_core.events.service import BILL_ISSUED
from billing_core.events.tables import DomainEvent
from billing_core.ledger.tables import LedgerEntry
from tests.integration.bills.helpers import (
    CLOCK,
    TARIFFS,
    THRESHOLDS,
    TZ,
    bills_snapshot,
    busiest_reading_date,
    seed,
)


def run(engine: Engine, day, **kwargs):  # type: ignore[no-untyped-def]
    return run_bills(
        engine=engine,
        clock=CLOCK,
        run_date=day,
        tz=TZ,
        tariffs=TARIFFS,
        thresholds=THRESHOLDS,
        **kwargs,
    )


def count(engine: Engine, model: type, *where: object) -> int:
    table = table_of(model)
    with engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(table).where(*where)
        ).scalar_one()


def test_every_due_account_is_billed_held_or_listed(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=300)
    day = busiest_reading_date(fresh_engine)
    summary = run(fresh_engine, day, chunk_size=64)

    assert summary.due > 50
    assert (
        summary.issued + summary.in_review + len(summary.missed) + len(summary.failed)
        == summary.due
    )
    assert summary.failed == []
    assert summary.issued > summary.in_review > 0
    snapshot, total = bills_snapshot(fresh_engine)
    assert len(snapshot) == summary.issued + summary.in_review
    assert total == summary.total_amount
    for _account, start, end, status, _kwh, bill_total, line_sum in snapshot:
        assert bill_total == line_sum  # a bill's total is the sum of its stored lines
        assert start < end
        assert status in {"issued", "in_review"}
    issued_events = count(fresh_engine, DomainEvent, table_of(DomainEvent).c.kind == BILL_ISSUED)
    assert issued_events == summary.issued
    # each issued bill's charge entered the ledger with it, and only those
    charges = count(fresh_engine, LedgerEntry, table_of(LedgerEntry).c.kind == "charge")
    assert charges == summary.issued
    held = count(fresh_engine, Bill, table_of(Bill).c.status == "in_review")
    assert held == summary.in_review
    assert count(fresh_engine, ReviewItem) >= held


def test_a_second_run_is_a_no_op(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=150)
    day = busiest_reading_date(fresh_engine)
    first = run(fresh_engine, day)
    before = bills_snapshot(fresh_engine)
    events = count(fresh_engine, DomainEvent)

    second = run(fresh_engine, day)

    assert second.issued == second.in_review == 0
    assert second.already_billed == first.issued + first.in_review
    assert bills_snapshot(fresh_engine) == before
    assert count(fresh_engine, DomainEvent) == events


def test_a_run_for_a_day_nobody_reads_bills_nothing(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=50)
    day = busiest_reading_date(fresh_engine)
    other = day.replace(day=29) if day.day != 29 else day.replace(day=30)
    summary = run(fresh_engine, other)
    assert summary.due == 0 and bills_snapshot(fresh_engine)[0] == []


def test_demo_customers_get_an_issued_bill(fresh_engine: Engine) -> None:
    from billing_core.seed.demo import DEMO_CUSTOMERS, DEMO_READING_DAY

    seed(fresh_engine, customers=20)
    summary = run(fresh_engine, busiest_reading_date(fresh_engine).replace(day=DEMO_READING_DAY))
    assert summary.issued >= len(DEMO_CUSTOMERS)
    bill = table_of(Bill)
    from billing_core.customers.tables import Account

    account = table_of(Account)
    with fresh_engine.connect() as connection:
        statuses = dict(
            connection.execute(
                select(account.c.number, bill.c.status)
                .join(bill, bill.c.account_id == account.c.id)
                .where(account.c.number.in_([d.account_number for d in DEMO_CUSTOMERS]))
            ).all()
        )
    assert statuses == {d.account_number: "issued" for d in DEMO_CUSTOMERS}
