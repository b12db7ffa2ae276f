"""The pure rules of applying a reading plan: each account's transition (the last reading on
the old day, the first on the new one), the days of an ordinary period, the load a day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.readings.plans import nominal_days, summarise_days, transition_dates

EFFECTIVE = date(2027, 3, 1)


@pytest.mark.parametrize(
    ("old", "new", "last_old", "first_new", "days"),
    [
        (10, 25, date(2027, 2, 10), date(2027, 3, 25), 43),  # later day: one longer period
        (20, 5, date(2027, 2, 20), date(2027, 4, 5), 44),  # 13 days would be too short
        (12, 28, date(2027, 2, 12), date(2027, 3, 28), 44),
        (5, 6, date(2027, 2, 5), date(2027, 3, 6), 29),
        (28, 1, date(2027, 2, 28), date(2027, 4, 1), 32),  # 1 Mar is a day after: too short
        (3, 20, date(2027, 2, 3), date(2027, 3, 20), 45),
    ],
)
def test_transition_dates(old: int, new: int, last_old: date, first_new: date, days: int) -> None:
    assert transition_dates(old, new, EFFECTIVE, 15) == (last_old, first_new)
    assert (first_new - last_old).days == days


def test_an_effective_date_inside_a_month() -> None:
    # From 15 Feb: the last day-10 reading is 10 Feb, the first day-20 one 20 Feb is 10 days
    # later, too short, so 20 Mar (38 days).
    assert transition_dates(10, 20, date(2027, 2, 15), 15) == (date(2027, 2, 10), date(2027, 3, 20))


@given(
    old=st.integers(1, 28),
    new=st.integers(1, 28),
    effective=st.dates(date(2020, 1, 1), date(2040, 12, 31)),
    min_days=st.integers(1, 28),
)
def test_the_transition_is_one_period_of_a_sensible_length(
    old: int, new: int, effective: date, min_days: int
) -> None:
    last_old, first_new = transition_dates(old, new, effective, min_days)
    assert last_old.day == old and first_new.day == new
    assert last_old < effective <= first_new
    days = (first_new - last_old).days
    # never shorter than the policy's minimum, never two months or more
    assert min_days <= days < 62


def test_nominal_days_are_the_days_to_the_same_day_next_month() -> None:
    assert nominal_days(date(2027, 2, 10)) == 28
    assert nominal_days(date(2027, 3, 10)) == 31
    assert nominal_days(date(2028, 2, 10)) == 29
    assert nominal_days(date(2027, 1, 31)) == 28  # to 28 Feb


def test_summarise_days_counts_an_empty_working_day() -> None:
    load = summarise_days({date(2027, 3, 1): 30, date(2027, 3, 2): 0, date(2027, 3, 3): 30})
    assert (load.days, load.total, load.min_load, load.max_load, load.spread) == (3, 60, 0, 30, 30)
    assert load.imbalance == pytest.approx(0.5)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_the_notice_names_both_days_and_fits_two_sms_segments(language: str) -> None:
    from billing_core.messages.segments import count_segments
    from billing_core.notices.reading_days import reading_day_text

    text = reading_day_text(
        language, ["3300123456", "3300123457", "3300123458"], old=28, new=12,
        effective=date(2027, 12, 1), last_old=date(2027, 11, 28), first_new=date(2028, 1, 12),
    )  # fmt: skip
    assert count_segments(text).parts <= 2
    assert "3300123456+2" in text and "28" in text and "12" in text and "45" in text


def test_the_policy_refuses_unknown_keys(tmp_path: Path) -> None:
    from billing_core.policies import PolicyError
    from billing_core.readings.plans_policy import load_reading_plan_policy

    assert load_reading_plan_policy().notice_months == 2
    (tmp_path / "reading_plans.yaml").write_text(
        "version: 1\neffective_from: 2026-12-01\ntolerence: 0.2\n", encoding="utf-8"
    )
    with pytest.raises(PolicyError, match="tolerence"):
        load_reading_plan_policy(tmp_path)
