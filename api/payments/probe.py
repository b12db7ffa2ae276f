"""The payment provider's probe (channel health, billing_core/health): Stripe's own account
(`GET /v1/account`) with our secret key, through the stripe client as the provider uses it;
the sandbox answers for itself (no money moves, nothing to ask)."""

from __future__ import annotations

import time

import stripe

from billing_core.health.model import Probe, ProbeResult, ProbeStatus
from billing_core.payments.providers import SANDBOX, STRIPE
from billing_core.settings import Settings

CHANNEL = "payments"


class StripeProbe:
    """Retrieves the account the key belongs to; ok when Stripe answers with it. No retry:
    a probe reports what it met."""

    channel = CHANNEL
    provider = STRIPE

    def __init__(self, *, api_key: str, api_base: str, timeout: float = 10.0) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def __repr__(self) -> str:  # never the key
        return "StripeProbe()"

    def __call__(self) -> ProbeResult:
        started = time.perf_counter()

        def result(status: ProbeStatus, detail: str) -> ProbeResult:
            elapsed = (time.perf_counter() - started) * 1000
            return ProbeResult(self.channel, self.provider, status, elapsed, detail[:300])

        try:
            account = self._client.v1.accounts.retrieve_current()
        except stripe.AuthenticationError as exc:
            return result(ProbeStatus.failing, f"key refused: {exc.user_message or exc}")
        except stripe.StripeError as exc:
            return result(ProbeStatus.failing, f"{type(exc).__name__}: {exc.user_message or exc}")
        if account.charges_enabled is False:
            return result(ProbeStatus.failing, f"account {account.id}: charges disabled")
        return result(ProbeStatus.ok, f"account {account.id}")


class SandboxProbe:
    """The sandbox provider is part of the app: it always answers."""

    channel = CHANNEL
    provider = SANDBOX

    def __call__(self) -> ProbeResult:
        return ProbeResult(self.channel, self.provider, ProbeStatus.ok, 0.0,
                           "the sandbox answers (no money moves)")  # fmt: skip


def payment_probe(settings: Settings, *, timeout: float = 10.0) -> Probe:
    """The configured payment provider's probe."""
    if settings.payment_provider == STRIPE:
        return StripeProbe(
            api_key=settings.stripe_api_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            timeout=timeout,
        )
    return SandboxProbe()
