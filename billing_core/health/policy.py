"""The channel health policy: `policies/health.yaml`."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.health.model import WatchRule
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class HealthPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    probe_interval_seconds: Annotated[int, Field(ge=10, le=3600)] = 60
    probe_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10
    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    max_failure_rate: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.05")
    min_attempts: Annotated[int, Field(ge=1, le=100_000)] = 20
    keep_tallies_days: Annotated[int, Field(ge=1, le=90)] = 2

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @property
    def rule(self) -> WatchRule:
        return WatchRule(max_failure_rate=self.max_failure_rate, min_attempts=self.min_attempts)


def load_health_policy(directory: Path = DEFAULT_POLICY_DIR) -> HealthPolicy:
    return load_policy("health", HealthPolicy, directory)
