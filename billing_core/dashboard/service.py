"""The dashboard: every figure the staff console's charts draw, in one JSON-ready mapping
(money as decimal strings, instants in ISO 8601, durations in seconds)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.dashboard import queries
from billing_core.dashboard.model import (
    CENT,
    ZERO,
    ageing_labels,
    day_starts,
    local_days,
    month_starts,
    percentile,
    rate,
)
from billing_core.dashboard.policy import DashboardPolicy
from billing_core.health.policy import HealthPolicy
from billing_core.health.service import channel_health


def dashboard(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    policy: DashboardPolicy,
    health_policy: HealthPolicy,
) -> dict[str, Any]:
    """The dashboard's figures now (read only)."""
    now = clock.now()
    today = now.astimezone(tz).date()
    return {
        "generated_at": now.isoformat(),
        "today": today.isoformat(),
        "messages": _messages(session, today, tz, policy.message_days),
        "queue": _queue(session, now, policy.queue_days),
        "outbox": _backlog(session, now),
        "collection": _collection(session, today, policy.collection_months),
        "ageing": _ageing(session, today, policy.ageing_bounds),
        "health": channel_health(session=session, clock=clock, policy=health_policy).as_json(),
    }


def _messages(session: Session, today: Any, tz: ZoneInfo, days: int) -> dict[str, Any]:
    dates = local_days(today, days)
    series: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * days)
    for row in queries.messages_per_day(session, day_starts(dates, tz)):
        series[(row.channel, row.status)][row.day] += row.messages
    return {
        "days": [d.isoformat() for d in dates],
        "series": [
            {"channel": channel, "status": status, "counts": counts}
            for (channel, status), counts in sorted(series.items())
        ],
    }


def _money(amount: Decimal) -> str:
    """An amount with its cents, as the API writes money."""
    return str(amount.quantize(CENT))


def _seconds(values: list[float], p: float) -> float | None:
    found = percentile(values, p)
    return None if found is None else round(found, 1)


def _queue(session: Session, now: Any, days: int) -> dict[str, Any]:
    waiting = [max(0.0, (now - since).total_seconds()) for since in queries.queued_since(session)]
    answered = [
        max(0.0, (answer - asked).total_seconds())
        for asked, answer in queries.answered_waits(session, since=now - timedelta(days=days))
    ]
    return {
        "waiting": len(waiting),
        "waiting_longest_seconds": round(max(waiting), 1) if waiting else None,
        "waiting_median_seconds": _seconds(waiting, 50),
        "answered": len(answered),
        "answered_days": days,
        "answered_median_seconds": _seconds(answered, 50),
        "answered_p90_seconds": _seconds(answered, 90),
    }


def _backlog(session: Session, now: Any) -> list[dict[str, Any]]:
    return [
        {
            "channel": row.channel,
            "pending": row.pending,
            "due": row.due,
            "oldest_due_seconds": (
                None
                if row.oldest_due is None
                else round(max(0.0, (now - row.oldest_due).total_seconds()), 1)
            ),
        }
        for row in queries.outbox_backlog(session, now=now)
    ]


def _collection(session: Session, today: Any, months: int) -> list[dict[str, Any]]:
    bounds = month_starts(today, months)
    found = {row.month: row for row in queries.collection(session, bounds)}
    result = []
    for index, start in enumerate(bounds[:-1]):
        row = found.get(index)
        billed = row.billed if row else ZERO
        in_terms = row.paid_in_terms if row else ZERO
        share = rate(in_terms, billed)
        result.append(
            {
                "month": start.strftime("%Y-%m"),
                "bills": row.bills if row else 0,
                "billed": _money(billed),
                "paid_in_terms": _money(in_terms),
                "rate": None if share is None else str(share),
            }
        )
    return result


def _ageing(session: Session, today: Any, bounds: tuple[int, ...]) -> dict[str, Any]:
    labels = ageing_labels(bounds)
    found = {row.bucket: row for row in queries.arrears_ageing(session, today=today, bounds=bounds)}
    current = found.get(-1)
    return {
        "not_due": _money(current.amount if current else ZERO),
        "buckets": [
            {
                "days": label,
                "amount": _money(found[i].amount if i in found else ZERO),
                "accounts": found[i].accounts if i in found else 0,
            }
            for i, label in enumerate(labels)
        ],
    }
