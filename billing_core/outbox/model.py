"""The outbox row as plain values: the one place its columns are laid out, for a message to
send and for one recorded as not sent (cancelled, with the reason)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

AUTOMATED = "automated"  # waits for the customer's allowed hours
REPLY = "reply"  # an answer to the customer's own action: sent at once
PENDING = "pending"
CANCELLED = "cancelled"

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
