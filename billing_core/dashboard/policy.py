"""The dashboard policy: `policies/dashboard.yaml`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class DashboardPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    message_days: Annotated[int, Field(ge=1, le=92)] = 14
    queue_days: Annotated[int, Field(ge=1, le=92)] = 14
    collection_months: Annotated[int, Field(ge=1, le=24)] = 6
    ageing_bounds: Annotated[tuple[int, ...], Field(min_length=1, max_length=8)] = (30, 60, 90)

    @field_validator("ageing_bounds")
    @classmethod
    def _increasing(cls, bounds: tuple[int, ...]) -> tuple[int, ...]:
        if any(b < 1 for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ValueError("the bounds are whole days, at least 1, strictly increasing")
        return bounds


def load_dashboard_policy(directory: Path = DEFAULT_POLICY_DIR) -> DashboardPolicy:
    return load_policy("dashboard", DashboardPolicy, directory)
