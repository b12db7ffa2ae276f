"""Stripe Checkout as a checkout provider: one Checkout Session per checkout attempt, for the
amount the server fixed when the attempt started, created with the real stripe client."""

from __future__ import annotations

import logging
from datetime import timedelta

import stripe
from sqlalchemy.orm import object_session
from stripe.params.checkout import SessionCreateParams

from billing_core.clock import Clock, SystemClock
from billing_core.customers.tables import Account
from billing_core.errors import InvalidInput
from billing_core.payments.providers import (
    STRIPE,
    CheckoutProvider,
    ProviderUnavailable,
    attempt_reference,
    minor_units,
)
from billing_core.payments.tables import CheckoutAttempt, PayLink
from billing_core.settings import Settings

log = logging.getLogger("wattdesk.payments.stripe")

# Stripe accepts expires_at from 30 minutes to 24 hours after creation, measured on its clock
# when the request arrives: five minutes above the minimum absorb latency and clock skew.
SESSION_LIFETIME = timedelta(minutes=35)
REQUEST_TIMEOUT_SECONDS = 20  # the customer is waiting on the pay page


class StripeProvider:
    """Begins a checkout by creating a Stripe Checkout Session and returns its hosted URL."""

    name = STRIPE

    def __init__(
        self,
        api_key: str,
        api_base: str,
        currency: str,
        *,
        clock: Clock | None = None,
        max_network_retries: int = 2,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self.currency = currency.upper()
        self.clock = clock or SystemClock()
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def begin(
        self,
        *,
        attempt: CheckoutAttempt,
        link_url: str,
        success_url: str,
        cancel_url: str,
        description: str,
    ) -> str:
        """Create the attempt's Checkout Session, note its id on the attempt (the caller's
        transaction stores it) and return the URL to send the customer to. Raises
        ProviderUnavailable when Stripe gives no session.

        `link_url` is not sent (nor put in metadata, which Stripe's dashboard shows): it
        carries the pay link's token. The return URLs are the caller's choice."""
        if attempt.id is None:
            raise InvalidInput("the checkout attempt must be stored before it begins")
        if attempt.currency.upper() != self.currency:
            raise InvalidInput(f"Stripe is set up for {self.currency}, not {attempt.currency}")
        metadata = {
            "pay_link_id": str(attempt.pay_link_id),
            "attempt_id": str(attempt.id),
            "account_number": _account_number(attempt),
        }
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": attempt.currency.lower(),
                        "unit_amount": minor_units(attempt.amount, attempt.currency),
                        "product_data": {"name": description[:250] or "Electricity bill"},
                    },
                }
            ],
            "client_reference_id": attempt_reference(attempt.id),
            "metadata": metadata,
            # The PaymentIntent carries the same names, for staff looking at Stripe's dashboard.
            "payment_intent_data": {"metadata": metadata},
            "expires_at": int((self.clock.now() + SESSION_LIFETIME).timestamp()),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        try:
            checkout = self._client.v1.checkout.sessions.create(params=params)
        except stripe.StripeError as exc:
            # str(exc) is Stripe's message and request id; the API key is never part of it.
            log.error("stripe: could not create a Checkout Session for attempt %s: %s",
                      attempt.id, exc)  # fmt: skip
            raise ProviderUnavailable(str(exc)) from exc
        if not checkout.url:
            raise ProviderUnavailable(f"Checkout Session {checkout.id} has no URL")
        attempt.provider_session_id = checkout.id
        session = object_session(attempt)
        if session is not None:
            session.add(attempt)
        log.info("stripe: attempt %s is Checkout Session %s", attempt.id, checkout.id)
        return checkout.url


def _account_number(attempt: CheckoutAttempt) -> str:
    """The account the attempt pays, for the session's metadata (staff search Stripe by it)."""
    session = object_session(attempt)
    if session is None:
        return ""
    link = session.get(PayLink, attempt.pay_link_id)
    account = session.get(Account, link.account_id) if link is not None else None
    return account.number if account is not None else ""


def make_stripe_provider(settings: Settings, *, clock: Clock | None = None) -> CheckoutProvider:
    """The provider `create_app` uses when WATTDESK_PAYMENT_PROVIDER=stripe."""
    return StripeProvider(
        settings.stripe_api_key.get_secret_value(),
        settings.stripe_api_base,
        settings.currency,
        clock=clock,
    )
