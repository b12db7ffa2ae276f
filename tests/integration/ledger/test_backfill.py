"""Charges for issued bills that have none: posted once, dated the day the bill was issued."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.bills.backfill import post_missing_charges
from billing_core.clock import FixedClock
from billing_core.dedupe_keys import charge_key
from billing_core.ledger.tables import LedgerEntry
from billing_core.settings import Settings
from tests.factories import make_account, make_bill, make_charge, make_customer

AT = datetime(2026, 11, 10, 20, 0, tzinfo=UTC)  # 04:00 on the 11th in Asia/Shanghai


def test_missing_charges_are_posted_once_on_the_issue_day(
    session: Session, clock: FixedClock, settings: Settings
) -> None:
    customer = make_customer(session, at=AT)
    account = make_account(session, customer=customer)
    uncharged = make_bill(
        session,
        account=account,
        period_start=date(2026, 9, 10),
        total=Decimal("88.80"),
        due_date=date(2026, 11, 25),
        at=AT,
    )
    charged = make_bill(
        session,
        account=account,
        period_start=date(2026, 8, 10),
        total=Decimal("10.00"),
        due_date=date(2026, 9, 25),
        at=AT,
    )
    make_charge(session, bill=charged, on=date(2026, 9, 11), at=AT)
    cancelled = make_bill(
        session,
        account=account,
        period_start=date(2026, 10, 10),
        total=Decimal("5.00"),
        due_date=None,
        at=AT,
        status="cancelled",
    )
    in_review = make_bill(session, account=account, period_start=date(2026, 7, 10),
                          total=Decimal("7.00"), due_date=None, at=AT, status="in_review",
                          issued_at=None)  # fmt: skip

    assert post_missing_charges(session=session, clock=clock, tz=settings.tz) == 1
    assert post_missing_charges(session=session, clock=clock, tz=settings.tz) == 0

    entries = session.scalars(
        select(LedgerEntry).where(col(LedgerEntry.account_id) == account.id)
    ).all()
    by_key = {entry.dedupe_key: entry for entry in entries}
    assert set(by_key) == {charge_key(uncharged.id or 0), charge_key(charged.id or 0)}
    posted = by_key[charge_key(uncharged.id or 0)]
    assert (posted.kind, posted.amount, posted.bill_id) == (
        "charge",
        Decimal("88.80"),
        uncharged.id,
    )
    assert posted.effective_on == date(2026, 11, 11)  # the local issue day
    assert charge_key(cancelled.id or 0) not in by_key
    assert charge_key(in_review.id or 0) not in by_key
