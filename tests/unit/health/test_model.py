"""The channel health rules (billing_core/health/model.py) and the dashboard's pure shaping
(billing_core/dashboard/model.py): the threshold, raise once, clear when back under."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.dashboard.model import (
    ageing_labels,
    day_starts,
    local_days,
    month_starts,
    percentile,
)
from billing_core.health.model import (
    Change,
    DeliveryCounts,
    ProbeResult,
    ProbeStatus,
    Tally,
    WatchRule,
    delivery_change,
    over_threshold,
    probe_change,
)

RULE = WatchRule(max_failure_rate=Decimal("0.05"), min_attempts=20)


def test_the_threshold_is_more_than_five_percent_of_at_least_the_minimum() -> None:
    assert not over_threshold(DeliveryCounts(100, 5), RULE)  # 5 %: not over
    assert over_threshold(DeliveryCounts(100, 6), RULE)
    assert over_threshold(DeliveryCounts(20, 2), RULE)  # 10 % of the minimum sample
    assert not over_threshold(DeliveryCounts(19, 19), RULE)  # too few to judge
    assert not over_threshold(DeliveryCounts(0, 0), RULE)


counts = st.builds(
    lambda attempts, share: DeliveryCounts(attempts, min(attempts, share)),
    st.integers(0, 5000),
    st.integers(0, 5000),
)
rules = st.builds(
    WatchRule,
    max_failure_rate=st.decimals(Decimal("0.001"), Decimal("0.999"), places=3),
    min_attempts=st.integers(1, 500),
)


@given(counts, rules)
def test_over_threshold_is_exactly_the_rule(seen: DeliveryCounts, rule: WatchRule) -> None:
    expected = (
        seen.attempts >= rule.min_attempts
        and Decimal(seen.failures) / Decimal(seen.attempts) > rule.max_failure_rate
    )
    assert over_threshold(seen, rule) == expected


@given(st.lists(counts, min_size=1, max_size=40), rules)
def test_an_alert_is_raised_once_and_cleared_once_in_turn(
    windows: list[DeliveryCounts], rule: WatchRule
) -> None:
    """Over any run of windows, raises and clears alternate (raise first), an active alert is
    never raised again, and the state after each window agrees with the rule where it can."""
    active = False
    changes = []
    for seen in windows:
        change = delivery_change(active, seen, rule)
        if change == Change.raise_:
            assert not active
            assert over_threshold(seen, rule)
            active = True
        elif change == Change.clear:
            assert active
            assert not over_threshold(seen, rule)
            active = False
        else:
            # Nothing changes: either the state already matches, or the sample is too small.
            assert active == over_threshold(seen, rule) or (
                active and seen.attempts < rule.min_attempts and seen.failures > 0
            )
        changes.append(change)
    made = [c for c in changes if c != Change.none]
    assert made == [Change.raise_, Change.clear] * (len(made) // 2) + [Change.raise_] * (
        len(made) % 2
    )


def test_a_quiet_window_clears_an_alert_only_without_failures() -> None:
    assert delivery_change(True, DeliveryCounts(0, 0), RULE) == Change.clear
    assert delivery_change(True, DeliveryCounts(5, 1), RULE) == Change.none  # too few to say
    assert delivery_change(True, DeliveryCounts(40, 1), RULE) == Change.clear  # 2.5 %
    assert delivery_change(True, DeliveryCounts(40, 3), RULE) == Change.none  # still over


@pytest.mark.parametrize(
    ("active", "status", "expected"),
    [
        (False, ProbeStatus.failing, Change.raise_),
        (True, ProbeStatus.failing, Change.none),
        (True, ProbeStatus.ok, Change.clear),
        (True, ProbeStatus.offline, Change.clear),
        (False, ProbeStatus.ok, Change.none),
    ],
)
def test_a_probe_raises_while_failing_and_clears_when_it_answers(
    active: bool, status: ProbeStatus, expected: Change
) -> None:
    assert probe_change(active, ProbeResult("sms", "twilio", status, 12.0)) == expected


def test_a_tally_counts_attempts_and_failures_per_channel() -> None:
    tally = Tally(started_at=datetime(2026, 1, 1, tzinfo=UTC))
    for failed in (False, True, False):
        tally.count("sms", failed)
    tally.count("telegram", True)
    assert tally.as_mapping() == {"sms": (3, 1), "telegram": (1, 1)}


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_a_percentile_is_a_value_with_enough_below_it(values: list[float]) -> None:
    for p in (50, 90, 100):
        found = percentile(values, p)
        assert found in values
        below = sum(1 for v in values if v <= found)
        assert below >= p / 100 * len(values)
    assert percentile(values, 100) == max(values)


def test_days_months_and_ageing_labels() -> None:
    days = local_days(date(2026, 3, 9), 3)
    assert days == [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)]
    starts = day_starts(days, ZoneInfo("Asia/Shanghai"))
    assert [s.hour for s in starts] == [16, 16, 16, 16]  # local midnight is 16:00 UTC
    assert len(starts) == 4
    assert month_starts(date(2026, 2, 15), 3) == [
        date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1),
    ]  # fmt: skip
    assert month_starts(date(2026, 12, 1), 1) == [date(2026, 12, 1), date(2027, 1, 1)]
    assert ageing_labels((30, 60, 90)) == ["0–30", "31–60", "61–90", "90+"]
    assert percentile([], 50) is None
