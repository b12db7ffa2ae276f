"""The agents' inbox (the staff console and its JSON API): conversations across channels with
filters, unread counts and waiting times; one conversation's transcript, private notes and the
customer's context beside it; and the agents' actions, each audited: take over, reply, hand
back, a note, and a read mark.

The actions are the ones in `agents.py` (one owner at a time, replies through the outbox),
with the audit entry a person's action needs. Reads never write: a read mark is its own
action, sent by the page after it shows the messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from billing_core.audit.service import record_change
from billing_core.bills.statement import account_statement
from billing_core.clock import Clock
from billing_core.conversations import agents
from billing_core.conversations.model import AGENT, BOT, QUEUED
from billing_core.conversations.service import clean_text
from billing_core.customers.tables import (
    Account,
    Contact,
    Customer,
    CustomerRequest,
    CustomerSensitivity,
)
from billing_core.errors import InvalidInput, NotFound
from billing_core.ledger.model import BillStanding
from billing_core.live.service import BODY_CHARS, CONVERSATION_NOTE, publish
from billing_core.outbox.tables import OptOut
from billing_core.payments.tables import ACTIVE_LINK, PayLink, Payment
from billing_core.transcripts.tables import (
    Conversation,
    ConversationMessage,
    ConversationNote,
    ConversationRead,
)

Filter = Literal["queued", "agent", "bot", "mine", "all"]
FILTERS: tuple[Filter, ...] = ("queued", "mine", "agent", "bot", "all")
MAX_NOTE = 2000
SHOWN_MESSAGES = 200  # the newest of a conversation's messages on its page
_ZERO = Decimal(0)


def _actor(username: str) -> str:
    return f"staff:{username}"


# --- the list ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    id: int
    channel: str
    address: str
    customer_name: str | None
    language: str
    state: str
    agent: str | None
    last_message_at: datetime
    last_body: str  # what the customer said last (the first 200 characters)
    last_direction: str  # the newest message's: "out" once it was answered
    unread: int
    waiting_since: datetime | None  # a customer waits for a person (queued), or for an answer

    def waiting_seconds(self, now: datetime) -> int | None:
        if self.waiting_since is None:
            return None
        return max(0, int((now - self.waiting_since).total_seconds()))

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel": self.channel,
            "address": self.address,
            "customer_name": self.customer_name,
            "language": self.language,
            "state": self.state,
            "agent": self.agent,
            "last_message_at": self.last_message_at.isoformat(),
            "last_body": self.last_body,
            "last_direction": self.last_direction,
            "unread": self.unread,
            "waiting_since": self.waiting_since.isoformat() if self.waiting_since else None,
            "waiting_seconds": self.waiting_seconds(now),
        }


def _read_mark(viewer: str) -> Any:
    """How far `viewer` has read each conversation (0: nothing read), as a subquery."""
    return (
        select(
            col(ConversationRead.conversation_id).label("conversation_id"),
            col(ConversationRead.last_message_id).label("last_message_id"),
        )
        .where(col(ConversationRead.staff_username) == viewer)
        .subquery()
    )


def list_conversations(
    *,
    session: Session,
    viewer: str,
    state: Filter = "all",
    unread_only: bool = False,
    limit: int = 100,
) -> list[InboxRow]:
    """Conversations, newest activity first: those waiting for a person (`queued`), taken
    by an agent, with the bot, the viewer's own (`mine`) or all; with only what the viewer
    has not read when `unread_only`."""
    if state not in FILTERS:
        raise InvalidInput(f"state: one of {', '.join(FILTERS)}")
    read = _read_mark(viewer)
    seen = func.coalesce(read.c.last_message_id, 0)
    unread = (
        select(func.count())
        .where(
            col(ConversationMessage.conversation_id) == col(Conversation.id),
            col(ConversationMessage.direction) == "in",
            col(ConversationMessage.id) > seen,
        )
        .correlate(Conversation, read)
        .scalar_subquery()
    )
    query = (
        select(Conversation, col(Customer.name), unread.label("unread"))
        .outerjoin(read, read.c.conversation_id == col(Conversation.id))
        .outerjoin(Customer, col(Customer.id) == col(Conversation.customer_id))
    )
    if state == "mine":
        query = query.where(
            col(Conversation.state) == AGENT, col(Conversation.agent_username) == viewer
        )
    elif state != "all":
        query = query.where(col(Conversation.state) == state)
    if unread_only:
        query = query.where(unread > 0)
    rows = session.execute(
        query.order_by(col(Conversation.last_message_at).desc(), col(Conversation.id).desc()).limit(
            limit
        )
    ).all()
    ids = [conversation.id for conversation, _, _ in rows]
    last, said = _last_messages(session, ids), _last_messages(session, ids, direction="in")
    found = []
    for conversation, name, unread_count in rows:
        message, customer_said = last.get(conversation.id), said.get(conversation.id)
        found.append(
            InboxRow(
                id=conversation.id, channel=conversation.channel, address=conversation.address,
                customer_name=name, language=conversation.language, state=conversation.state,
                agent=conversation.agent_username, last_message_at=conversation.last_message_at,
                last_body=customer_said.body[:200] if customer_said else "",
                last_direction=message.direction if message else "",
                unread=int(unread_count or 0),
                waiting_since=_waiting_since(conversation, message),
            )
        )  # fmt: skip
    return found


def _last_messages(
    session: Session, ids: Sequence[int | None], *, direction: str | None = None
) -> dict[int, ConversationMessage]:
    """Each conversation's newest message (in that direction, when given)."""
    if not ids:
        return {}
    newest = select(func.max(col(ConversationMessage.id))).where(
        col(ConversationMessage.conversation_id).in_(ids)
    )
    if direction is not None:
        newest = newest.where(col(ConversationMessage.direction) == direction)
    newest = newest.group_by(col(ConversationMessage.conversation_id))
    messages = session.scalars(
        select(ConversationMessage).where(col(ConversationMessage.id).in_(newest))
    ).all()
    return {message.conversation_id: message for message in messages}


def _waiting_since(conversation: Conversation, last: ConversationMessage | None) -> datetime | None:
    """Since when the customer waits: for a person while queued; for an answer while an
    agent has it and the customer wrote last."""
    if conversation.state == QUEUED:
        return conversation.queued_at or conversation.last_message_at
    if conversation.state == AGENT and last is not None and last.direction == "in":
        return last.created_at
    return None


def unread_conversations(*, session: Session, viewer: str) -> int:
    """How many conversations waiting for a person or owned by the viewer have messages the
    viewer has not read (the console's badge)."""
    read = _read_mark(viewer)
    query = (
        select(func.count(func.distinct(col(ConversationMessage.conversation_id))))
        .select_from(ConversationMessage)
        .join(Conversation, col(Conversation.id) == col(ConversationMessage.conversation_id))
        .outerjoin(read, read.c.conversation_id == col(ConversationMessage.conversation_id))
        .where(
            col(ConversationMessage.direction) == "in",
            col(ConversationMessage.id) > func.coalesce(read.c.last_message_id, 0),
            (col(Conversation.state) == QUEUED)
            | and_(col(Conversation.state) == AGENT, col(Conversation.agent_username) == viewer),
        )
    )
    return int(session.execute(query).scalar_one())


# --- one conversation -------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountContext:
    number: str
    service_address: str
    status: str
    balance: Decimal
    amount_due: Decimal
    late_fees_open: Decimal
    overdue_bills: int
    oldest_overdue_due: date | None
    current_bill: dict[str, Any] | None  # the newest issued bill, as the statement has it
    last_payments: tuple[dict[str, Any], ...]
    open_pay_links: tuple[dict[str, Any], ...]
    open_requests: tuple[dict[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "service_address": self.service_address,
            "status": self.status,
            "balance": str(self.balance),
            "amount_due": str(self.amount_due),
            "late_fees_open": str(self.late_fees_open),
            "overdue_bills": self.overdue_bills,
            "oldest_overdue_due": (
                self.oldest_overdue_due.isoformat() if self.oldest_overdue_due else None
            ),
            "current_bill": self.current_bill,
            "last_payments": list(self.last_payments),
            "open_pay_links": list(self.open_pay_links),
            "open_requests": list(self.open_requests),
        }


@dataclass(frozen=True)
class CustomerContext:
    """What an agent sees beside a conversation: who the customer is (when the sender is
    verified), their accounts' position, flags that change how to treat them, how to reach
    them."""

    customer_id: int | None
    name: str | None
    language: str
    currency: str
    sender_opted_out: bool  # the conversation's own address said STOP
    sensitivity: tuple[dict[str, Any], ...] = ()
    contacts: tuple[dict[str, Any], ...] = ()
    accounts: tuple[AccountContext, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "language": self.language,
            "currency": self.currency,
            "sender_opted_out": self.sender_opted_out,
            "sensitivity": list(self.sensitivity),
            "contacts": list(self.contacts),
            "accounts": [account.as_json() for account in self.accounts],
        }


@dataclass(frozen=True)
class ConversationView:
    conversation: Conversation
    messages: tuple[ConversationMessage, ...]  # oldest first
    notes: tuple[ConversationNote, ...]  # oldest first
    read_up_to: int  # the viewer's read mark
    context: CustomerContext
    newest_message_id: int = field(default=0)

    def as_json(self) -> dict[str, Any]:
        conversation = self.conversation
        return {
            "id": conversation.id,
            "channel": conversation.channel,
            "address": conversation.address,
            "language": conversation.language,
            "state": conversation.state,
            "agent": conversation.agent_username,
            "queued_at": conversation.queued_at.isoformat() if conversation.queued_at else None,
            "last_message_at": conversation.last_message_at.isoformat(),
            "read_up_to": self.read_up_to,
            "messages": [
                {
                    "id": m.id,
                    "direction": m.direction,
                    "author": m.author,
                    "agent": m.agent_username,
                    "channel": m.channel,
                    "body": m.body,
                    "status": m.status,
                    "at": m.created_at.isoformat(),
                }
                for m in self.messages
            ],
            "notes": [note_json(n) for n in self.notes],
            "customer": self.context.as_json(),
        }


def note_json(note: ConversationNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "author": note.author,
        "body": note.body,
        "at": note.created_at.isoformat(),
    }


def conversation_view(
    *,
    session: Session,
    clock: Clock,
    conversation_id: int,
    viewer: str,
    tz: ZoneInfo,
    currency: str,
    late_fees_last: bool = True,
) -> ConversationView:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id}")
    messages = session.scalars(
        select(ConversationMessage)
        .where(col(ConversationMessage.conversation_id) == conversation_id)
        .order_by(col(ConversationMessage.id).desc())
        .limit(SHOWN_MESSAGES)
    ).all()
    notes = session.scalars(
        select(ConversationNote)
        .where(col(ConversationNote.conversation_id) == conversation_id)
        .order_by(col(ConversationNote.id))
    ).all()
    read_up_to = session.scalars(
        select(col(ConversationRead.last_message_id)).where(
            col(ConversationRead.conversation_id) == conversation_id,
            col(ConversationRead.staff_username) == viewer,
        )
    ).first()
    return ConversationView(
        conversation=conversation,
        messages=tuple(reversed(messages)),
        notes=tuple(notes),
        read_up_to=read_up_to or 0,
        context=customer_context(
            session=session,
            clock=clock,
            conversation=conversation,
            tz=tz,
            currency=currency,
            late_fees_last=late_fees_last,
        ),
        newest_message_id=messages[0].id or 0 if messages else 0,
    )


def customer_context(
    *,
    session: Session,
    clock: Clock,
    conversation: Conversation,
    tz: ZoneInfo,
    currency: str,
    late_fees_last: bool = True,
) -> CustomerContext:
    now = clock.now()
    today = now.astimezone(tz).date()
    opted_out = (
        session.scalars(
            select(col(OptOut.id)).where(
                col(OptOut.channel) == conversation.channel,
                col(OptOut.address) == conversation.address,
            )
        ).first()
        is not None
    )
    if conversation.customer_id is None:  # an unverified sender: no customer's data
        return CustomerContext(
            customer_id=None, name=None, language=conversation.language, currency=currency,
            sender_opted_out=opted_out,
        )  # fmt: skip
    customer = session.get(Customer, conversation.customer_id)
    if customer is None:
        raise NotFound(f"no customer {conversation.customer_id}")
    flags = session.scalars(
        select(CustomerSensitivity).where(
            col(CustomerSensitivity.customer_id) == customer.id,
            col(CustomerSensitivity.valid_from) <= today,
            (col(CustomerSensitivity.valid_to).is_(None))
            | (col(CustomerSensitivity.valid_to) >= today),
        )
    ).all()
    contacts = session.scalars(
        select(Contact).where(col(Contact.customer_id) == customer.id).order_by(col(Contact.id))
    ).all()
    accounts = session.scalars(
        select(Account).where(col(Account.customer_id) == customer.id).order_by(col(Account.id))
    ).all()
    return CustomerContext(
        customer_id=customer.id,
        name=customer.name,
        language=customer.language,
        currency=currency,
        sender_opted_out=opted_out,
        sensitivity=tuple(
            {
                "kind": f.kind,
                "valid_from": f.valid_from.isoformat(),
                "valid_to": f.valid_to.isoformat() if f.valid_to else None,
                "note": f.note,
            }
            for f in flags
        ),
        contacts=tuple(
            {
                "channel": c.channel,
                "address": c.address,
                "verified": c.verified,
                "notify": c.notify,
                "opted_out": c.opted_out,
                "unreachable": c.unreachable_at is not None,
            }
            for c in contacts
        ),
        accounts=tuple(
            _account_context(
                session,
                account,
                now=now,
                today=today,
                currency=currency,
                late_fees_last=late_fees_last,
            )
            for account in accounts
        ),
    )


def _account_context(
    session: Session,
    account: Account,
    *,
    now: datetime,
    today: date,
    currency: str,
    late_fees_last: bool,
) -> AccountContext:
    assert account.id is not None
    statement = account_statement(
        session=session, account_id=account.id, today=today, currency=currency,
        late_fees_last=late_fees_last,
    )  # fmt: skip
    overdue = [b for b in statement.bills if b.standing == BillStanding.overdue]
    payments = session.scalars(
        select(Payment)
        .where(col(Payment.account_id) == account.id)
        .order_by(col(Payment.received_at).desc(), col(Payment.id).desc())
        .limit(3)
    ).all()
    links = session.scalars(
        select(PayLink)
        .where(
            col(PayLink.account_id) == account.id,
            ACTIVE_LINK,
            col(PayLink.expires_at) > now,  # expired by time: not open, whatever its row says
        )
        .order_by(col(PayLink.id).desc())
    ).all()
    requests = session.scalars(
        select(CustomerRequest)
        .where(col(CustomerRequest.account_id) == account.id, col(CustomerRequest.status) == "open")
        .order_by(col(CustomerRequest.id))
    ).all()
    return AccountContext(
        number=account.number,
        service_address=account.service_address,
        status=account.status,
        balance=statement.balance,
        amount_due=statement.amount_due,
        late_fees_open=statement.late_fees_open,
        overdue_bills=len(overdue),
        oldest_overdue_due=overdue[0].due_date if overdue else None,
        current_bill=statement.bills[-1].as_json() if statement.bills else None,
        last_payments=tuple(
            {
                "amount": str(p.amount),
                "currency": p.currency,
                "channel": p.channel,
                "received_at": p.received_at.isoformat(),
            }
            for p in payments
        ),
        open_pay_links=tuple(
            {
                "purpose": link.purpose,
                "bill_id": link.bill_id,
                "expires_at": link.expires_at.isoformat(),
            }
            for link in links
        ),
        open_requests=tuple({"id": r.id, "kind": r.kind} for r in requests),
    )


# --- the agents' actions, audited -------------------------------------------------------------


def _audit(
    session: Session,
    clock: Clock,
    *,
    agent: str,
    action: str,
    conversation_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str,
) -> None:
    record_change(
        session=session, clock=clock, actor=_actor(agent), action=action, entity="conversation",
        entity_id=conversation_id, before=before, after=after, reason=reason,
    )  # fmt: skip


def _owner(session: Session, conversation_id: int) -> dict[str, Any]:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id}")
    return {"state": conversation.state, "agent": conversation.agent_username}


def take_over(*, session: Session, clock: Clock, conversation_id: int, agent: str) -> None:
    """The agent owns the conversation (one owner: another's is a Conflict)."""
    row = agents.take_over(session=session, clock=clock, conversation_id=conversation_id,
                           agent=agent)  # fmt: skip
    _audit(
        session, clock, agent=agent, action="conversation.take_over",
        conversation_id=conversation_id, before=None, after={"state": row.state, "agent": agent},
        reason="taken over in the console",
    )  # fmt: skip


def hand_back(*, session: Session, clock: Clock, conversation_id: int, agent: str) -> None:
    """Back to the bot (from the queue, or from this agent)."""
    row = agents.release(session=session, clock=clock, conversation_id=conversation_id,
                         agent=agent)  # fmt: skip
    _audit(
        session, clock, agent=agent, action="conversation.hand_back",
        conversation_id=conversation_id, before={"agent": agent}, after={"state": row.state},
        reason="handed back to the bot",
    )  # fmt: skip


def reply(
    *, session: Session, clock: Clock, conversation_id: int, agent: str, body: str
) -> ConversationMessage:
    """The owning agent's message, through the outbox."""
    message = agents.send_agent_message(
        session=session, clock=clock, conversation_id=conversation_id, agent=agent, body=body
    )
    _audit(
        session, clock, agent=agent, action="conversation.reply", conversation_id=conversation_id,
        before=None, after={"message_id": message.id, "outbox_message_id":
                            message.outbox_message_id},
        reason="an agent's reply",
    )  # fmt: skip
    return message


def add_note(
    *, session: Session, clock: Clock, conversation_id: int, agent: str, body: str
) -> ConversationNote:
    """A private note for staff (any agent may write one, owner or not)."""
    text = clean_text(body).strip()
    if not text:
        raise InvalidInput("body: the note is empty")
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"body: a note is at most {MAX_NOTE} characters")
    _owner(session, conversation_id)  # NotFound for a conversation that is not there
    note = ConversationNote(
        conversation_id=conversation_id, author=agent, body=text, created_at=clock.now()
    )
    session.add(note)
    session.flush()
    _audit(
        session, clock, agent=agent, action="conversation.note", conversation_id=conversation_id,
        before=None, after={"note_id": note.id}, reason="a private note",
    )  # fmt: skip
    # Colleagues with the conversation open see the note as it is written (docs/live.md).
    publish(session, clock=clock, kind=CONVERSATION_NOTE, conversation_id=conversation_id,
            payload={"note_id": note.id, "author": agent, "body": text[:BODY_CHARS]})  # fmt: skip
    return note


def mark_read(
    *, session: Session, clock: Clock, conversation_id: int, viewer: str, up_to: int
) -> int:
    """The viewer has read the conversation up to message `up_to` (never moves back, never
    past its newest message). Returns the read mark. Not audited: it changes nothing of the
    customer's."""
    newest = session.scalars(
        select(func.max(col(ConversationMessage.id))).where(
            col(ConversationMessage.conversation_id) == conversation_id
        )
    ).one()
    _owner(session, conversation_id)
    up_to = min(max(up_to, 0), newest or 0)
    mark = _read_mark_row(session, conversation_id, viewer)
    if mark is None:
        try:
            with session.begin_nested():  # two tabs marking at once: one inserts
                mark = ConversationRead(
                    conversation_id=conversation_id, staff_username=viewer,
                    last_message_id=up_to, read_at=clock.now(),
                )  # fmt: skip
                session.add(mark)
            return up_to
        except IntegrityError:
            mark = _read_mark_row(session, conversation_id, viewer)
            assert mark is not None
    if up_to > mark.last_message_id:
        mark.last_message_id, mark.read_at = up_to, clock.now()
        session.add(mark)
        session.flush()
    return mark.last_message_id


def _read_mark_row(session: Session, conversation_id: int, viewer: str) -> ConversationRead | None:
    return session.scalars(
        select(ConversationRead)
        .where(
            col(ConversationRead.conversation_id) == conversation_id,
            col(ConversationRead.staff_username) == viewer,
        )
        .with_for_update()
    ).first()


STATE_LABELS = {QUEUED: "waiting for a person", AGENT: "with an agent", BOT: "with the bot"}
