"""The retry policy for outbound messages: which failures are tried again (a transient
outcome or receipt, while attempts remain) and how long a retry waits (backoff with jitter)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures; after `max_attempts`
    sends the message fails for good (about three hours with these defaults). A permanent
    failure or an opt-out is never retried."""

    base: timedelta = timedelta(seconds=30)
    factor: float = 2.0
    cap: timedelta = timedelta(hours=1)
    jitter: float = 0.2  # ± this share of the delay, so retries of a burst spread out
    max_attempts: int = 8

    def delay(self, attempts: int, rand: float) -> timedelta:
        """The wait after the `attempts`-th failed send; `rand` in [0, 1)."""
        raw = min(
            self.cap.total_seconds(),
            self.base.total_seconds() * self.factor ** max(attempts - 1, 0),
        )
        return timedelta(seconds=raw * (1 + self.jitter * (2 * rand - 1)))

    def gives_up(self, attempts: int) -> bool:
        """Whether a transient failure after `attempts` sends is final (no retry left)."""
        return attempts >= self.max_attempts


DEFAULT_RETRY = RetryPolicy()
