"""Send windows: automated messages wait for the recipient's allowed hours, replies do not."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_core.outbox.windows import in_window, is_allowed_at, next_send_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
DAY = (time(8, 0), time(21, 0))
# Zones with daylight saving on either hemisphere, a 30-minute shift, and none at all.
ZONES = [
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kolkata",
    "Europe/Berlin",
]


def automated(now: datetime, window: tuple[time, time] = DAY, tz: ZoneInfo = SHANGHAI) -> datetime:
    return next_send_time(
        now, kind="automated", allowed_from=window[0], allowed_until=window[1], tz=tz
    )


def test_bill_notice_due_at_23_local_waits_until_08_next_morning() -> None:
    due = datetime(2026, 11, 26, 23, 0, tzinfo=SHANGHAI)
    assert automated(due) == datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)


def test_before_opening_waits_for_same_morning() -> None:
    due = datetime(2026, 11, 26, 6, 59, tzinfo=SHANGHAI)
    assert automated(due) == datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)


def test_inside_the_window_goes_now_and_the_closing_minute_is_outside() -> None:
    inside = datetime(2026, 11, 26, 20, 59, 59, tzinfo=SHANGHAI)
    assert automated(inside) == inside
    closing = datetime(2026, 11, 26, 21, 0, tzinfo=SHANGHAI)
    assert automated(closing) == datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)


def test_a_reply_goes_at_once_even_at_night() -> None:
    night = datetime(2026, 11, 26, 23, 0, tzinfo=SHANGHAI)
    assert (
        next_send_time(night, kind="reply", allowed_from=DAY[0], allowed_until=DAY[1], tz=SHANGHAI)
        == night
    )


def test_window_crossing_midnight() -> None:
    night_shift = (time(22, 0), time(6, 0))
    late = datetime(2026, 11, 26, 23, 30, tzinfo=SHANGHAI)
    early = datetime(2026, 11, 27, 5, 0, tzinfo=SHANGHAI)
    noon = datetime(2026, 11, 27, 12, 0, tzinfo=SHANGHAI)
    assert automated(late, night_shift) == late
    assert automated(early, night_shift) == early
    assert automated(noon, night_shift) == datetime(2026, 11, 27, 22, 0, tzinfo=SHANGHAI)


def test_equal_bounds_mean_any_time() -> None:
    assert in_window(time(3, 0), allowed_from=time(8, 0), allowed_until=time(8, 0))


def test_opening_skipped_by_spring_forward_opens_when_the_clocks_jump() -> None:
    # 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT; 02:30 does not exist.
    window = (time(2, 30), time(21, 0))
    before = datetime(2026, 3, 8, 1, 0, tzinfo=NEW_YORK)
    assert automated(before, window, NEW_YORK) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_opening_repeated_by_fall_back_is_its_first_occurrence() -> None:
    # 2026-11-01 in New York: 01:30 happens twice (EDT, then EST).
    window = (time(1, 30), time(21, 0))
    before = datetime(2026, 11, 1, 0, 30, tzinfo=NEW_YORK)
    assert automated(before, window, NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        next_send_time(
            datetime(2026, 1, 1),
            kind="automated",
            allowed_from=DAY[0],
            allowed_until=DAY[1],
            tz=SHANGHAI,
        )


instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
wall_times = st.times().map(lambda t: t.replace(microsecond=0))


@settings(max_examples=300, deadline=None)
@given(now=instants, start=wall_times, end=wall_times, zone=st.sampled_from(ZONES))
def test_automated_never_in_quiet_hours_and_never_later_than_the_next_opening(
    now: datetime, start: time, end: time, zone: str
) -> None:
    tz = ZoneInfo(zone)
    at = automated(now, (start, end), tz)
    assert at >= now
    assert is_allowed_at(at, allowed_from=start, allowed_until=end, tz=tz)
    if at > now:
        # Nothing earlier was open: walk back from the answer, minute by minute, to now.
        assert not is_allowed_at(
            at - timedelta(microseconds=1), allowed_from=start, allowed_until=end, tz=tz
        )
        probe = now
        while probe < at:
            assert not is_allowed_at(probe, allowed_from=start, allowed_until=end, tz=tz)
            probe += timedelta(minutes=1)


@settings(max_examples=100, deadline=None)
@given(now=instants, start=wall_times, end=wall_times, zone=st.sampled_from(ZONES))
def test_a_reply_is_never_delayed(now: datetime, start: time, end: time, zone: str) -> None:
    assert (
        next_send_time(now, kind="reply", allowed_from=start, allowed_until=end, tz=ZoneInfo(zone))
        == now
    )
