"""The notices policy: `policies/notices.yaml`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class NoticesPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    due_reminder_days_before: Annotated[int, Field(ge=1, le=30)] = 3
    bill_notice_max_age_days: Annotated[int, Field(ge=1, le=90)] = 7
    # a consolidating group's bills wait until its newest is this old (docs/messages.md)
    group_notice_settle_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 15


def load_notices_policy(directory: Path = DEFAULT_POLICY_DIR) -> NoticesPolicy:
    return load_policy("notices", NoticesPolicy, directory)
