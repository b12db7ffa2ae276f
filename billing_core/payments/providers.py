"""The one interface the web layer pays through, and the sandbox behind it.

A provider turns a checkout attempt (whose amount the server fixed) into the URL the customer
is sent to. The Stripe provider lives in `api/payments/stripe_provider.py` (billing_core
imports no payment library); the sandbox is wattdesk's own test checkout page."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from babel.numbers import get_currency_precision

from billing_core.errors import InvalidInput, WattdeskError
from billing_core.payments.tables import CheckoutAttempt

SANDBOX = "sandbox"
STRIPE = "stripe"
# A Stripe Checkout Session's client_reference_id names its attempt: "attempt:<id>".
ATTEMPT_REFERENCE_PREFIX = "attempt:"


def minor_units(amount: Decimal, currency: str) -> int:
    """The amount in the currency's minor unit (fen, cents), exactly: 12.30 CNY → 1230.
    An amount finer than the minor unit is refused rather than rounded."""
    precision = get_currency_precision(currency.upper())
    scaled = amount.scaleb(precision)
    if amount <= 0 or scaled != scaled.to_integral_value():
        raise InvalidInput(f"{amount} {currency} is not a positive amount in whole minor units")
    return int(scaled)


def attempt_reference(attempt_id: int) -> str:
    """The Checkout Session's client_reference_id: how a webhook finds its attempt."""
    return f"{ATTEMPT_REFERENCE_PREFIX}{attempt_id}"


class ProviderUnavailable(WattdeskError):
    """The provider could not open a checkout (down, refused): the customer is asked to try
    again later and the attempt is recorded as failed. Providers raise it (or a subclass)."""


class CheckoutProvider(Protocol):
    name: str  # stored as checkout_attempt.provider and payment.channel

    def begin(
        self,
        *,
        attempt: CheckoutAttempt,
        link_url: str,
        success_url: str,
        cancel_url: str,
        description: str,
    ) -> str:
        """Open a checkout for the attempt; returns the URL to send the customer to.
        Raises ProviderUnavailable when the provider cannot."""
        ...


class SandboxProvider:
    """Test mode: wattdesk's own checkout page, where a tester makes the payment succeed,
    fail or be cancelled. No money moves; start-up refuses it in production."""

    name = SANDBOX

    def __init__(self, public_base_url: str) -> None:
        self.base = public_base_url.rstrip("/")

    def begin(
        self,
        *,
        attempt: CheckoutAttempt,
        link_url: str,
        success_url: str,
        cancel_url: str,
        description: str,
    ) -> str:
        # The sandbox page shows the result itself (it knows the attempt, not the token), so
        # the return URLs are not needed here.
        return f"{self.base}/sandbox/checkout/{attempt.id}"
