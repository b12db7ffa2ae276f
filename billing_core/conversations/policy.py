"""The conversations policy: one-time code lifetime and attempts, how many codes a number or
an account may be sent, when the bot hands a conversation to a person, and how many periods
USAGE shows. Loaded from `policies/conversations.yaml`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class ConversationsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    # Bounds catch typos: a code alive for a day, or 100 guesses at a 6-digit code, is unsafe.
    code_ttl_minutes: Annotated[int, Field(ge=1, le=60)] = 10
    code_max_attempts: Annotated[int, Field(ge=1, le=10)] = 5
    code_rate_window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60
    codes_per_window_per_address: Annotated[int, Field(ge=1, le=20)] = 3
    codes_per_window_per_account: Annotated[int, Field(ge=1, le=20)] = 3
    unrecognised_before_handoff: Annotated[int, Field(ge=1, le=10)] = 2
    usage_periods: Annotated[int, Field(ge=1, le=24)] = 6


DEFAULT_CONVERSATIONS_POLICY = ConversationsPolicy(version=1, effective_from=date(2025, 1, 1))


def load_conversations_policy(directory: Path = DEFAULT_POLICY_DIR) -> ConversationsPolicy:
    return load_policy("conversations", ConversationsPolicy, directory)
