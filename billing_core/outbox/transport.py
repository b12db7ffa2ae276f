"""The seam between the outbox and a channel's provider: what a transport is handed (`Claimed`),
what it answers (`SendResult`), and what a delivery receipt says (`Report`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    """What a provider said about one message, in the dispatcher's terms."""

    sent = "sent"  # accepted; a delivery receipt may follow
    delivered = "delivered"  # delivered already (the offline transport)
    transient = "transient"  # try again later (5xx, 429, unreachable handset, network)
    permanent = "permanent"  # will never work (invalid number, refused content)
    opted_out = "opted_out"  # the provider says the recipient opted out (Twilio 21610)


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    error_code: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Claimed:
    """A message claimed for sending: what a transport needs, and nothing it can change."""

    id: int
    channel: str
    recipient: str
    body: str
    kind: str
    template: str
    segments: int
    attempts: int  # including this one
    conversation_id: int | None = None  # the recipient's conversation, to show the message in
    payload: str | None = None  # JSON a richer channel adds to the text (buttons, a photo)


class Transport(Protocol):
    """Sends one message on one channel. Implementations live in the adapters (sms/, bot/)
    and are handed to the dispatcher by api/, which chooses them from the settings."""

    channel: str
    sender: str  # what the provider rate-limits: a number, a messaging service, a bot

    def send(self, message: Claimed) -> SendResult: ...


class Report(StrEnum):
    """A delivery receipt, in the dispatcher's terms (sms/status.py maps Twilio's)."""

    sent = "sent"
    delivered = "delivered"
    transient = "transient"  # undelivered, worth another try (e.g. handset unreachable)
    permanent = "permanent"
    opted_out = "opted_out"
