"""Pure rules of channel health: what a probe answers, and when an alert is raised or cleared
(docs/health.md). No database, no clock: plain values in, a decision out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class ProbeStatus(StrEnum):
    ok = "ok"  # the provider answered, and accepted our credentials
    failing = "failing"  # no answer, an error, or our credentials refused
    offline = "offline"  # the channel runs without its provider (the embedded default)


@dataclass(frozen=True)
class ProbeResult:
    """One probe's answer: which channel and provider, how it went, how long it took."""

    channel: str  # sms, telegram, payments
    provider: str  # twilio, telegram, stripe, sandbox, offline
    status: ProbeStatus
    latency_ms: float | None = None  # None when nothing was asked (offline)
    detail: str = ""  # what the provider said (never a credential)

    @property
    def ok(self) -> bool:
        return self.status != ProbeStatus.failing


class Probe(Protocol):
    """A check of one provider, made by the adapter that knows it (sms/probe.py,
    bot/probe.py, api/payments/probe.py) and handed to the scheduler by the composition root.
    It never raises: a failure is a result with status `failing`."""

    channel: str
    provider: str

    def __call__(self) -> ProbeResult: ...


@dataclass(frozen=True)
class DeliveryCounts:
    """Send attempts on one channel in the watch's window, and how many of them failed."""

    attempts: int
    failures: int

    @property
    def failure_rate(self) -> Decimal:
        return Decimal(self.failures) / Decimal(self.attempts) if self.attempts else Decimal(0)


@dataclass(frozen=True)
class WatchRule:
    """Alert when more than `max_failure_rate` of at least `min_attempts` sends failed."""

    max_failure_rate: Decimal
    min_attempts: int


def over_threshold(counts: DeliveryCounts, rule: WatchRule) -> bool:
    """Too many failures: at least `min_attempts` attempts, and failures over the rate
    (exact: failures > rate × attempts, no rounding)."""
    if counts.attempts < rule.min_attempts or counts.attempts <= 0:
        return False
    return Decimal(counts.failures) > rule.max_failure_rate * Decimal(counts.attempts)


class Change(StrEnum):
    raise_ = "raise"
    clear = "clear"
    none = "none"


def delivery_change(active: bool, counts: DeliveryCounts, rule: WatchRule) -> Change:
    """Whether the channel's delivery alert is raised or cleared now. An alert is raised once
    (while it is active nothing more is raised); it clears when the window is back under the
    threshold with a full sample, or has no failure at all. A sample too small to judge keeps
    things as they are, so a quiet minute neither raises nor clears."""
    failing = over_threshold(counts, rule)
    if not active:
        return Change.raise_ if failing else Change.none
    if failing:
        return Change.none
    if counts.failures == 0 or counts.attempts >= rule.min_attempts:
        return Change.clear
    return Change.none


def probe_change(active: bool, result: ProbeResult) -> Change:
    """A failing probe raises its alert once; the first answer that is not failing clears it."""
    if result.status == ProbeStatus.failing:
        return Change.none if active else Change.raise_
    return Change.clear if active else Change.none


def delivery_subject(channel: str) -> str:
    """The alert's subject for a channel's delivery watch."""
    return f"delivery:{channel}"


def probe_subject(channel: str, provider: str) -> str:
    """The alert's subject for a channel's probe of its provider."""
    return f"probe:{channel}:{provider}"


@dataclass
class Tally:
    """Send outcomes counted in memory by a dispatcher, per channel, until flushed. Not
    thread-safe by itself: the dispatcher guards it with its own lock."""

    started_at: datetime
    counts: dict[str, list[int]] = field(default_factory=dict)  # channel -> [attempts, failures]

    def count(self, channel: str, failed: bool) -> None:
        seen = self.counts.get(channel)
        if seen is None:
            seen = self.counts[channel] = [0, 0]
        seen[0] += 1
        if failed:
            seen[1] += 1

    def as_mapping(self) -> dict[str, tuple[int, int]]:
        return {channel: (a, f) for channel, (a, f) in self.counts.items()}
