"""The dispatcher's per-sender rate limit: evenly spaced sends, each sender on its own, and
a sender that fell behind catches up by no more than its burst tolerance."""

from __future__ import annotations

from scheduler.dispatcher import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sends: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def sends(limiter: RateLimiter, clock: FakeTime, count: int, sender: str = "s") -> list[float]:
    times = []
    for _ in range(count):
        limiter.wait(sender)
        times.append(round(clock.now - 100.0, 6))
    return times


def limiter(rate: float | None, clock: FakeTime, burst: float = 0.25) -> RateLimiter:
    return RateLimiter(rate, burst=burst, monotonic=clock.monotonic, sleep=clock.sleep)


def test_sends_are_spaced_one_interval_apart_from_the_start() -> None:
    clock = FakeTime()
    assert sends(limiter(4.0, clock), clock, 5) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_senders_are_limited_separately() -> None:
    clock = FakeTime()
    paced = limiter(1.0, clock)
    paced.wait("+15005550006")
    paced.wait("MG123")
    assert clock.now == 100.0


def test_a_stall_is_caught_up_within_the_burst_tolerance_only() -> None:
    clock = FakeTime()
    paced = limiter(10.0, clock, burst=0.25)
    sends(paced, clock, 1)
    clock.now += 10  # idle (or stalled) for ten seconds
    after = sends(paced, clock, 6)
    # Up to a quarter second's worth (2.5 slots) goes at once, then the pace again.
    assert after[:3] == [10.0, 10.0, 10.0]
    assert after[3:] == [10.05, 10.15, 10.25]


def test_the_long_run_rate_is_the_rate_despite_short_stalls() -> None:
    clock = FakeTime()
    paced = limiter(100.0, clock)
    for i in range(1000):
        if i % 100 == 0:
            clock.now += 0.02  # a claim every hundred messages
        paced.wait("s")
    assert abs(clock.now - 100.0 - 10.0) < 0.05  # 1,000 sends at 100/s: ten seconds


def test_no_rate_means_no_waiting() -> None:
    clock = FakeTime()
    assert sends(limiter(None, clock), clock, 3) == [0.0, 0.0, 0.0]
