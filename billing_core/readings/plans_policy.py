"""The reading-plan policy: how level a plan must be, the notice a reading-day change needs and
the shortest transition period. Loaded from `policies/reading_plans.yaml`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class ReadingPlanPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    tolerance: Annotated[float, Field(ge=0, le=10)] = 0.20
    notice_months: Annotated[int, Field(ge=0, le=24)] = 2
    min_transition_days: Annotated[int, Field(ge=1, le=28)] = 15


DEFAULT_READING_PLAN_POLICY = ReadingPlanPolicy(version=1, effective_from=date(2026, 12, 1))


def load_reading_plan_policy(directory: Path = DEFAULT_POLICY_DIR) -> ReadingPlanPolicy:
    return load_policy("reading_plans", ReadingPlanPolicy, directory)
