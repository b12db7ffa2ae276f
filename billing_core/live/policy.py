"""The live-events policy: how long the console's live events are kept. Loaded from
`policies/live.yaml`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class LivePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    # A browser away longer than this catches up from the transcript, not from events. At
    # least a day: a console left open over a weekend must not find its events gone.
    keep_days: Annotated[int, Field(ge=1, le=366)] = 7
    # Rows deleted per transaction by the retention job (short transactions: one writer).
    delete_chunk: Annotated[int, Field(ge=100, le=100_000)] = 5000


DEFAULT_LIVE_POLICY = LivePolicy(version=1, effective_from=date(2025, 1, 1))


def load_live_policy(directory: Path = DEFAULT_POLICY_DIR) -> LivePolicy:
    return load_policy("live", LivePolicy, directory)
