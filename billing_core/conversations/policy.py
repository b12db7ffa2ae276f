"""The conversations policy: one-time code lifetime and attempts, how many codes a number or
an account may be sent, when the bot asks, hands a conversation to a person or takes it
back, agents' hours, how many periods USAGE shows, and the canned replies agents insert in the
console. Loaded from `policies/conversations.yaml`."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing_core.customers.model import Language
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy

MAX_CANNED_TEXT = 1600  # an agent's message: what an SMS can carry (agents.MAX_AGENT_BODY)


class CannedReply(BaseModel):
    """A reply an agent inserts into the reply box (and may edit before sending), written in
    both languages: the console offers the conversation's language first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    title: Annotated[str, Field(min_length=1, max_length=60)]
    text: dict[Language, Annotated[str, Field(min_length=1, max_length=MAX_CANNED_TEXT)]]

    @model_validator(mode="after")
    def _both_languages(self) -> CannedReply:
        missing = [language.value for language in Language if language not in self.text]
        if missing:
            raise ValueError(f"canned reply {self.code!r} has no text in {', '.join(missing)}")
        return self


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
    # Free text the recogniser is less sure of than this gets a clarifying question.
    clarify_below: Annotated[float, Field(ge=0, le=1)] = 0.35
    # Agents answer in these local hours (every day); the customer is told when to expect one.
    agent_hours_start: time = time(8, 0)
    agent_hours_end: time = time(20, 0)
    agent_reply_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    # A queued conversation no agent takes within this goes back to the bot (customer told).
    queue_timeout_minutes: Annotated[int, Field(ge=5, le=7 * 24 * 60)] = 30
    # The number a customer with no power is given (the grid's 24-hour service line).
    service_line: Annotated[str, Field(min_length=3, max_length=32)] = "95598"
    # What an agent can insert into a reply with one click (both languages each).
    canned_replies: Annotated[tuple[CannedReply, ...], Field(max_length=50)] = ()

    @model_validator(mode="after")
    def _hours_in_order(self) -> ConversationsPolicy:
        if self.agent_hours_end <= self.agent_hours_start:
            raise ValueError("agent_hours_end must be after agent_hours_start")
        return self

    @model_validator(mode="after")
    def _canned_codes_unique(self) -> ConversationsPolicy:
        codes = [reply.code for reply in self.canned_replies]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"canned reply codes repeated: {', '.join(repeated)}")
        return self


DEFAULT_CONVERSATIONS_POLICY = ConversationsPolicy(version=1, effective_from=date(2025, 1, 1))


def load_conversations_policy(directory: Path = DEFAULT_POLICY_DIR) -> ConversationsPolicy:
    return load_policy("conversations", ConversationsPolicy, directory)
