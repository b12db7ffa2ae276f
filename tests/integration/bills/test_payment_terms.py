"""Payment terms by customer kind are policy (policies/payment_terms.yaml), on SQLite and
PostgreSQL: the bill run and a reviewer's approval give an account that has the default terms
its kind's terms from the policy; an account with terms of its own keeps them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine, select, update

from billing_core.bills.review_service import approve_bill
from billing_core.bills.run import run_bills
from billing_core.bills.tables import Bill
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Customer
from billing_core.db import session_scope
from billing_core.db.columns import table_of
from tests.factories import make_staff
from tests.integration.bills.helpers import TARIFFS, THRESHOLDS, TZ, busiest_reading_date, seed

BILL, ACCOUNT, CUSTOMER = table_of(Bill), table_of(Account), table_of(Customer)
POLICY = PaymentTermsPolicy.model_validate(
    {"version": 1, "effective_from": "2025-01-01",
     "days_by_customer_kind": {"residential": 20, "non_residential": 30}}
)  # fmt: skip


def bills_with_terms(engine: Engine, status: str) -> list[tuple[int, date | None, str, str]]:
    """(bill id, due date, customer kind, account number) of the bills in a status."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(BILL.c.id, BILL.c.due_date, CUSTOMER.c.kind, ACCOUNT.c.number)
            .join(ACCOUNT, ACCOUNT.c.id == BILL.c.account_id)
            .join(CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id)
            .where(BILL.c.status == status)
            .order_by(BILL.c.id)
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_the_run_and_an_approval_give_each_kind_its_policy_terms(fresh_engine: Engine) -> None:
    seed(fresh_engine, customers=80)
    day = busiest_reading_date(fresh_engine)
    clock = FixedClock(datetime.combine(day, time(18), tzinfo=TZ))
    with fresh_engine.begin() as connection:
        own = connection.execute(select(ACCOUNT.c.number).order_by(ACCOUNT.c.id)).scalars().all()
        connection.execute(
            update(ACCOUNT).where(ACCOUNT.c.number.in_(own[:5])).values(payment_terms_days=10)
        )
    summary = run_bills(engine=fresh_engine, clock=clock, run_date=day, tz=TZ, tariffs=TARIFFS,
                        thresholds=THRESHOLDS, payment_terms=POLICY)  # fmt: skip
    assert summary.issued > 10

    issued = bills_with_terms(fresh_engine, "issued")
    kinds = set()
    for _bill, due, kind, number in issued:
        expected = 10 if number in own[:5] else {"residential": 20, "non_residential": 30}[kind]
        assert due == day + timedelta(days=expected), (number, kind)
        kinds.add(kind)
    assert kinds == {"residential", "non_residential"}  # the seed has both

    # A held bill approved the next day: its kind's terms from the approval day.
    held = [b for b in bills_with_terms(fresh_engine, "in_review") if b[3] not in own[:5]]
    bill_id, _none, kind, _number = held[0]
    next_day = FixedClock(clock.now() + timedelta(days=1))
    with session_scope(fresh_engine) as session:
        reviewer = make_staff(session, role="reviewer", at=next_day.now())
        approved = approve_bill(session=session, clock=next_day, tz=TZ, bill_id=bill_id,
                                reviewer=reviewer, payment_terms=POLICY)  # fmt: skip
        assert approved.due_date == day + timedelta(days=1 + POLICY.terms_days(
            account_terms=None, customer_kind=kind))  # fmt: skip


def test_the_shipped_policy_keeps_fifteen_days_and_own_terms_win() -> None:
    assert DEFAULT_PAYMENT_TERMS.terms_days(account_terms=None, customer_kind="residential") == 15
    assert POLICY.terms_days(account_terms=None, customer_kind="non_residential") == 30
    assert POLICY.terms_days(account_terms=10, customer_kind="residential") == 10
    # 15 days agreed with the account are its own, even where the kind's policy says 30
    assert POLICY.terms_days(account_terms=15, customer_kind="non_residential") == 15
    assert POLICY.terms_days(account_terms=None, customer_kind="martian") == 15
