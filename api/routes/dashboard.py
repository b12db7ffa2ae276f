"""The staff dashboard's data (any staff role): `GET /api/v1/dashboard`, every figure the
console's charts draw (billing_core/dashboard), and `GET /api/v1/health/channels`, the
channels' health alone (billing_core/health). Money is a decimal string; instants ISO 8601."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from api.auth import StaffDep, staff_router
from api.deps import SessionDep
from api.schemas import Day, Instant, Money, Out
from billing_core.app_services import services
from billing_core.dashboard.service import dashboard
from billing_core.health.service import channel_health

router = staff_router(prefix="/api/v1", tags=["dashboard"])


class ProbeOut(Out):
    channel: str
    provider: str
    status: str  # ok, failing, offline
    latency_ms: float | None
    detail: str
    at: Instant


class DeliveryOut(Out):
    channel: str
    attempts: int
    failures: int
    failure_rate: str  # a decimal fraction, e.g. "0.0500"


class AlertOut(Out):
    subject: str  # delivery:<channel> or probe:<channel>:<provider>
    channel: str
    provider: str | None
    reason: str
    raised_at: Instant
    cleared_at: Instant | None
    active: bool


class ChannelHealthOut(Out):
    probes: list[ProbeOut]
    delivery: list[DeliveryOut]
    window_minutes: int
    max_failure_rate: str
    alerts: list[AlertOut]  # active, newest first
    recent_alerts: list[AlertOut]  # the latest, active or cleared


class SeriesOut(Out):
    channel: str
    status: str  # the outbox's statuses, and `received` for inbound messages
    counts: list[int]  # one per day in `days`


class MessagesOut(Out):
    days: list[Day]
    series: list[SeriesOut]


class QueueOut(Out):
    waiting: int
    waiting_longest_seconds: float | None
    waiting_median_seconds: float | None
    answered: int
    answered_days: int
    answered_median_seconds: float | None
    answered_p90_seconds: float | None


class BacklogOut(Out):
    channel: str
    pending: int
    due: int
    oldest_due_seconds: float | None


class CollectionOut(Out):
    month: str  # YYYY-MM of the bills' due dates
    bills: int
    billed: Money
    paid_in_terms: Money
    rate: str | None  # paid in terms / billed, a decimal fraction; None when nothing billed


class AgeingBucketOut(Out):
    days: str  # "0–30", "31–60", "61–90", "90+": days past the due date
    amount: Money
    accounts: int


class AgeingOut(Out):
    not_due: Money
    buckets: list[AgeingBucketOut]


class DashboardOut(Out):
    generated_at: Instant
    today: Day
    messages: MessagesOut
    queue: QueueOut
    outbox: list[BacklogOut]
    collection: list[CollectionOut]
    ageing: AgeingOut
    health: ChannelHealthOut


@router.get("/dashboard", response_model=DashboardOut)
def get_dashboard(request: Request, session: SessionDep, _user: StaffDep) -> dict[str, Any]:
    parts = services(request)
    return dashboard(
        session=session,
        clock=parts.clock,
        tz=parts.settings.tz,
        policy=parts.dashboard_policy,
        health_policy=parts.health_policy,
    )


@router.get("/health/channels", response_model=ChannelHealthOut)
def get_channel_health(request: Request, session: SessionDep, _user: StaffDep) -> dict[str, Any]:
    parts = services(request)
    return channel_health(session=session, clock=parts.clock, policy=parts.health_policy).as_json()
