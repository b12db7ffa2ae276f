"""The sign-in back-off rule (billing_core/staff/throttle.py): free failures, then a wait
that doubles with each failure up to a cap; failures forgotten after a quiet spell; a burst
in flight cannot run past the allowance; one lock-out per run of failures; a bounded table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from billing_core.staff.throttle import (
    BUSY_RETRY,
    USER_BACKOFF,
    Attempts,
    BackOff,
    Throttle,
    admitted,
    failed,
    locks_out,
    succeeded,
    wait,
)

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
RULE = BackOff(
    free_failures=3,
    first_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=60),
    forget_after=timedelta(hours=1),
)
S = timedelta(seconds=1)


def test_the_wait_doubles_after_the_free_failures_up_to_the_cap() -> None:
    assert [RULE.delay(n) for n in range(3)] == [None, None, None]
    assert [RULE.delay(n) for n in range(3, 11)] == [
        S,
        2 * S,
        4 * S,
        8 * S,
        16 * S,
        32 * S,
        60 * S,
        60 * S,
    ]
    assert RULE.delay(10**9) == 60 * S  # no overflow, however many


def test_the_shipped_rules_are_a_few_free_failures_then_seconds_then_at_most_15_minutes() -> None:
    assert USER_BACKOFF.free_failures == 5 and USER_BACKOFF.delay(5) == S
    assert USER_BACKOFF.delay(100) == timedelta(minutes=15)


def fail_at(attempts: Attempts, now: datetime) -> Attempts:
    return failed(admitted(attempts, now, RULE), now, RULE)


def test_an_attempt_waits_once_the_free_failures_are_spent_then_is_let_in() -> None:
    attempts = Attempts()
    for _ in range(2):
        attempts = fail_at(attempts, T0)
        assert wait(attempts, T0, RULE) is None
    attempts = fail_at(attempts, T0)  # the third: the first wait
    assert wait(attempts, T0, RULE) == S
    assert wait(attempts, T0 + S / 2, RULE) == S / 2
    assert wait(attempts, T0 + S, RULE) is None
    attempts = fail_at(attempts, T0 + S)  # the fourth: twice as long
    assert wait(attempts, T0 + S, RULE) == 2 * S


def test_failures_are_forgotten_after_a_quiet_spell_but_never_during_a_wait() -> None:
    attempts = Attempts()
    for _ in range(2):
        attempts = fail_at(attempts, T0)
    later = T0 + RULE.forget_after
    attempts = fail_at(attempts, later)  # counted from zero again: one failure
    assert attempts.failures == 1 and wait(attempts, later, RULE) is None

    long_rule = BackOff(1, timedelta(hours=2), timedelta(hours=2), timedelta(hours=1))
    locked = failed(admitted(Attempts(), T0, long_rule), T0, long_rule)
    assert wait(locked, T0 + timedelta(hours=1, minutes=30), long_rule) == timedelta(minutes=30)


def test_a_signed_in_user_is_forgiven_an_address_is_not() -> None:
    attempts = fail_at(fail_at(Attempts(), T0), T0)
    in_flight = admitted(attempts, T0, RULE)
    assert succeeded(in_flight, forgive=True) == Attempts()
    assert succeeded(in_flight, forgive=False) == attempts


def test_once_a_key_has_failed_attempts_in_flight_count_as_failures_to_come() -> None:
    # Never failed: any number at once (a script's parallel requests).
    fresh = Attempts()
    for _ in range(10):
        assert wait(fresh, T0, RULE) is None
        fresh = admitted(fresh, T0, RULE)
    # One failure: two more may be checked at once (up to the free three), not a third.
    attempts = admitted(fail_at(Attempts(), T0), T0, RULE)
    assert wait(attempts, T0, RULE) is None
    attempts = admitted(attempts, T0, RULE)
    assert wait(attempts, T0, RULE) == BUSY_RETRY
    # Past its wait, a key in back-off has one attempt checked at a time.
    backing_off = fail_at(fail_at(fail_at(Attempts(), T0), T0), T0)
    probing = admitted(backing_off, T0 + S, RULE)
    assert wait(probing, T0 + S, RULE) == BUSY_RETRY


def test_only_the_failure_that_reaches_the_allowance_is_a_lock_out() -> None:
    attempts, lockouts = Attempts(), 0
    now = T0
    for _ in range(12):
        now += wait(attempts, now, RULE) or timedelta(0)
        before = admitted(attempts, now, RULE)
        attempts = failed(before, now, RULE)
        lockouts += locks_out(before, attempts, RULE)
    assert lockouts == 1


@given(st.lists(st.integers(min_value=0, max_value=4000), min_size=1, max_size=60))
def test_no_run_of_failures_gets_more_than_its_allowance_without_waiting(
    gaps: list[int],
) -> None:
    """Whatever the timing of the attempts, an attempt is checked only when `wait` lets it,
    and after the free failures each failure is followed by its full wait."""
    attempts, now = Attempts(), T0
    for gap in gaps:
        now += timedelta(seconds=gap)
        pending = wait(attempts, now, RULE)
        if pending is not None:
            assert attempts.locked_until is not None and now < attempts.locked_until
            continue
        attempts = fail_at(attempts, now)
        delay = RULE.delay(attempts.failures)
        if delay is not None:
            assert wait(attempts, now, RULE) == delay


def test_the_table_refuses_by_key_and_keeps_at_most_its_capacity() -> None:
    table = Throttle(RULE, capacity=3)
    for _ in range(3):
        table.admit("alice", T0)
        locked = table.fail("alice", T0)
    assert locked and table.wait("alice", T0) == S
    assert table.wait("bob", T0) is None
    for name in ("b", "c", "d"):  # three newer keys push the oldest out
        table.admit(name, T0)
        table.fail(name, T0)
    assert len(table) == 3 and table.wait("alice", T0) is None


def test_the_table_forgets_a_key_with_nothing_left_to_remember() -> None:
    table = Throttle(RULE)
    table.admit("alice", T0)
    table.succeed("alice", forgive=True)
    table.admit("bob", T0)
    table.withdraw("bob")
    assert len(table) == 0
