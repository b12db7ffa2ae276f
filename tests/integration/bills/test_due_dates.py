"""Due dates count from the day a bill is issued (issue 19, item 1), on SQLite and PostgreSQL.

A catch-up run bills October's readings on 26 November: each bill gets its full payment terms
from 26 November, the run reports its bills as catch-up, and late fees and due-date reminders
follow that due date, not one counted from the reading day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from api.cli import app
from billing_core.arrears.service import accrue_late_fees
from billing_core.bills.run import run_bills
from billing_core.bills.tables import Bill
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine, session_scope
from billing_core.db.columns import table_of
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.service import enqueue_due_reminders
from billing_core.payments.service import PaymentContext
from tests.integration.bills.helpers import (
    CLOCK,
    TARIFFS,
    THRESHOLDS,
    TZ,
    busiest_reading_date,
    seed,
)

ISSUED_ON = CLOCK.now().astimezone(TZ).date()  # 2026-11-26
CONTEXT = PaymentContext(
    tz=TZ, currency="CNY", public_base_url="https://d.example", secret_key="due-date-test"
)


def october_reading_day(engine: Engine) -> date:
    day = busiest_reading_date(engine)
    return day.replace(month=day.month - 1)


def issued_bills(engine: Engine) -> list[tuple[int, date, int]]:
    """(bill id, due date, the account's payment terms) of every issued bill."""
    bill, account = table_of(Bill), table_of(Account)
    with engine.connect() as connection:
        rows = connection.execute(
            select(bill.c.id, bill.c.due_date, account.c.payment_terms_days)
            .join(account, account.c.id == bill.c.account_id)
            .where(bill.c.status == "issued")
            .order_by(bill.c.id)
        ).all()
    return [(row[0], row[1], 15 if row[2] is None else row[2]) for row in rows]  # the policy's


def test_a_catch_up_run_gives_every_bill_its_full_terms_from_the_issue_date(
    fresh_engine: Engine,
) -> None:
    seed(fresh_engine, customers=150)
    reading_day = october_reading_day(fresh_engine)
    assert reading_day < ISSUED_ON - timedelta(days=20)  # old terms would have run out

    summary = run_bills(engine=fresh_engine, clock=CLOCK, run_date=reading_day, tz=TZ,
                        tariffs=TARIFFS, thresholds=THRESHOLDS, chunk_size=40)  # fmt: skip

    bills = issued_bills(fresh_engine)
    assert summary.issued == len(bills) > 10
    for _bill_id, due, terms in bills:
        assert due == ISSUED_ON + timedelta(days=terms)
        assert due > ISSUED_ON  # never issued already overdue
    assert summary.catch_up == summary.issued
    assert summary.issued_on == ISSUED_ON
    assert summary.as_json()["catch_up"] == summary.issued
    assert summary.as_json()["issued_on"] == ISSUED_ON.isoformat()


def test_a_run_on_its_reading_day_is_no_catch_up(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=60)
    day = busiest_reading_date(fresh_engine)
    on_the_day = FixedClock(datetime.combine(day, time(18), tzinfo=TZ))
    summary = run_bills(engine=fresh_engine, clock=on_the_day, run_date=day, tz=TZ,
                        tariffs=TARIFFS, thresholds=THRESHOLDS)  # fmt: skip
    assert summary.issued > 0 and summary.catch_up == 0
    for _bill_id, due, terms in issued_bills(fresh_engine):
        assert due == day + timedelta(days=terms)


def test_late_fees_and_reminders_follow_the_bills_own_due_date(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=150)
    reading_day = october_reading_day(fresh_engine)
    run_bills(engine=fresh_engine, clock=CLOCK, run_date=reading_day, tz=TZ, tariffs=TARIFFS,
              thresholds=THRESHOLDS)  # fmt: skip
    bills = issued_bills(fresh_engine)
    terms = {t for _, _, t in bills}
    assert len(terms) == 1  # the seed's terms: one due date for the run
    (days,) = terms
    counted_from_reading_day = reading_day + timedelta(days=days)
    due = ISSUED_ON + timedelta(days=days)

    with session_scope(fresh_engine) as session:
        # The day after the date counted from the reading day: nothing is overdue yet.
        early = accrue_late_fees(
            session=session,
            clock=CLOCK,
            tz=TZ,
            on=counted_from_reading_day + timedelta(days=1),
            policy=load_late_fee_policy(),
        )
        assert early.posted == 0 and early.accounts == 0
        not_yet = enqueue_due_reminders(
            session=session, clock=CLOCK, tz=TZ, payments_context=CONTEXT,
            on=counted_from_reading_day - timedelta(days=3),
        )  # fmt: skip
        assert not_yet.looked_at == 0
        # Three days before the bills' own due date, each gets its reminder.
        reminders = enqueue_due_reminders(
            session=session, clock=CLOCK, tz=TZ, payments_context=CONTEXT,
            on=due - timedelta(days=3),
        )  # fmt: skip
        assert reminders.looked_at == len(bills)


def test_bill_run_cli_says_how_many_bills_were_catch_up(
    cli_database: str, cli_env: CliRunner
) -> None:
    engine = create_db_engine(cli_database)
    seed(engine, customers=60)
    day = october_reading_day(engine).isoformat()
    engine.dispose()
    result = cli_env.invoke(app, ["bill-run", "--date", day, "--workers", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"bills for the readings of {day} were issued on" in text, text
    assert "their due dates count from the issue date" in text
