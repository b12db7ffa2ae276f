"""The outbox row as plain values: the one place its columns are laid out, for a message to
send and for one recorded as not sent (cancelled, with the reason); and the rule that picks
another channel for a message its own channel cannot carry (`next_route`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billing_core.customers.model import Channel

AUTOMATED = "automated"  # waits for the customer's allowed hours
REPLY = "reply"  # an answer to the customer's own action: sent at once
PENDING = "pending"
CANCELLED = "cancelled"
# Terminal: no channel is left that can carry the message; `error_detail` says why.
UNDELIVERABLE = "undeliverable"
# Channels a customer is reached on, in order of preference, for messages they did not ask
# for: the chat app first (free, richer), SMS otherwise.
CHANNEL_PREFERENCE: tuple[str, ...] = (Channel.telegram, Channel.sms)

# The columns `outbox_row` fills, in its order (for `bulk_insert`).
OUTBOX_COLUMNS = ("dedupe_key", "account_id", "customer_id", "channel", "recipient",
                  "template", "language", "body", "segments", "kind", "purpose", "priority",
                  "not_before", "status", "attempts", "error_detail", "cancelled_reason",
                  "created_at", "payload")  # fmt: skip


def outbox_row(
    *,
    dedupe_key: str,
    channel: str,
    recipient: str,
    template: str,
    language: str,
    body: str,
    segments: int,
    kind: str,
    purpose: str,
    not_before: datetime,
    created_at: datetime,
    account_id: int | None = None,
    customer_id: int | None = None,
    priority: int = 5,
    status: str = PENDING,
    reason: str = "",
    payload: str | None = None,
) -> tuple[Any, ...]:
    """One outbox row's values in `OUTBOX_COLUMNS` order: no attempt made yet; `reason` is
    why a row recorded as not sent (status `cancelled`) was not sent; `payload` is the JSON a
    richer channel adds to the text (buttons, a photo)."""
    return (dedupe_key, account_id, customer_id, channel, recipient, template, language, body,
            segments, kind, purpose, priority, not_before, status, 0, "", reason[:200],
            created_at, payload)  # fmt: skip


@dataclass(frozen=True)
class ContactOption:
    """One verified contact of a message's customer, as `next_route` sees it."""

    channel: str
    address: str
    notify: bool = True  # takes automated messages
    opted_out: bool = False  # said STOP on that address
    unreachable: bool = False  # the provider said it cannot be reached (a blocked bot)


@dataclass(frozen=True)
class Route:
    """Where a message goes instead of its own channel: `channel` None means nowhere (the
    message is undeliverable); `detail` is what the row records."""

    channel: str | None
    address: str
    detail: str


def next_route(
    *,
    channel: str,
    why: str,
    kind: str,
    secret: bool,
    contacts: Sequence[ContactOption],
    deliverable: Collection[str],
    preference: Sequence[str] = CHANNEL_PREFERENCE,
) -> Route:
    """The customer's next channel for a message that cannot go on `channel` (`why`: not
    configured, the contact unreachable): the first other channel in the order of preference
    that this deployment delivers and on which the customer has a usable contact (not opted
    out, not unreachable, and taking automated messages unless the message is a reply).
    A one-time code is never moved: it proves the address it was asked for."""
    if secret:
        return Route(None, "", f"undeliverable: {why}; a one-time code goes nowhere else")
    for other in preference:
        if other == channel or other not in deliverable:
            continue
        for contact in contacts:
            if (
                contact.channel == other
                and not contact.opted_out
                and not contact.unreachable
                and (contact.notify or kind == REPLY)
            ):
                return Route(other, contact.address, f"sent by {other}: {why}")
    return Route(None, "", f"undeliverable: {why}; no other verified channel")
