"""The transcript of every conversation: one row per sender and channel, and every message in
or out with its author and delivery status. Written by the conversation layer when it
answers and by the outbox when it sends, so it sits below both."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from billing_core.db.columns import foreign_key, instant


class Conversation(SQLModel, table=True):
    """One sender on one channel (an E.164 number on SMS, a user id on Telegram)."""

    __tablename__ = "conversation"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=128)
    customer_id: int | None = Field(
        default=None, sa_column=foreign_key("customer.id", nullable=True)
    )
    selected_account_id: int | None = Field(
        default=None, sa_column=foreign_key("account.id", nullable=True, index=False)
    )
    language: str = Field(max_length=10)
    state: str = Field(default="bot", max_length=16)  # bot, queued (for an agent), agent
    agent_username: str | None = Field(default=None, max_length=64)
    unrecognised_streak: int = 0
    # When it went to the agents' queue (None when not queued): one no agent takes within the
    # policy's time goes back to the bot. Not indexed: every message writes this row.
    queued_at: datetime | None = Field(default=None, sa_column=instant(nullable=True))
    created_at: datetime = Field(sa_column=instant())
    last_message_at: datetime = Field(sa_column=instant(index=True))


class ConversationMessage(SQLModel, table=True):
    """A message in or out, with its author and delivery status. An inbound message is
    stored once per provider id (providers retry)."""

    __tablename__ = "conversation_message"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(sa_column=foreign_key("conversation.id"))
    direction: str = Field(max_length=8)  # in, out
    author: str = Field(max_length=16)  # customer, bot, agent, system
    channel: str = Field(max_length=16)
    body: str = Field(sa_column=Column(Text, nullable=False))
    intent: str | None = Field(default=None, max_length=24)
    provider_message_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="received", max_length=16)
    outbox_message_id: int | None = Field(
        default=None, sa_column=foreign_key("outbox_message.id", nullable=True, index=False)
    )
    agent_username: str | None = Field(default=None, max_length=64)
    # Not indexed: messages are read by conversation (and id), never across conversations by
    # time, and every message would write the index.
    created_at: datetime = Field(sa_column=instant())


class ConversationNote(SQLModel, table=True):
    """A private note on a conversation, for staff only: never sent to the customer."""

    __tablename__ = "conversation_note"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(sa_column=foreign_key("conversation.id"))
    author: str = Field(max_length=64)  # the staff user's username
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=instant())


class ConversationRead(SQLModel, table=True):
    """How far one staff user has read a conversation: the newest message id they saw. What
    came in after it is unread for them. Written by a POST the console sends, never by a
    page read."""

    __tablename__ = "conversation_read"
    __table_args__ = (UniqueConstraint("conversation_id", "staff_username"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(sa_column=foreign_key("conversation.id", index=False))
    staff_username: str = Field(max_length=64)
    last_message_id: int
    read_at: datetime = Field(sa_column=instant())
