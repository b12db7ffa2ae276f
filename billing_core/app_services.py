"""The app's long-lived parts in one typed container, built once at start-up (`api.app`) and
read by every route and channel adapter through `services(request)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import anyio.to_thread
from sqlalchemy import Engine

from billing_core.bills.policy import ReviewPolicy
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.clock import Clock
from billing_core.conversations.service import ConversationContext
from billing_core.dashboard.policy import DashboardPolicy
from billing_core.db.unit_of_work import UnitOfWorkRunner
from billing_core.health.policy import HealthPolicy
from billing_core.payments.providers import CheckoutProvider
from billing_core.payments.service import PaymentContext
from billing_core.settings import Settings
from billing_core.tariffs.catalog import TariffCatalog


class Background(Protocol):
    """A part that runs beside the app in threads of its own (the scheduled jobs and the
    outbox dispatcher): started when the app starts serving, shut down when it stops."""

    def start(self) -> object: ...

    def shutdown(self) -> None: ...


@dataclass(frozen=True, eq=False)
class Services:
    """What the app made at start-up. Policies and tariffs are loaded and validated once (a
    bad file stops start-up); `units` runs every request's unit of work; `background` parts
    and the runner's writer are started and stopped by the app's lifespan (`start`,
    `aclose`)."""

    settings: Settings
    engine: Engine
    clock: Clock
    units: UnitOfWorkRunner
    tariffs: TariffCatalog
    review_policy: ReviewPolicy
    payment_context: PaymentContext
    conversation_context: ConversationContext
    checkout_provider: CheckoutProvider
    dashboard_policy: DashboardPolicy
    health_policy: HealthPolicy
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS  # policies/payment_terms.yaml
    background: tuple[Background, ...] = ()

    async def start(self) -> None:
        """The writer process first (the first webhook does not wait for it), then the
        background parts."""
        await self.units.start()
        for part in self.background:
            part.start()

    async def aclose(self) -> None:
        """The background parts stop (in a thread: they join theirs), then the writer
        finishes what it has queued."""
        try:
            for part in reversed(self.background):
                await anyio.to_thread.run_sync(part.shutdown)
        finally:
            await self.units.aclose()


class _HasApp(Protocol):
    @property
    def app(self) -> Any: ...


def services(request: _HasApp) -> Services:
    """The app's Services, for a request (or a websocket) of an app `api.app` made."""
    found: Services = request.app.state.services
    return found
