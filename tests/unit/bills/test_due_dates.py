"""Due dates (issue 19, item 1), as a property: for any reading day a run bills, any day it
issues the bills on and any payment terms, no bill is due before its issue day plus its terms,
and a run's bills are counted as catch-up exactly when they are issued after the reading day."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing_core.bills.model import due_date_for, is_catch_up
from billing_core.bills.run import draft_all
from billing_core.tariffs.model import Tariff
from tests.unit.bills.test_draft import THRESHOLDS, period_of, reading
from tests.unit.tariffs.factories import shipped

TARIFF = shipped("zhejiang-residential")


class OneTariff:
    def get(self, code: str) -> Tariff:
        return TARIFF


reading_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 28))
lags = st.integers(min_value=-2, max_value=400)  # issued a day early … more than a year late
terms = st.integers(min_value=0, max_value=90)  # account.payment_terms_days' range


@given(reading_day=reading_days, lag=lags, terms_days=st.lists(terms, min_size=1, max_size=4))
def test_no_bill_is_due_before_its_issue_day_plus_its_terms(
    reading_day: date, lag: int, terms_days: list[int]
) -> None:
    issued_on = reading_day + timedelta(days=lag)
    periods = [
        period_of(
            reading(reading_day - timedelta(days=31), "1000"),
            reading(reading_day, f"{1100 + 7 * n}"),
            tou=False,
            tariff_code="zhejiang-residential",
            account_id=n + 1,
            account_number=f"90000000{n:02d}",
            payment_terms_days=days,
        )
        for n, days in enumerate(terms_days)
    ]
    failed: list[tuple[str, str]] = []

    drafts = draft_all(
        periods, tariffs=OneTariff(), thresholds=THRESHOLDS, issued_on=issued_on, failed=failed
    )

    assert failed == [] and len(drafts) == len(periods)
    for draft, days in zip(drafts, terms_days, strict=True):
        assert draft.due_date >= issued_on + timedelta(days=days)
        assert draft.due_date == due_date_for(issued_on=issued_on, terms_days=days)
        # a catch-up bill is never born overdue: its due date is not before its issue day
        assert draft.due_date >= issued_on
    assert is_catch_up(run_date=reading_day, issued_on=issued_on) == (lag > 0)


def test_the_example_of_the_issue_a_july_reading_billed_on_6_december() -> None:
    due = due_date_for(issued_on=date(2026, 12, 6), terms_days=15)
    assert due == date(2026, 12, 21)  # not 07-25, the reading day plus the terms
