"""The bill run's pure helpers: local dates of raw instants, and the collector's pause."""

from __future__ import annotations

import gc
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from billing_core.bills.run import cycle_collection_paused
from billing_core.bills.run.load import READING, _LocalDays
from billing_core.db.fast import bind_converter

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")  # has DST changes, unlike Shanghai
TO_RAW = bind_converter(READING.c.read_at, sqlite.dialect())
# two reading windows a month apart, as a bill run asks for them
WINDOWS = [date(2026, 10, 25) + timedelta(days=n) for n in range(4)] + [
    date(2026, 9, 25) + timedelta(days=n) for n in range(4)
]


@pytest.mark.parametrize("zone", [SHANGHAI, NEW_YORK])
@pytest.mark.parametrize("to_raw", [TO_RAW, None])
@given(
    instant=st.datetimes(
        min_value=datetime(2026, 9, 20), max_value=datetime(2026, 11, 3), timezones=st.just(UTC)
    )
)
def test_a_raw_instant_gets_its_local_date_on_the_days_asked_for_and_none_otherwise(
    zone: ZoneInfo, to_raw: object, instant: datetime
) -> None:
    days = _LocalDays(WINDOWS, zone, to_raw)  # type: ignore[arg-type]
    local = instant.astimezone(zone).date()
    raw = TO_RAW(instant) if to_raw else instant  # type: ignore[operator]
    assert days.local_date(raw) == (local if local in WINDOWS else None)


def test_the_collector_is_paused_in_the_block_and_back_on_after_it_even_on_an_error() -> None:
    assert gc.isenabled()
    with cycle_collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycle_collection_paused():
        raise RuntimeError("a failed part")
    assert gc.isenabled()


def test_the_collector_stays_off_after_the_block_when_it_was_off_before() -> None:
    gc.disable()
    try:
        with cycle_collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
