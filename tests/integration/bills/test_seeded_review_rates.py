"""A seeded population makes the bill run exercise every review rule (电费复核) at a realistic
rate, on SQLite and PostgreSQL: two consecutive monthly cycles are billed (the second has
previous bills, which the power-factor rule needs), every rule but REFUND_OR_REBILL holds some
bills, a few per cent of bills wait for review, and the demo customers' bills are issued."""

from __future__ import annotations

from sqlalchemy import Engine, select

from billing_core.bills.model import ReviewRule
from billing_core.bills.run import BillRunSummary, run_bills
from billing_core.bills.tables import Bill, ReviewItem
from billing_core.customers.tables import Account
from billing_core.db.columns import table_of
from billing_core.seed.demo import DEMO_CUSTOMERS
from tests.integration.bills.helpers import (
    CLOCK,
    TARIFFS,
    THRESHOLDS,
    TZ,
    cycle_reading_dates,
    seed,
)

# Enough customers for a few reading books: the seed plants every reviewed event in each
# book's latest period (see seed.state._Quota), and the random ones (zero usage, estimated
# and reversed readings) are common enough at this size whatever the seed.
CUSTOMERS = 3000
# Only a reviewer's correction (退补) puts an adjustment line on a bill; a seed cannot.
NOT_SEEDED = {ReviewRule.REFUND_OR_REBILL}


def bill_cycle(engine: Engine, cycles_back: int) -> list[BillRunSummary]:
    return [
        run_bills(
            engine=engine,
            clock=CLOCK,
            run_date=day,
            tz=TZ,
            tariffs=TARIFFS,
            thresholds=THRESHOLDS,
        )
        for day in cycle_reading_dates(engine, cycles_back)
    ]


def in_review_share(summaries: list[BillRunSummary]) -> float:
    held = sum(s.in_review for s in summaries)
    return held / (held + sum(s.issued for s in summaries))


def test_a_seeded_population_exercises_every_review_rule_at_a_realistic_rate(
    fresh_engine: Engine,
) -> None:
    seed(fresh_engine, customers=CUSTOMERS)
    previous = bill_cycle(fresh_engine, 1)
    latest = bill_cycle(fresh_engine, 0)
    summaries = previous + latest

    assert [s.failed for s in summaries if s.failed] == []
    billed = sum(s.issued + s.in_review for s in latest)
    assert billed > 0.95 * CUSTOMERS
    review, bill = table_of(ReviewItem), table_of(Bill)
    with fresh_engine.connect() as connection:
        rules = set(connection.execute(select(review.c.rule).distinct()).scalars())
    assert rules == {str(rule) for rule in set(ReviewRule) - NOT_SEEDED}
    # The latest cycle alone holds every rule: each book's latest period has every event.
    assert set().union(*(s.review_by_rule for s in latest)) == rules
    assert 0.01 <= in_review_share(summaries) <= 0.08
    assert 0.01 <= in_review_share(latest) <= 0.08

    account = table_of(Account)
    with fresh_engine.connect() as connection:
        for demo in DEMO_CUSTOMERS:
            statuses = connection.execute(
                select(bill.c.status)
                .join(account, account.c.id == bill.c.account_id)
                .where(account.c.number == demo.account_number)
                .order_by(bill.c.period_start)
            ).scalars()
            assert list(statuses) == ["issued", "issued"], demo.name
