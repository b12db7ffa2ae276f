"""The staff API for conversations (role agent; admins always): the inbox's list, one
conversation with its transcript, notes and the customer's context, and the agents' actions:
take over, reply (through the outbox), hand back to the bot, a private note. Every action is
audited (`billing_core/conversations/inbox.py`). The live stream of changes is
`GET /api/v1/conversations/events` (the live events package): its router must be included
before this one, or `events` would be taken for a conversation's id (and answered 404)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from api.auth import staff_router, staff_with_role
from api.deps import ClockDep, Id, SessionDep, SettingsDep, exact_json, json_body_doc
from api.errors import error_responses
from api.schemas import Day, Instant, Money, Out, StatementBill
from billing_core.conversations import inbox
from billing_core.conversations.agents import MAX_AGENT_BODY
from billing_core.ledger.policy import LateFeePolicy, load_late_fee_policy
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1/conversations", tags=["conversations"])
Agent = Annotated[StaffUser, Depends(staff_with_role(Role.agent))]
ONE = "/{conversation_id}"


class MessageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=MAX_AGENT_BODY)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(min_length=1, max_length=inbox.MAX_NOTE)


# --- the answers (each mirrors the JSON `billing_core/conversations/inbox.py` builds) -------


class InboxItem(Out):
    id: int
    channel: str
    address: str
    customer_name: str | None
    language: str
    state: str
    agent: str | None
    last_message_at: Instant
    last_body: str
    last_direction: str
    unread: int
    waiting_since: Instant | None
    waiting_seconds: int | None


class Inbox(Out):
    items: list[InboxItem]
    unread_conversations: int


class TranscriptMessage(Out):
    id: int
    direction: str
    author: str
    agent: str | None
    channel: str
    body: str
    status: str
    at: Instant


class Note(Out):
    id: int
    author: str
    body: str
    at: Instant


class Payment(Out):
    amount: Money
    currency: str
    channel: str
    received_at: Instant


class PayLink(Out):
    purpose: str
    bill_id: int | None
    expires_at: Instant


class OpenRequest(Out):
    id: int
    kind: str


class AccountContext(Out):
    number: str
    service_address: str
    status: str
    balance: Money
    amount_due: Money
    late_fees_open: Money
    overdue_bills: int
    oldest_overdue_due: Day | None
    current_bill: StatementBill | None
    last_payments: list[Payment]
    open_pay_links: list[PayLink]
    open_requests: list[OpenRequest]


class Sensitivity(Out):
    kind: str
    valid_from: Day
    valid_to: Day | None
    note: str


class ContactInfo(Out):
    channel: str
    address: str
    verified: bool
    notify: bool
    opted_out: bool
    unreachable: bool


class CustomerContext(Out):
    customer_id: int | None
    name: str | None
    language: str
    currency: str
    sender_opted_out: bool
    sensitivity: list[Sensitivity]
    contacts: list[ContactInfo]
    accounts: list[AccountContext]


class ConversationDetail(Out):
    id: int
    channel: str
    address: str
    language: str
    state: str
    agent: str | None
    queued_at: Instant | None
    last_message_at: Instant
    read_up_to: int
    messages: list[TranscriptMessage]
    notes: list[Note]
    customer: CustomerContext


class Owner(Out):
    id: int
    state: str
    agent: str | None


class AgentMessage(Out):
    id: int
    conversation_id: int
    body: str
    status: str
    outbox_message_id: int | None
    at: Instant


@cache
def _late_fees_last(directory: Path) -> bool:
    policy: LateFeePolicy = load_late_fee_policy(directory)
    return policy.late_fees_last


def _view(
    session: SessionDep, clock: ClockDep, settings: SettingsDep, user: StaffUser, number: int
) -> dict[str, Any]:
    return inbox.conversation_view(
        session=session, clock=clock, conversation_id=number, viewer=user.username,
        tz=settings.tz, currency=settings.currency,
        late_fees_last=_late_fees_last(settings.policy_dir),
    ).as_json()  # fmt: skip


@router.get("", summary="Conversations, newest activity first", response_model=Inbox,
            responses=error_responses(403))  # fmt: skip
def list_conversations(
    session: SessionDep,
    clock: ClockDep,
    user: Agent,
    state: inbox.Filter = "all",
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """`state`: `queued` (waiting for a person), `agent`, `bot`, `mine` (taken by you) or
    `all`; `unread=1`: only those with messages you have not read."""
    rows = inbox.list_conversations(
        session=session, viewer=user.username, state=state, unread_only=unread, limit=limit
    )
    now = clock.now()
    return {
        "items": [row.as_json(now) for row in rows],
        "unread_conversations": inbox.unread_conversations(session=session, viewer=user.username),
    }


@router.get(ONE, summary="A conversation: transcript, notes, the customer's context",
            response_model=ConversationDetail, responses=error_responses(403, 404))  # fmt: skip
def get_conversation(
    conversation_id: Id, session: SessionDep, clock: ClockDep, settings: SettingsDep, user: Agent
) -> dict[str, Any]:
    return _view(session, clock, settings, user, conversation_id)


@router.post(ONE + "/take-over", summary="Take the conversation over (one owner at a time)",
             response_model=Owner, responses=error_responses(403, 404, 409))  # fmt: skip
def take_over(
    conversation_id: Id, user: Agent, session: SessionDep, clock: ClockDep
) -> dict[str, Any]:
    inbox.take_over(session=session, clock=clock, conversation_id=conversation_id,
                    agent=user.username)  # fmt: skip
    return {"id": conversation_id, "state": "agent", "agent": user.username}


@router.post(ONE + "/hand-back", summary="Give the conversation back to the bot",
             response_model=Owner, responses=error_responses(403, 404, 409))  # fmt: skip
def hand_back(
    conversation_id: Id, user: Agent, session: SessionDep, clock: ClockDep
) -> dict[str, Any]:
    inbox.hand_back(session=session, clock=clock, conversation_id=conversation_id,
                    agent=user.username)  # fmt: skip
    return {"id": conversation_id, "state": "bot", "agent": None}


@router.post(ONE + "/reply", summary="Reply as the owning agent (through the outbox)",
             openapi_extra=json_body_doc(MessageBody), response_model=AgentMessage,
             responses=error_responses(403, 404, 409))  # fmt: skip
def reply(
    conversation_id: Id,
    user: Agent,  # its role is checked before the body is read
    body: Annotated[MessageBody, Depends(exact_json(MessageBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    message = inbox.reply(session=session, clock=clock, conversation_id=conversation_id,
                          agent=user.username, body=body.body)  # fmt: skip
    return {
        "id": message.id,
        "conversation_id": conversation_id,
        "body": message.body,
        "status": message.status,
        "outbox_message_id": message.outbox_message_id,
        "at": message.created_at.isoformat(),
    }


@router.post(ONE + "/notes", summary="A private note for staff", status_code=201,
             openapi_extra=json_body_doc(NoteBody), response_model=Note,
             responses=error_responses(403, 404))  # fmt: skip
def add_note(
    conversation_id: Id,
    user: Agent,
    body: Annotated[NoteBody, Depends(exact_json(NoteBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    note = inbox.add_note(session=session, clock=clock, conversation_id=conversation_id,
                          agent=user.username, body=body.body)  # fmt: skip
    return inbox.note_json(note)
