"""Delivering the outbox: record what the provider said about each claimed message, and what
its delivery receipts say later.

The dispatcher (scheduler/dispatcher.py) runs `claim_batch` (billing_core.outbox.claims) in
one short transaction, sends each claimed message through a transport (sms/transport.py,
injected: the protocol is billing_core.outbox.transport, and the core imports no provider
library), and runs `record_result` for each in its own transaction, committed as soon as the
provider answers; transient failures are retried by the policy in billing_core.outbox.retry.
Delivery receipts (sms/status.py) go to `record_delivery_report`.

Crash safety (at least once, never twice where the provider id is known):
- A crash before the provider is called leaves the row `sending` with no provider id: when
  its lease expires the next claim returns it to `pending` and it is sent then.
- A row with a provider id is never sent again: the provider id and the new status are one
  UPDATE, committed per message as soon as the provider answers.
- The window that remains: the provider accepted the message, and the process died (or the
  database was unreachable) before that commit. We cannot know the provider id, so after
  the lease the message is sent a second time. Twilio's Messages API has no idempotency
  key to close this; the window is one HTTP response plus one commit per message.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.db.columns import table_of
from billing_core.live.service import MESSAGE_OUT, message_payload, publish, publish_status
from billing_core.messages.templates import SECRET_TEMPLATES, redact_codes
from billing_core.outbox.fallback import reroute_unreachable
from billing_core.outbox.model import AUTOMATED, CHANNEL_PREFERENCE
from billing_core.outbox.optouts import record_opt_out
from billing_core.outbox.retry import DEFAULT_RETRY, RetryPolicy
from billing_core.outbox.tables import OutboxMessage
from billing_core.outbox.transport import Claimed, Outcome, Report, SendResult
from billing_core.transcripts.tables import Conversation, ConversationMessage

OUTBOX = table_of(OutboxMessage)
CONVERSATION = table_of(Conversation)
CONVERSATION_MESSAGE = table_of(ConversationMessage)


def record_result(
    *,
    session: Session,
    clock: Clock,
    message: Claimed,
    result: SendResult,
    retry: RetryPolicy = DEFAULT_RETRY,
    rand: Callable[[], float] = random.random,
    deliverable: Collection[str] = CHANNEL_PREFERENCE,
) -> str:
    """Store what the provider said about a claimed message; returns the row's new status
    (`rerouted`: an unreachable recipient's message is pending again on the customer's next
    channel among `deliverable`, see billing_core.outbox.fallback). Run it in its own
    transaction and commit at once (see the module's crash notes)."""
    now = clock.now()
    if result.outcome in (Outcome.sent, Outcome.delivered):
        status = result.outcome.value
        # A row whose lease expired meanwhile may have been claimed again: the provider id
        # still wins (`provider_id IS NULL`), so the other claim's send is recorded as a
        # duplicate rather than this one being lost.
        done = session.connection().execute(
            _MARK_SENT,
            {
                "m_id": message.id,
                "m_status": status,
                "m_provider_id": result.provider_id,
                "m_now": now,
                "m_delivered_at": now if status == "delivered" else None,
            },
        )
        if not done.rowcount:
            return "duplicate"
        _log_in_conversation(session, clock, message, status, result.provider_id, now)
        return status
    if result.outcome == Outcome.unreachable:
        return reroute_unreachable(
            session=session, clock=clock, message=message,
            reason=result.detail or f"error {result.error_code}", deliverable=deliverable,
        )  # fmt: skip
    if result.outcome == Outcome.transient:
        status = "failed" if retry.gives_up(message.attempts) else "pending"
        # The provider's own "retry after" wins over the backoff: not before it, not later.
        wait = (
            retry.delay(message.attempts, rand())
            if result.retry_after is None
            else timedelta(seconds=result.retry_after)
        )
        values: dict[str, Any] = {
            "status": status,
            "error_code": _code(result.error_code),
            "error_detail": _detail(result, message.attempts),
            "next_attempt_at": None if status == "failed" else now + wait,
        }
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == message.id, OUTBOX.c.status == "sending")
            .values(**values)
        )
        if status == "failed":
            _log_in_conversation(session, clock, message, "failed", None, now)
        return status
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == message.id, OUTBOX.c.status == "sending")
        .values(
            status="failed",
            error_code=_code(result.error_code),
            error_detail=_detail(result, message.attempts),
            next_attempt_at=None,
        )
    )
    if result.outcome == Outcome.opted_out:
        record_opt_out(
            session=session,
            clock=clock,
            channel=message.channel,
            address=message.recipient,
            source=f"provider {result.error_code or ''}",
        )
    _log_in_conversation(session, clock, message, "failed", None, now)
    return "failed"


def put_back(*, session: Session, clock: Clock, message: Claimed, until: datetime) -> bool:
    """A claimed message the dispatcher chose not to send now (its recipient is busy) goes
    back to `pending`, due at `until`; the claim does not count as an attempt."""
    result = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == message.id, OUTBOX.c.status == "sending")
        .values(status="pending", next_attempt_at=until, attempts=OUTBOX.c.attempts - 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_delivery_report(
    *,
    session: Session,
    clock: Clock,
    provider_id: str,
    report: Report,
    error_code: str | None = None,
    detail: str = "",
    retry: RetryPolicy = DEFAULT_RETRY,
    rand: Callable[[], float] = random.random,
) -> str | None:
    """Apply a delivery receipt to the message with this provider id; returns its new status
    (None: no such message). Receipts may come late and out of order: a delivered message
    stays delivered. An undelivered message worth another try goes back to `pending`
    (a new send, with a new provider id; the old one is kept in `error_detail`)."""
    row = session.execute(
        select(
            OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.attempts, OUTBOX.c.channel, OUTBOX.c.recipient
        ).where(OUTBOX.c.provider_id == provider_id)
    ).first()
    if row is None:
        return None
    now = clock.now()
    where = [OUTBOX.c.id == row.id, OUTBOX.c.provider_id == provider_id]
    if row.status in ("delivered", "cancelled") or (
        row.status == "failed" and report != Report.delivered
    ):
        return str(row.status)
    values: dict[str, Any]
    if report == Report.sent:
        if row.status == "sent":
            return "sent"
        values = {"status": "sent", "sent_at": now, "next_attempt_at": None}
    elif report == Report.delivered:
        values = {
            "status": "delivered",
            "delivered_at": now,
            "next_attempt_at": None,
            "error_code": None,
        }
    elif report == Report.transient and not retry.gives_up(row.attempts):
        values = {
            "status": "pending",
            "provider_id": None,
            "error_code": _code(error_code),
            "error_detail": f"{provider_id} undelivered ({error_code}) {detail}".strip()[:500],
            "next_attempt_at": now + retry.delay(row.attempts, rand()),
        }
    else:
        values = {
            "status": "failed",
            "error_code": _code(error_code),
            "error_detail": f"{provider_id}: {detail}".strip()[:500],
        }
        if report == Report.opted_out:
            record_opt_out(
                session=session,
                clock=clock,
                channel=row.channel,
                address=row.recipient,
                source=f"provider {error_code or ''}",
            )
    session.execute(update(OUTBOX).where(*where).values(**values))
    lines = session.execute(
        update(CONVERSATION_MESSAGE)
        .where(CONVERSATION_MESSAGE.c.outbox_message_id == row.id)
        .values(status=values["status"])
        .returning(CONVERSATION_MESSAGE.c.id, CONVERSATION_MESSAGE.c.conversation_id)
    ).all()
    for line_id, conversation_id in lines:
        publish_status(
            session, clock=clock, conversation_id=conversation_id, message_id=line_id,
            outbox_message_id=row.id, status=str(values["status"]),
        )  # fmt: skip
    return str(values["status"])


# Built once: the dispatcher runs these for every message sent.
_MARK_SENT = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("m_id"), OUTBOX.c.provider_id.is_(None))
    .values(
        status=bindparam("m_status"),
        provider_id=bindparam("m_provider_id"),
        sent_at=bindparam("m_now"),
        delivered_at=bindparam("m_delivered_at"),
        next_attempt_at=None,
        error_code=None,
    )
)


def _code(code: str | None) -> str | None:
    return code[:32] if code else None


def _detail(result: SendResult, attempts: int) -> str:
    return f"attempt {attempts}: {result.detail}".strip()[:500]


def _log_in_conversation(
    session: Session,
    clock: Clock,
    message: Claimed,
    status: str,
    provider_id: str | None,
    now: datetime,
) -> None:
    """Show the message in its recipient's conversation (the staff console follows it): the
    conversation layer may have logged it already (linked by outbox id), else a line is
    added if the recipient has a conversation (looked up at claim time). No conversation is
    created."""
    conversation_id = message.conversation_id
    if conversation_id is None:
        return  # nobody to show it to (and so no line the conversation layer linked)
    values: dict[str, Any] = {"status": status}
    if provider_id is not None:
        values["provider_message_id"] = provider_id
    linked = session.execute(
        update(CONVERSATION_MESSAGE)
        .where(
            CONVERSATION_MESSAGE.c.conversation_id == conversation_id,
            CONVERSATION_MESSAGE.c.outbox_message_id == message.id,
        )
        .values(**values)
        .returning(CONVERSATION_MESSAGE.c.id)
    ).all()
    for (line_id,) in linked:
        publish_status(
            session, clock=clock, conversation_id=conversation_id, message_id=line_id,
            outbox_message_id=message.id, status=status,
        )  # fmt: skip
    if linked:
        return
    author = "system" if message.kind == AUTOMATED else "bot"
    # a one-time code goes to the phone, never into what staff read
    body = redact_codes(message.body) if message.template in SECRET_TEMPLATES else message.body
    line_id = session.execute(
        insert(CONVERSATION_MESSAGE)
        .values(
            conversation_id=conversation_id,
            direction="out",
            author=author,
            channel=message.channel,
            body=body,
            provider_message_id=provider_id,
            status=status,
            outbox_message_id=message.id,
            created_at=now,
        )
        .returning(CONVERSATION_MESSAGE.c.id)
    ).scalar_one()
    payload = message_payload(
        message_id=line_id, author=author, channel=message.channel, body=body, status=status
    )
    publish(session, clock=clock, kind=MESSAGE_OUT, conversation_id=conversation_id,
            payload=payload)  # fmt: skip
    session.execute(
        update(CONVERSATION)
        .where(CONVERSATION.c.id == conversation_id, CONVERSATION.c.last_message_at < now)
        .values(last_message_at=now)
    )


def outbox_counts(session: Session, statuses: Iterable[str] | None = None) -> dict[str, int]:
    """How many outbox rows are in each status (for the CLI and the benchmark)."""
    query = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
    if statuses is not None:
        query = query.where(OUTBOX.c.status.in_(list(statuses)))
    return {status: int(count) for status, count in session.execute(query).all()}
