"""The payments policy (收费): pay link lifetime and the duplicate-payment window, loaded from
`policies/payments.yaml`, and `payment_context`, which joins it with the settings."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.arrears.rules import load_arrears_rules
from billing_core.payments.service import PaymentContext
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy
from billing_core.settings import Settings


class PaymentsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    # A link older than a quarter is surely a typo in the file.
    pay_link_ttl_days: Annotated[int, Field(ge=1, le=90)] = 7
    duplicate_window_hours: Annotated[int, Field(ge=1, le=24 * 31)] = 24


def load_payments_policy(directory: Path = DEFAULT_POLICY_DIR) -> PaymentsPolicy:
    return load_policy("payments", PaymentsPolicy, directory)


def payment_context(settings: Settings, policy: PaymentsPolicy) -> PaymentContext:
    """What the payment use cases need, from the settings and the policy."""
    return PaymentContext(
        tz=settings.tz,
        currency=settings.currency,
        public_base_url=settings.public_base_url,
        secret_key=settings.secret_key.get_secret_value(),
        pay_link_ttl=timedelta(days=policy.pay_link_ttl_days),
        duplicate_window=timedelta(hours=policy.duplicate_window_hours),
        arrears=load_arrears_rules(
            settings.policy_dir, country=settings.holiday_country, tz=settings.tz
        ),
    )
