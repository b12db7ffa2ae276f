"""The late fee policy (电费违约金): daily rates, start, allocation order, minimum fee and the
roles that may waive, loaded from `policies/late_fees.yaml`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy
from billing_core.staff.model import Role

# A daily rate as a fraction (0.001 is 0.1 % a day); above 1 % a day is surely a typo.
DailyRate = Annotated[Decimal, Field(ge=0, le=Decimal("0.01"))]
Cents = Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]


class ResidentialRates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_rate: DailyRate = Decimal("0.001")


class NonResidentialRates(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    current_year_daily_rate: DailyRate = Decimal("0.002")
    earlier_years_daily_rate: DailyRate = Decimal("0.003")


class LateFeePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    start: Literal["day_after_due_date"] = "day_after_due_date"
    residential: ResidentialRates = ResidentialRates()
    non_residential: NonResidentialRates = NonResidentialRates()
    late_fees_last: bool = True
    minimum_fee: Cents = Decimal("0.01")
    waiver_roles: Annotated[tuple[Role, ...], Field(min_length=1)] = (Role.collections, Role.admin)


def load_late_fee_policy(directory: Path = DEFAULT_POLICY_DIR) -> LateFeePolicy:
    return load_policy("late_fees", LateFeePolicy, directory)
