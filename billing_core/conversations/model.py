"""Plain values at the conversation layer's edge: what an adapter hands in, what it gets
back. Adapters (sms/, bot/) translate their wire formats to and from these."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class InboundMessage(NamedTuple):
    channel: str  # "sms", "telegram"
    sender: str  # E.164 for SMS; the Telegram user id for Telegram
    body: str
    provider_message_id: str | None  # Twilio MessageSid, Telegram update id: retries repeat it
    received_at: datetime
    opt_out_type: str | None = None  # what the provider already recognised (Twilio OptOutType)


class Outcome(NamedTuple):
    conversation_id: int
    reply: str | None  # the answer to send at once; None: stay silent (an agent owns it)
    language: str
    duplicate: bool = False  # the provider id was seen before: nothing new happened
    intent: str | None = None  # what the message was recognised as (IntentKind value)
