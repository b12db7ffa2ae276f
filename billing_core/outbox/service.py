"""Putting messages in the outbox (the dispatcher delivers them), choosing the contact a
customer is reached on, and cancelling messages a later event made moot."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select, update
from sqlmodel import Session, col

from billing_core.clock import Clock
from billing_core.customers.model import Channel
from billing_core.customers.tables import Contact
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert
from billing_core.dedupe_keys import settled_bill_purposes
from billing_core.messages.segments import count_segments
from billing_core.outbox.model import AUTOMATED, CANCELLED, OUTBOX_COLUMNS, outbox_row
from billing_core.outbox.model import CHANNEL_PREFERENCE as CHANNEL_PREFERENCE
from billing_core.outbox.model import REPLY as REPLY  # callers take the kinds from here
from billing_core.outbox.tables import OutboxMessage

OUTBOX = table_of(OutboxMessage)


class Recipient(NamedTuple):
    channel: str
    address: str


NOBODY = Recipient("none", "")  # the recipient of a message recorded as not sent to anyone


def reachable_contact(session: Session, customer_id: int) -> Recipient | None:
    """The verified contact, wanting notices, not opted out and not known to be unreachable
    (a Telegram user who blocked the bot), on the preferred channel."""
    contacts = session.scalars(
        select(Contact).where(
            col(Contact.customer_id) == customer_id, col(Contact.verified).is_(True),
            col(Contact.notify).is_(True), col(Contact.opted_out).is_(False),
            col(Contact.unreachable_at).is_(None),
        ).order_by(col(Contact.id))
    ).all()  # fmt: skip
    for channel in CHANNEL_PREFERENCE:
        for contact in contacts:
            if contact.channel == channel:
                return Recipient(contact.channel, contact.address)
    return None


def enqueue_message(
    *,
    session: Session,
    clock: Clock,
    dedupe_key: str,
    recipient: Recipient,
    template: str,
    language: str,
    body: str,
    kind: str = AUTOMATED,
    purpose: str = "",
    account_id: int | None = None,
    customer_id: int | None = None,
    not_before: datetime | None = None,
    priority: int = 5,
    payload: str | None = None,
) -> None:
    """One outbox row in the caller's transaction; a second call with the same dedupe key
    adds nothing (so a job run twice never sends twice). `payload`: JSON a richer channel
    adds to the text (buttons, a photo), ignored by SMS."""
    now = clock.now()
    segments = count_segments(body).parts if recipient.channel == Channel.sms else 1
    row = outbox_row(
        dedupe_key=dedupe_key, channel=recipient.channel, recipient=recipient.address,
        template=template, language=language, body=body, segments=segments, kind=kind,
        purpose=purpose, not_before=not_before or now, created_at=now, account_id=account_id,
        customer_id=customer_id, priority=priority, payload=payload,
    )  # fmt: skip
    _insert(session, row)


def record_unsent(
    *,
    session: Session,
    clock: Clock,
    dedupe_key: str,
    template: str,
    purpose: str,
    reason: str,
    recipient: Recipient = NOBODY,
    language: str = "",
    account_id: int | None = None,
    customer_id: int | None = None,
) -> None:
    """A message recorded as not sent: a cancelled outbox row with the reason, so staff see
    why nothing went and the job that decided does not look at it again (same dedupe key:
    a second call adds nothing)."""
    now = clock.now()
    row = outbox_row(
        dedupe_key=dedupe_key, channel=recipient.channel, recipient=recipient.address,
        template=template, language=language, body="", segments=0, kind=AUTOMATED,
        purpose=purpose, not_before=now, created_at=now, account_id=account_id,
        customer_id=customer_id, status=CANCELLED, reason=reason,
    )  # fmt: skip
    _insert(session, row)


def _insert(session: Session, row: tuple[object, ...]) -> None:
    bulk_insert(
        session.connection(), OUTBOX, OUTBOX_COLUMNS, [row], on_conflict_do_nothing=("dedupe_key",)
    )


def cancel_pending(*, session: Session, purposes: list[str], reason: str) -> int:
    """Cancel messages not yet sent whose purpose is one of these; returns how many."""
    if not purposes:
        return 0
    result = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.purpose.in_(purposes), OUTBOX.c.status == "pending")
        .values(status="cancelled", cancelled_reason=reason[:200])
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel_bill_messages(*, session: Session, bill_ids: list[int], reason: str) -> int:
    """Cancel every message still waiting about these bills (their notices and reminders),
    with the reason: what a payment that settled them does. Returns how many."""
    return cancel_pending(session=session, purposes=settled_bill_purposes(bill_ids), reason=reason)


def list_messages(
    *, session: Session, status: str, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Outbox messages in one status, newest first, as staff read them: where each was to
    go and why it went elsewhere or nowhere (`undeliverable`, `failed`, `cancelled` …)."""
    rows = session.execute(
        select(
            OUTBOX.c.id, OUTBOX.c.created_at, OUTBOX.c.channel, OUTBOX.c.recipient,
            OUTBOX.c.template, OUTBOX.c.kind, OUTBOX.c.purpose, OUTBOX.c.status,
            OUTBOX.c.attempts, OUTBOX.c.error_code, OUTBOX.c.error_detail,
            OUTBOX.c.cancelled_reason, OUTBOX.c.customer_id, OUTBOX.c.account_id,
        )
        .where(OUTBOX.c.status == status)
        .order_by(OUTBOX.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()  # fmt: skip
    return [{**row._asdict(), "created_at": row.created_at.isoformat()} for row in rows]
