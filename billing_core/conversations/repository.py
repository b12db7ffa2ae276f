"""Reading and writing conversations and their messages: the statements that answer a message
(prepared: they run for every SMS) and the one row type a conversation is read into."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, case, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from billing_core.db.columns import table_of
from billing_core.db.prepared import Prepared, Rows
from billing_core.transcripts.tables import Conversation, ConversationMessage


@dataclass(slots=True)
class ConversationRow:
    """A conversation as the domain reads and changes it. The one representation: the
    statements below read and write it by these field names (a field is a column), so a new
    field needs its column in the table and its line here."""

    id: int
    channel: str
    address: str
    customer_id: int | None
    selected_account_id: int | None
    language: str
    state: str
    agent_username: str | None
    unrecognised_streak: int
    queued_at: datetime | None  # when it went to the agents' queue
    # the customer as read: the UPDATE sets customer_id only when it changed (SQLite
    # rewrites an index entry for every indexed column an UPDATE sets, changed or not)
    read_customer_id: int | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.read_customer_id = self.customer_id


_FIELDS = tuple(f.name for f in fields(ConversationRow) if f.init)
# Written back by `save` (the id, channel and address never change; customer_id apart).
_WRITTEN = tuple(name for name in _FIELDS if name not in ("id", "channel", "address",
                                                           "customer_id"))  # fmt: skip
_WRITTEN_KEYS = tuple(f"b_{name}" for name in _WRITTEN)
_written_values = attrgetter(*_WRITTEN)
_MESSAGES, _CONVERSATIONS = table_of(ConversationMessage), table_of(Conversation)

_SELECT_ROW = select(*(_CONVERSATIONS.c[name] for name in _FIELDS))
_BY_ADDRESS = Prepared(
    _SELECT_ROW.where(_CONVERSATIONS.c.channel == bindparam("channel"),
                      _CONVERSATIONS.c.address == bindparam("address"))
    .with_for_update()
)  # fmt: skip
_BY_ID = Prepared(_SELECT_ROW.where(_CONVERSATIONS.c.id == bindparam("id")).with_for_update())


def _save_statement(*, customer: bool, keep_later: bool) -> Prepared:
    values: dict[str, Any] = {
        name: bindparam(key) for name, key in zip(_WRITTEN, _WRITTEN_KEYS, strict=True)
    }
    last = _CONVERSATIONS.c.last_message_at
    at = bindparam("b_last_message_at", type_=last.type)  # typed: CASE gives it no type
    values["last_message_at"] = case((last > at, last), else_=at) if keep_later else at
    if customer:
        values["customer_id"] = bindparam("b_customer_id")
    return Prepared(
        update(_CONVERSATIONS).where(_CONVERSATIONS.c.id == bindparam("b_id")).values(values)
    )


# (customer_id changed, last_message_at kept when later) -> the UPDATE
_SAVE = {
    (customer, keep_later): _save_statement(customer=customer, keep_later=keep_later)
    for customer in (False, True)
    for keep_later in (False, True)
}


def get_locked(connection: Connection, channel: str, address: str) -> ConversationRow | None:
    """The sender's conversation on this channel, locked for this transaction."""
    found = _BY_ADDRESS.execute(connection, {"channel": channel, "address": address}).first()
    return ConversationRow(*found) if found is not None else None


def get_locked_by_id(session: Session, conversation_id: int) -> ConversationRow | None:
    """The conversation, locked for this transaction (pending ORM changes flushed first)."""
    session.flush()
    found = _BY_ID.execute(session.connection(), {"id": conversation_id}).first()
    return ConversationRow(*found) if found is not None else None


def create(
    session: Session, *, channel: str, address: str, language: str, state: str, now: datetime
) -> ConversationRow:
    """The sender's first conversation on this channel (a concurrent first message makes the
    same one), locked for this transaction."""
    conversation = Conversation(
        channel=channel, address=address, language=language, state=state,
        created_at=now, last_message_at=now,
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(conversation)
            session.flush()
    except IntegrityError:
        found = get_locked(session.connection(), channel, address)
        assert found is not None  # the concurrent first message's, committed
        return found
    row = ConversationRow(*(getattr(conversation, name) for name in _FIELDS))
    session.expunge(conversation)  # from here on, the row is written back by `save`
    return row


def save(
    connection: Connection,
    conversation: ConversationRow,
    *,
    last_message_at: datetime,
    keep_later: bool = False,
) -> None:
    """Write the conversation back in one UPDATE, with its last message's time (with
    `keep_later`, a later time stored already stays)."""
    values = dict(zip(_WRITTEN_KEYS, _written_values(conversation), strict=True))
    values["b_id"] = conversation.id
    values["b_last_message_at"] = last_message_at
    changed = conversation.customer_id != conversation.read_customer_id
    if changed:
        values["b_customer_id"] = conversation.customer_id
    _SAVE[(changed, keep_later)].execute(connection, values)
    conversation.read_customer_id = conversation.customer_id


def forget_loaded(session: Session, conversation_id: int) -> None:
    """A Conversation the session holds as an ORM object is read again when next used (after
    `save` wrote its row without the ORM)."""
    held = session.identity_map.get(identity_key(Conversation, conversation_id))
    if held is not None:
        session.expire(held)


# --- messages ------------------------------------------------------------------------------


class Seen(NamedTuple):
    """A message stored already under its provider id, its conversation's language and
    address (whom it came from), and the words the bot answered it with (None: the bot
    stayed silent)."""

    conversation_id: int
    intent: str | None
    language: str | None
    reply: str | None
    address: str | None


# The bot's answer to a message is stored in the same transaction, after it, and before the
# conversation's next message (its turns are serialised by the conversation's row lock): the
# first line after it that is either the customer's next message or an answer given in the
# response (the bot's, not sent through the outbox) is the answer, or there was none. One
# range of the conversation's index, and only on the duplicate path.
_LATER = _MESSAGES.alias("later")
_REPLY_GIVEN = (
    select(case((_LATER.c.direction == "in", None), else_=_LATER.c.body))
    .where(
        _LATER.c.conversation_id == _MESSAGES.c.conversation_id,
        _LATER.c.id > _MESSAGES.c.id,
        or_(
            _LATER.c.direction == "in",
            and_(_LATER.c.author == "bot", _LATER.c.outbox_message_id.is_(None)),
        ),
    )
    .order_by(_LATER.c.id)
    .limit(1)
    .correlate(_MESSAGES)
    .scalar_subquery()
)
_SEEN = Prepared(
    select(_MESSAGES.c.conversation_id, _MESSAGES.c.intent, _CONVERSATIONS.c.language,
           _REPLY_GIVEN, _CONVERSATIONS.c.address)
    .outerjoin(_CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id)
    .where(_MESSAGES.c.channel == bindparam("channel"),
           _MESSAGES.c.provider_message_id == bindparam("provider_id"))
    .limit(1)
)  # fmt: skip
_INSERT_MESSAGE = insert(_MESSAGES)
# The new message's id (its live event names it): SQLite's driver says it (no RETURNING row
# to fetch: one round trip into SQLite fewer); PostgreSQL's INSERT returns it.
_PREPARED_INSERT_MESSAGE = {
    "sqlite": Prepared(_INSERT_MESSAGE.inline()),
    "postgresql": Prepared(_INSERT_MESSAGE.inline().returning(_MESSAGES.c.id)),
}
# A provider id stored already inserts nothing (no savepoint); the row count tells which.
_INSERT_NEW_MESSAGE = {
    "sqlite": Prepared(
        sqlite_insert(_MESSAGES)
        .inline()
        .on_conflict_do_nothing(index_elements=["channel", "provider_message_id"])
    ),
    "postgresql": Prepared(
        postgresql_insert(_MESSAGES)
        .inline()
        .on_conflict_do_nothing(index_elements=["channel", "provider_message_id"])
        .returning(_MESSAGES.c.id)
    ),
}


def message_by_provider_id(connection: Connection, channel: str, provider_id: str) -> Seen | None:
    row = _SEEN.execute(connection, {"channel": channel, "provider_id": provider_id}).first()
    return Seen(*row) if row is not None else None


def store_inbound(session: Session, values: dict[str, object]) -> int | Seen:
    """Store an inbound message and return its id, unless its provider id is stored already:
    then nothing is stored and the message stored before is returned (storing is the check
    for a repeat)."""
    values = {"outbox_message_id": None, "agent_username": None, **values}
    connection = session.connection()
    statement = _INSERT_NEW_MESSAGE.get(connection.dialect.name)
    if statement is not None:
        done = statement.execute(connection, values)
        if done.rowcount == 1:
            return _inserted_id(done)
    else:
        try:
            with session.begin_nested():
                return _orm_inserted_id(connection, values)
        except IntegrityError:
            pass
    channel, provider_id = str(values["channel"]), str(values["provider_message_id"] or "")
    seen = message_by_provider_id(connection, channel, provider_id)
    if seen is None:
        return store_message(connection, **values)  # raises what the database says
    return seen


def store_message(connection: Connection, **values: object) -> int:
    """One conversation_message row, written at once without an ORM object; its id."""
    values.setdefault("outbox_message_id", None)
    values.setdefault("agent_username", None)
    statement = _PREPARED_INSERT_MESSAGE.get(connection.dialect.name)
    if statement is None:
        return _orm_inserted_id(connection, values)
    return _inserted_id(statement.execute(connection, values))


def _orm_inserted_id(connection: Connection, values: dict[str, object]) -> int:
    inserted = connection.execute(_INSERT_MESSAGE, values).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def _inserted_id(done: Rows) -> int:
    """The id an INSERT made: RETURNING's, or the driver's last row id."""
    found = done.rows[0][0] if done.rows else done.lastrowid
    assert found is not None
    return int(found)
