"""Telegram's updates as the conversation layer's messages: the sender is the Telegram user
id (a Contact's address on channel "telegram"), the provider's id the update id, so that a
redelivered update is a duplicate."""

from __future__ import annotations

from billing_core.clock import Clock
from billing_core.conversations.model import InboundMessage
from billing_core.customers.model import Channel

TELEGRAM = Channel.telegram.value
MAX_TEXT = 4096  # Telegram's own limit for a message's text


def inbound_message(*, update_id: int, user_id: int, body: str, clock: Clock) -> InboundMessage:
    return InboundMessage(
        channel=TELEGRAM,
        sender=str(user_id),
        body=body[:MAX_TEXT],
        provider_message_id=str(update_id),
        received_at=clock.now(),
    )


def contact_body(phone: str) -> str:
    """What the transcript keeps of a shared contact: not the number, its last digits."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"[contact ...{digits[-4:]}]"
