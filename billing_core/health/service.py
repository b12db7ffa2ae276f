"""Channel health: probe results and alerts recorded as domain events, send tallies summed in
the delivery watch's window, and the current health the dashboard shows.

An alert has a subject (`delivery:sms`, `probe:sms:twilio`) and is raised once: while it is
active nothing more is raised for it, and it clears once. Each raise of a subject is
numbered, and the number is in both events' dedupe keys, so two runs at once (a leader
change) record it once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.events.service import record_events
from billing_core.events.tables import DomainEvent
from billing_core.health.model import (
    Change,
    DeliveryCounts,
    ProbeResult,
    ProbeStatus,
    delivery_change,
    delivery_subject,
    probe_change,
    probe_subject,
)
from billing_core.health.policy import HealthPolicy
from billing_core.health.tables import DeliveryTally

CHANNEL_PROBED = "channel_probed"
ALERT_RAISED = "channel_alert_raised"
ALERT_CLEARED = "channel_alert_cleared"
RECENT_PROBES = 200  # probe events looked at for the latest of each probe (newest first)

EVENT = table_of(DomainEvent)
TALLY = table_of(DeliveryTally)


@dataclass(frozen=True)
class Alert:
    subject: str
    channel: str
    provider: str | None
    raised_at: datetime
    reason: str
    number: int  # the subject's nth raise
    cleared_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.cleared_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "channel": self.channel,
            "provider": self.provider,
            "reason": self.reason,
            "raised_at": self.raised_at.isoformat(),
            "cleared_at": self.cleared_at.isoformat() if self.cleared_at else None,
            "active": self.active,
        }


@dataclass(frozen=True)
class AlertChange:
    change: Change
    subject: str
    reason: str


@dataclass(frozen=True)
class ChannelHealth:
    """What the dashboard shows: each probe's latest answer, each channel's sends in the
    window, the active alerts and the latest alerts (active or cleared), newest first."""

    probes: list[tuple[ProbeResult, datetime]]
    delivery: dict[str, DeliveryCounts]
    active: list[Alert]
    recent: list[Alert]
    window_minutes: int
    max_failure_rate: str

    def as_json(self) -> dict[str, Any]:
        return {
            "probes": [
                {
                    "channel": r.channel,
                    "provider": r.provider,
                    "status": r.status.value,
                    "latency_ms": r.latency_ms,
                    "detail": r.detail,
                    "at": at.isoformat(),
                }
                for r, at in self.probes
            ],
            "delivery": [
                {
                    "channel": channel,
                    "attempts": counts.attempts,
                    "failures": counts.failures,
                    "failure_rate": str(counts.failure_rate.quantize(_RATE)),
                }
                for channel, counts in sorted(self.delivery.items())
            ],
            "window_minutes": self.window_minutes,
            "max_failure_rate": self.max_failure_rate,
            "alerts": [a.as_json() for a in self.active],
            "recent_alerts": [a.as_json() for a in self.recent],
        }


_RATE = Decimal("0.0001")


# --- writing -------------------------------------------------------------------------------


def record_delivery_tally(
    *,
    session: Session,
    started_at: datetime,
    ended_at: datetime,
    tallies: Mapping[str, tuple[int, int]],
) -> int:
    """Store a dispatcher's (attempts, failures) per channel over [started_at, ended_at);
    channels with no attempt store nothing. Returns the rows written."""
    rows = [
        {"channel": channel, "started_at": started_at, "ended_at": ended_at,
         "attempts": attempts, "failures": failures}
        for channel, (attempts, failures) in sorted(tallies.items())
        if attempts > 0
    ]  # fmt: skip
    if rows:
        session.execute(TALLY.insert(), rows)
    return len(rows)


def record_delivery_failure(*, session: Session, channel: str, at: datetime) -> None:
    """A send the provider accepted and later reported undelivered: one failure with no new
    attempt (the dispatcher's tally counted the attempt when it was accepted)."""
    session.execute(
        TALLY.insert(),
        [{"channel": channel, "started_at": at, "ended_at": at, "attempts": 0, "failures": 1}],
    )


def record_probe_results(
    *, session: Session, clock: Clock, results: Sequence[ProbeResult]
) -> list[AlertChange]:
    """Each probe's answer as a `channel_probed` event; a failing probe raises its alert
    (once), an answering one clears it. Returns the alerts raised or cleared."""
    now = clock.now()
    alerts = alert_history(session)
    events: list[dict[str, Any]] = []
    changes: list[AlertChange] = []
    for result in results:
        events.append(
            {
                "kind": CHANNEL_PROBED,
                "dedupe_key": f"{CHANNEL_PROBED}:{result.channel}:{result.provider}:"
                f"{now.isoformat()}",
                "payload": _probe_payload(result),
            }
        )
        subject = probe_subject(result.channel, result.provider)
        latest = alerts.get(subject)
        change = probe_change(latest is not None and latest.active, result)
        reason = f"{result.provider} probe failing: {result.detail}"[:300]
        _alert_event(events, changes, change, subject, latest, reason,
                     channel=result.channel, provider=result.provider)  # fmt: skip
    record_events(session=session, clock=clock, events=events)
    return changes


def watch_delivery(*, session: Session, clock: Clock, policy: HealthPolicy) -> list[AlertChange]:
    """The delivery watch: each channel's sends in the window against the policy's rule;
    raises or clears its alert (once). Deletes tallies older than the policy keeps."""
    now = clock.now()
    counts = delivery_counts(session, since=now - policy.window)
    alerts = alert_history(session)
    channels = set(counts) | {
        a.channel for a in alerts.values() if a.active and a.subject.startswith("delivery:")
    }
    events: list[dict[str, Any]] = []
    changes: list[AlertChange] = []
    for channel in sorted(channels):
        seen = counts.get(channel, DeliveryCounts(0, 0))
        subject = delivery_subject(channel)
        latest = alerts.get(subject)
        change = delivery_change(latest is not None and latest.active, seen, policy.rule)
        reason = (
            f"{seen.failures} of {seen.attempts} sends failed in {policy.window_minutes} min "
            f"({seen.failure_rate:.1%}, the limit is {policy.max_failure_rate:.0%})"
        )
        _alert_event(events, changes, change, subject, latest, reason,
                     channel=channel, provider=None, counts=seen)  # fmt: skip
    record_events(session=session, clock=clock, events=events)
    session.execute(delete(TALLY).where(TALLY.c.ended_at < now - _days(policy.keep_tallies_days)))
    return changes


def _alert_event(
    events: list[dict[str, Any]],
    changes: list[AlertChange],
    change: Change,
    subject: str,
    latest: Alert | None,
    reason: str,
    *,
    channel: str,
    provider: str | None,
    counts: DeliveryCounts | None = None,
) -> None:
    if change == Change.none:
        return
    number = (latest.number if latest is not None else 0) + (1 if change == Change.raise_ else 0)
    kind = ALERT_RAISED if change == Change.raise_ else ALERT_CLEARED
    payload: dict[str, Any] = {
        "subject": subject, "channel": channel, "provider": provider, "number": number,
        "reason": reason,
    }  # fmt: skip
    if counts is not None:
        payload |= {"attempts": counts.attempts, "failures": counts.failures}
    events.append(
        {"kind": kind, "dedupe_key": f"channel_alert:{subject}:{number}:{change.value}",
         "payload": payload}
    )  # fmt: skip
    changes.append(AlertChange(change, subject, reason))


def _probe_payload(result: ProbeResult) -> dict[str, Any]:
    return {
        "channel": result.channel,
        "provider": result.provider,
        "status": result.status.value,
        "latency_ms": None if result.latency_ms is None else round(result.latency_ms, 1),
        "detail": result.detail[:300],
    }


def _days(days: int) -> timedelta:
    return timedelta(days=days)


# --- reading -------------------------------------------------------------------------------


def delivery_counts(session: Session, *, since: datetime) -> dict[str, DeliveryCounts]:
    """Attempts and failures per channel in the tallies that ended at or after `since`."""
    rows = session.execute(
        select(TALLY.c.channel, func.sum(TALLY.c.attempts), func.sum(TALLY.c.failures))
        .where(TALLY.c.ended_at >= since)
        .group_by(TALLY.c.channel)
    )
    return {str(c): DeliveryCounts(int(a or 0), int(f or 0)) for c, a, f in rows}


def alert_history(session: Session) -> dict[str, Alert]:
    """Each subject's latest alert (active, or cleared), from the alert events in order."""
    latest: dict[str, Alert] = {}
    rows = session.execute(
        select(EVENT.c.kind, EVENT.c.payload, EVENT.c.created_at)
        .where(EVENT.c.kind.in_((ALERT_RAISED, ALERT_CLEARED)))
        .order_by(EVENT.c.id)
    )
    for kind, payload, at in rows:
        subject = str(payload.get("subject", ""))
        if kind == ALERT_RAISED:
            latest[subject] = Alert(
                subject=subject,
                channel=str(payload.get("channel", "")),
                provider=payload.get("provider"),
                raised_at=at,
                reason=str(payload.get("reason", "")),
                number=int(payload.get("number", 1)),
            )
        elif subject in latest and latest[subject].active:
            held = latest[subject]
            latest[subject] = Alert(
                held.subject, held.channel, held.provider, held.raised_at, held.reason,
                held.number, cleared_at=at,
            )  # fmt: skip
    return latest


def latest_probes(session: Session) -> list[tuple[ProbeResult, datetime]]:
    """The newest answer of each probe (by channel and provider)."""
    found: dict[tuple[str, str], tuple[ProbeResult, datetime]] = {}
    rows = session.execute(
        select(EVENT.c.payload, EVENT.c.created_at)
        .where(EVENT.c.kind == CHANNEL_PROBED)
        .order_by(EVENT.c.id.desc())
        .limit(RECENT_PROBES)
    )
    for payload, at in rows:
        key = (str(payload.get("channel", "")), str(payload.get("provider", "")))
        if key in found:
            continue
        try:
            status = ProbeStatus(payload.get("status"))
        except ValueError:
            continue
        latency = payload.get("latency_ms")
        latency_ms = None if latency is None else float(latency)
        detail = str(payload.get("detail", ""))
        found[key] = (ProbeResult(key[0], key[1], status, latency_ms, detail), at)
    return [found[key] for key in sorted(found)]


def channel_health(
    *, session: Session, clock: Clock, policy: HealthPolicy, recent: int = 10
) -> ChannelHealth:
    """The channels' health now (see `ChannelHealth`)."""
    alerts = alert_history(session)
    ordered = sorted(alerts.values(), key=lambda a: a.cleared_at or a.raised_at, reverse=True)
    return ChannelHealth(
        probes=latest_probes(session),
        delivery=delivery_counts(session, since=clock.now() - policy.window),
        active=[a for a in ordered if a.active],
        recent=ordered[:recent],
        window_minutes=policy.window_minutes,
        max_failure_rate=str(policy.max_failure_rate),
    )
