"""No message waits for a channel that cannot carry it.

A message whose channel this deployment has no transport for (Telegram without a bot token),
or whose contact the provider said cannot be reached (a user who blocked the bot), goes by the
customer's next verified channel: the same row, its channel, recipient and SMS segments
changed, `error_detail` saying why ("sent by sms: telegram not configured"). When no channel
is left it is `undeliverable`, with the reason, and never tried again. The choice is the pure
rule `billing_core.outbox.model.next_route`; this module loads what it needs and applies it.

The dispatcher runs `reroute_stranded` at the start of each drain, and `record_result`
(billing_core.outbox.dispatch) runs `reroute_unreachable` when a transport answers
`Outcome.unreachable`. Which channels the deployment delivers comes from the settings (the
composition root), not from one dispatcher's transports: with dispatchers split by channel,
one without Telegram must not take Telegram's messages away from the other."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, tuple_, update
from sqlmodel import Session

from billing_core.clock import Clock
from billing_core.customers.model import Channel
from billing_core.customers.tables import Contact
from billing_core.db.columns import table_of
from billing_core.db.prepared import Prepared
from billing_core.live.service import publish_status
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import SECRET_TEMPLATES
from billing_core.outbox.model import UNDELIVERABLE, ContactOption, next_route
from billing_core.outbox.tables import OptOut, OutboxMessage
from billing_core.outbox.transport import Claimed
from billing_core.transcripts.tables import ConversationMessage

OUTBOX = table_of(OutboxMessage)
CONTACT = table_of(Contact)
OPT_OUT = table_of(OptOut)
CONVERSATION_MESSAGE = table_of(ConversationMessage)
REROUTED = "rerouted"  # what `reroute_unreachable` reports for a row moved to another channel

_ROW = (
    OUTBOX.c.id,
    OUTBOX.c.status,
    OUTBOX.c.channel,
    OUTBOX.c.recipient,
    OUTBOX.c.customer_id,
    OUTBOX.c.kind,
    OUTBOX.c.template,
    OUTBOX.c.body,
)


class Rerouted(NamedTuple):
    rerouted: int  # moved to another channel, pending again
    undeliverable: int  # no channel left
    looked_at: int


def reroute_stranded(
    *, session: Session, clock: Clock, deliverable: Collection[str], limit: int = 500
) -> Rerouted:
    """Pending messages on a channel the deployment does not deliver (at most `limit`, oldest
    first): each goes by the customer's next channel, or is undeliverable. Call again while
    `looked_at == limit`."""
    rows = session.execute(
        select(*_ROW)
        .where(OUTBOX.c.status == "pending", OUTBOX.c.channel.not_in(list(deliverable)))
        .order_by(OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL: another dispatcher's rows are its own
    ).all()
    statuses = _reroute(session, clock, rows, why=_not_configured, deliverable=deliverable)
    dead = sum(1 for status in statuses.values() if status == UNDELIVERABLE)
    return Rerouted(len(statuses) - dead, dead, len(rows))


def _not_configured(row: Any) -> str:
    return f"{row.channel} not configured"


def reroute_unreachable(
    *,
    session: Session,
    clock: Clock,
    message: Claimed,
    reason: str,
    deliverable: Collection[str],
) -> str:
    """The provider said `message`'s recipient cannot be reached: its contacts are marked
    unreachable, and the message, with every other one pending to that address, goes by the
    customer's next channel. Returns what became of `message`: `rerouted` (pending on the
    new channel, due at once) or `undeliverable`."""
    mark_unreachable(
        session=session, clock=clock, channel=message.channel, address=message.recipient,
        reason=reason,
    )  # fmt: skip
    rows = session.execute(
        select(*_ROW).where(
            OUTBOX.c.channel == message.channel,
            OUTBOX.c.recipient == message.recipient,
            (OUTBOX.c.id == message.id) & (OUTBOX.c.status == "sending")
            | (OUTBOX.c.status == "pending"),
        )
    ).all()
    why = f"{message.channel} unreachable: {reason}"
    statuses = _reroute(session, clock, rows, why=lambda _row: why, deliverable=deliverable)
    return statuses.get(message.id, "unrecorded")


def mark_unreachable(
    *, session: Session, clock: Clock, channel: str, address: str, reason: str
) -> int:
    """Every contact on this address is unreachable from now, with the reason; automated
    messages then go by each customer's next channel (`reachable_contact` skips it).
    Returns how many contacts were marked."""
    result = session.execute(
        update(CONTACT)
        .where(CONTACT.c.channel == channel, CONTACT.c.address == address)
        .values(unreachable_at=clock.now(), unreachable_reason=reason[:200])
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Prepared: the conversation layer runs it for every message on a chat app (where a user who
# writes has not blocked the bot), and compiling it each time was 8 % of a Telegram answer.
_MARK_REACHABLE = Prepared(
    update(CONTACT)
    .where(
        CONTACT.c.channel == bindparam("of_channel"),
        CONTACT.c.address == bindparam("of_address"),
        CONTACT.c.unreachable_at.is_not(None),
    )
    .values(unreachable_at=None, unreachable_reason=None)
)


def mark_reachable(*, session: Session, channel: str, address: str) -> int:
    """The address can be reached again (the customer wrote from it): messages go to it
    again. Returns how many contacts changed."""
    params = {"of_channel": channel, "of_address": address}
    done = _MARK_REACHABLE.execute(session.connection(), params)
    return done.rowcount


def _reroute(
    session: Session,
    clock: Clock,
    rows: Sequence[Any],
    *,
    why: Callable[[Any], str],
    deliverable: Collection[str],
) -> dict[int, str]:
    """Apply `next_route` to each row (guarded by the status and channel it was read with:
    a row another dispatcher changed meanwhile is left alone); each row's new status."""
    if not rows:
        return {}
    options = _contact_options(session, {r.customer_id for r in rows if r.customer_id})
    moved: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    statuses: dict[int, str] = {}
    for row in rows:
        route = next_route(
            channel=row.channel,
            why=why(row),
            kind=row.kind,
            secret=row.template in SECRET_TEMPLATES,
            contacts=options.get(row.customer_id, ()),
            deliverable=deliverable,
        )
        guard = {"b_id": row.id, "b_status": row.status, "b_channel": row.channel}
        if route.channel is None:
            dead.append({**guard, "b_detail": route.detail[:500]})
            statuses[row.id] = UNDELIVERABLE
            continue
        segments = count_segments(row.body).parts if route.channel == Channel.sms else 1
        moved.append(
            {**guard, "b_to": route.channel, "b_address": route.address,
             "b_segments": segments, "b_detail": route.detail[:500]}
        )  # fmt: skip
        statuses[row.id] = REROUTED
    connection = session.connection()
    if moved:
        connection.execute(_MOVE, moved)
        connection.execute(
            _LINE_STATUS,
            [{"b_id": m["b_id"], "b_line": f"by {m['b_to']}"[:16]} for m in moved],
        )
    if dead:
        connection.execute(_GIVE_UP, dead)
        lines = [{"b_id": d["b_id"], "b_line": UNDELIVERABLE} for d in dead]
        connection.execute(_LINE_STATUS, lines)
    _publish_line_statuses(session, clock, [m["b_id"] for m in moved + dead])
    return statuses


def _publish_line_statuses(session: Session, clock: Clock, outbox_ids: list[int]) -> None:
    """The console's live events for the conversation lines `_LINE_STATUS` changed."""
    if not outbox_ids:
        return
    lines = session.execute(
        select(
            CONVERSATION_MESSAGE.c.id, CONVERSATION_MESSAGE.c.conversation_id,
            CONVERSATION_MESSAGE.c.outbox_message_id, CONVERSATION_MESSAGE.c.status,
        ).where(CONVERSATION_MESSAGE.c.outbox_message_id.in_(outbox_ids))
    ).all()  # fmt: skip
    for line in lines:
        publish_status(
            session, clock=clock, conversation_id=line.conversation_id, message_id=line.id,
            outbox_message_id=line.outbox_message_id, status=line.status,
        )  # fmt: skip


def _contact_options(
    session: Session, customer_ids: Iterable[int]
) -> dict[int, list[ContactOption]]:
    """Each customer's verified contacts, oldest first, with opt-outs from either record."""
    ids = list(customer_ids)
    if not ids:
        return {}
    contacts = session.execute(
        select(
            CONTACT.c.customer_id,
            CONTACT.c.channel,
            CONTACT.c.address,
            CONTACT.c.notify,
            CONTACT.c.opted_out,
            CONTACT.c.unreachable_at,
        )
        .where(CONTACT.c.customer_id.in_(ids), CONTACT.c.verified.is_(True))
        .order_by(CONTACT.c.id)
    ).all()
    addresses = list({(c.channel, c.address) for c in contacts})
    stopped: set[tuple[str, str]] = set()
    if addresses:
        stopped = {
            (channel, address)
            for channel, address in session.execute(
                select(OPT_OUT.c.channel, OPT_OUT.c.address).where(
                    tuple_(OPT_OUT.c.channel, OPT_OUT.c.address).in_(addresses)
                )
            ).all()
        }
    options: dict[int, list[ContactOption]] = {}
    for c in contacts:
        options.setdefault(c.customer_id, []).append(
            ContactOption(
                channel=c.channel,
                address=c.address,
                notify=bool(c.notify),
                opted_out=bool(c.opted_out) or (c.channel, c.address) in stopped,
                unreachable=c.unreachable_at is not None,
            )
        )
    return options


_GUARD = (
    OUTBOX.c.id == bindparam("b_id"),
    OUTBOX.c.status == bindparam("b_status"),
    OUTBOX.c.channel == bindparam("b_channel"),
)
_MOVE = (
    update(OUTBOX)
    .where(*_GUARD)
    .values(
        channel=bindparam("b_to"),
        recipient=bindparam("b_address"),
        segments=bindparam("b_segments"),
        status="pending",
        next_attempt_at=None,
        error_code=None,
        error_detail=bindparam("b_detail"),
    )
)
_GIVE_UP = (
    update(OUTBOX)
    .where(*_GUARD)
    .values(status=UNDELIVERABLE, next_attempt_at=None, error_detail=bindparam("b_detail"))
)
# The conversation line showing the message (if the conversation layer linked one).
_LINE_STATUS = (
    update(CONVERSATION_MESSAGE)
    .where(CONVERSATION_MESSAGE.c.outbox_message_id == bindparam("b_id"))
    .values(status=bindparam("b_line"))
)
