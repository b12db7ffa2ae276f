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
    # The address cannot be reached on this channel (a Telegram user who blocked the bot, a
    # chat that is gone): the contact is marked unreachable and the message goes by the
    # customer's next channel (billing_core.outbox.fallback).
    unreachable = "unreachable"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    provider_id: str | None = None
    error_code: str | None = None
    detail: str = ""
    # Transient only: the provider said when to try again (Telegram's 429 `retry_after`,
    # seconds); the next attempt is not before then, instead of the usual backoff.
    retry_after: float | None = None


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
    and are handed to the dispatcher by api/, which chooses them from the settings.

    A transport may also have `recipient_interval` (seconds): the least time between two
    messages to one recipient (Telegram: one a second per chat), and `rate_burst` (seconds'
    worth of sends a sender that fell behind may catch up at once; 0.25 without it); the
    dispatcher keeps both."""

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
