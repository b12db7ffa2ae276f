"""What agents do in a conversation (the staff console): take it over from the queue, write
in it, give it back to the bot; and the bot's own messages outside an answer: a reply sent
through the outbox, and a queue nobody took given back."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from sqlalchemy import func, select
from sqlmodel import Session, col

from billing_core.clock import Clock
from billing_core.conversations import replies
from billing_core.conversations import repository as conversations
from billing_core.conversations.model import AGENT, BOT, QUEUED, Reply, reply_text
from billing_core.conversations.repository import ConversationRow
from billing_core.conversations.service import (
    ConversationContext,
    clean_provider_id,
    clean_text,
    publish_message,
    publish_state,
)
from billing_core.dedupe_keys import (
    agent_message_key,
    conversation_purpose,
    conversation_reply_key,
    queue_released_key,
)
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.live.service import MESSAGE_OUT
from billing_core.outbox.service import REPLY, Recipient, enqueue_message
from billing_core.outbox.tables import OutboxMessage
from billing_core.transcripts.tables import Conversation, ConversationMessage

MAX_AGENT_BODY = 1600  # an agent's message: what an SMS can carry


def take_over(
    *, session: Session, clock: Clock, conversation_id: int, agent: str
) -> ConversationRow:
    """The agent owns the conversation: the bot goes quiet (except for help and opt-out).
    Taking one another agent owns is a Conflict."""
    conversation = _locked_conversation(session, conversation_id)
    if conversation.state == AGENT and conversation.agent_username not in (None, agent):
        raise Conflict(f"{conversation.agent_username} already has this conversation")
    conversation.state, conversation.agent_username = AGENT, agent
    conversation.unrecognised_streak, conversation.queued_at = 0, None
    _save_for_agent(session, conversation, clock, keep_later=True)
    publish_state(session, clock, conversation)
    return conversation


def release(*, session: Session, clock: Clock, conversation_id: int, agent: str) -> ConversationRow:
    """Give the conversation back to the bot (from the queue, or from this agent)."""
    conversation = _locked_conversation(session, conversation_id)
    if conversation.state == AGENT and conversation.agent_username != agent:
        raise Conflict(f"{conversation.agent_username} has this conversation")
    conversation.state, conversation.agent_username = BOT, None
    conversation.unrecognised_streak, conversation.queued_at = 0, None
    _save_for_agent(session, conversation, clock, keep_later=True)
    publish_state(session, clock, conversation)
    return conversation


def send_agent_message(
    *, session: Session, clock: Clock, conversation_id: int, agent: str, body: str
) -> ConversationMessage:
    """The agent's message, stored (author agent) and put in the outbox as a reply (sent at
    once, not held for quiet hours). The agent must own the conversation."""
    text = clean_text(body).strip()
    if not text:
        raise InvalidInput("the message is empty")
    if len(text) > MAX_AGENT_BODY:
        raise InvalidInput(f"the message is longer than {MAX_AGENT_BODY} characters")
    conversation = _locked_conversation(session, conversation_id)
    if conversation.state != AGENT or conversation.agent_username != agent:
        raise Conflict("take the conversation over before writing in it")
    now = clock.now()
    message = ConversationMessage(
        conversation_id=conversation_id, direction="out", author="agent",
        channel=conversation.channel, body=text, status="pending", agent_username=agent,
        created_at=now,
    )  # fmt: skip
    session.add(message)
    session.flush()
    message.outbox_message_id = _enqueue(
        session, clock, conversation, dedupe_key=agent_message_key(message.id or 0),
        template="agent_message", language=conversation.language, body=text,
    )  # fmt: skip
    session.add(message)
    session.flush()
    _save_for_agent(session, conversation, clock)
    publish_message(session, clock, conversation, message.id or 0, "agent", text, MESSAGE_OUT)
    return message


def enqueue_reply(
    *,
    session: Session,
    clock: Clock,
    conversation_id: int,
    reply: Reply,
    provider_message_id: str,
    body: str | None = None,
) -> int:
    """Send the reply to a message through the outbox rather than in the answer to the
    request (a channel without inline replies: Telegram polling), to the conversation's
    channel and address, at once. `body` is the channel's rendering of the reply (its plain
    text when not given). Once per provider message id: a second call adds nothing. Returns
    the outbox message's id."""
    conversation = _locked_conversation(session, conversation_id)
    provider_id = clean_provider_id(provider_message_id) or ""
    return _enqueue(
        session, clock, conversation,
        dedupe_key=conversation_reply_key(conversation.channel, provider_id),
        template=reply.template, language=reply.language,
        body=body if body is not None else reply_text(reply),
    )  # fmt: skip


def _enqueue(
    session: Session,
    clock: Clock,
    conversation: ConversationRow,
    *,
    dedupe_key: str,
    template: str,
    language: str,
    body: str,
) -> int:
    """A reply in the conversation, put in the outbox (sent at once); its outbox id."""
    enqueue_message(
        session=session, clock=clock, dedupe_key=dedupe_key,
        recipient=Recipient(conversation.channel, conversation.address),
        template=template, language=language, body=body, kind=REPLY,
        purpose=conversation_purpose(conversation.id), account_id=conversation.selected_account_id,
        customer_id=conversation.customer_id, priority=2,
    )  # fmt: skip
    return cast(
        int,
        session.scalars(
            select(col(OutboxMessage.id)).where(col(OutboxMessage.dedupe_key) == dedupe_key)
        ).one(),
    )


def return_unanswered_queue(
    *, session: Session, clock: Clock, context: ConversationContext, limit: int = 500
) -> int:
    """Queued conversations no agent has taken within the policy's time go back to the bot;
    each customer is told so through the outbox, with the numbered choices (which a bare
    number then answers) and the service line. Returns how many went back."""
    now = clock.now()
    cutoff = now - timedelta(minutes=context.policy.queue_timeout_minutes)
    since = func.coalesce(col(Conversation.queued_at), col(Conversation.last_message_at))
    due = session.scalars(
        select(col(Conversation.id))
        .where(col(Conversation.state) == QUEUED, since <= cutoff)
        .order_by(col(Conversation.id))
        .limit(limit)
    ).all()
    returned = 0
    for conversation_id in due:
        conversation = conversations.get_locked_by_id(session, conversation_id or 0)
        if conversation is None or conversation.state != QUEUED:
            continue  # taken (or given back) meanwhile
        queued_at = conversation.queued_at or cutoff
        if queued_at > cutoff:
            continue
        reply = replies.queue_released(
            language=conversation.language, line=context.policy.service_line
        )
        body = reply_text(reply)
        outbox_id = _enqueue(
            session, clock, conversation, dedupe_key=queue_released_key(conversation.id, queued_at),
            template=reply.template, language=reply.language, body=body,
        )  # fmt: skip
        message_id = conversations.store_message(
            session.connection(), conversation_id=conversation.id, direction="out",
            author="bot", channel=conversation.channel, body=body, intent=None,
            provider_message_id=None, status="pending", created_at=now,
            outbox_message_id=outbox_id,
        )  # fmt: skip
        conversation.state, conversation.queued_at = BOT, None
        conversation.unrecognised_streak = 1  # the message asks: a number answers it
        _save_for_agent(session, conversation, clock, keep_later=True)
        publish_message(session, clock, conversation, message_id, "bot", body, MESSAGE_OUT)
        publish_state(session, clock, conversation)
        returned += 1
    return returned


def _locked_conversation(session: Session, conversation_id: int) -> ConversationRow:
    conversation = conversations.get_locked_by_id(session, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id}")
    return conversation


def _save_for_agent(
    session: Session, conversation: ConversationRow, clock: Clock, *, keep_later: bool = False
) -> None:
    conversations.save(
        session.connection(), conversation, last_message_at=clock.now(), keep_later=keep_later
    )
    conversations.forget_loaded(session, conversation.id)
