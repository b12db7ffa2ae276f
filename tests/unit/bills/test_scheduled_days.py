"""Which reading days the scheduled bill run bills (pure): today's once its time has come,
the days missed since, at most the catch-up limit back, never history it never ran."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from billing_core.bills.run.summary import days_to_run, last_due_day
from billing_core.outbox.windows import CONTACT_DEFAULT, SendWindow, effective_window

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 26)


def test_the_day_is_due_once_its_local_time_has_come() -> None:
    at = time(22, 0)
    before = datetime(2026, 11, 26, 13, 59, tzinfo=UTC)  # 21:59 in Shanghai
    assert last_due_day(before, at=at, tz=SHANGHAI) == DAY - timedelta(days=1)
    assert last_due_day(before + timedelta(minutes=1), at=at, tz=SHANGHAI) == DAY
    # 00:30 local on the 27th is still the 26th in UTC: the local day counts
    assert last_due_day(datetime(2026, 11, 26, 16, 30, tzinfo=UTC), at=at, tz=SHANGHAI) == (
        DAY  # the 27th's 22:00 has not come
    )


def test_the_first_run_bills_only_its_day() -> None:
    assert days_to_run(last_due=DAY, first_recorded=None, finished=set(), catch_up_days=7) == [DAY]


def test_missed_and_unfinished_days_are_caught_up_oldest_first() -> None:
    first = DAY - timedelta(days=4)
    finished = {first, DAY - timedelta(days=2)}
    days = days_to_run(last_due=DAY, first_recorded=first, finished=finished, catch_up_days=7)
    assert days == [DAY - timedelta(days=3), DAY - timedelta(days=1), DAY]


@given(
    gap=st.integers(min_value=0, max_value=60),
    limit=st.integers(min_value=0, max_value=31),
    done=st.sets(st.integers(min_value=0, max_value=60)),
)
def test_never_more_than_the_limit_back_nor_a_finished_day(
    gap: int, limit: int, done: set[int]
) -> None:
    first = DAY - timedelta(days=gap)
    finished = {DAY - timedelta(days=n) for n in done}
    days = days_to_run(last_due=DAY, first_recorded=first, finished=finished, catch_up_days=limit)
    assert days == sorted(set(days))
    assert all(max(first, DAY - timedelta(days=limit)) <= d <= DAY for d in days)
    assert not finished & set(days)
    assert (DAY in days) == (DAY not in finished)


def test_the_policy_window_applies_unless_the_customer_chose_hours() -> None:
    policy = SendWindow(time(9, 0), time(20, 0))
    assert effective_window(None, default=policy) == policy
    assert effective_window(CONTACT_DEFAULT, default=policy) == policy
    chosen = SendWindow(time(7, 0), time(22, 0))
    assert effective_window(chosen, default=policy) == chosen
