"""Receiving a customer's message on any channel: stored once per provider id, the sender
identified, opt-out and opt-in applied, the intent answered (or the conversation handed to
the agents' queue), and the answer stored beside it. Plus what agents do in the console:
take a conversation over, write in it, give it back to the bot."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.audit.service import record_change
from billing_core.bills.statement import account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.conversations import replies
from billing_core.conversations import repository as conversations
from billing_core.conversations.identity import (
    CodeStatus,
    LinkStatus,
    SenderAccount,
    check_code,
    normalise_phone,
    sender_accounts,
    start_link,
)
from billing_core.conversations.intents import (
    Intent,
    IntentKind,
    message_language,
    provider_intent,
    recognise,
)
from billing_core.conversations.model import AGENT as AGENT  # the states, re-exported
from billing_core.conversations.model import BOT as BOT
from billing_core.conversations.model import QUEUED as QUEUED
from billing_core.conversations.model import (
    InboundMessage,
    Outcome,
    PayAction,
    Reply,
    reply_text,
    stored_reply,
)
from billing_core.conversations.policy import (
    DEFAULT_CONVERSATIONS_POLICY,
    ConversationsPolicy,
    load_conversations_policy,
)
from billing_core.conversations.repository import ConversationRow, Seen
from billing_core.conversations.requests import (
    RequestKind,
    SelfReadStatus,
    record_request,
    submit_self_read,
)
from billing_core.customers.model import Channel, Language
from billing_core.customers.tables import Customer
from billing_core.db.unit_of_work import retry_duplicates
from billing_core.errors import InvalidInput
from billing_core.ledger.model import BillStanding
from billing_core.live.service import (
    CONVERSATION_STATE,
    MESSAGE_IN,
    MESSAGE_OUT,
    message_payload,
    publish,
    publish_all,
)
from billing_core.messages.templates import redact_codes
from billing_core.outbox.fallback import mark_reachable
from billing_core.outbox.optouts import record_opt_in, record_opt_out
from billing_core.payments.policy import PaymentsPolicy, load_payments_policy, payment_context
from billing_core.payments.service import PaymentContext, offer_pay_link
from billing_core.settings import Settings

CHANNELS = frozenset({Channel.sms, Channel.telegram, Channel.email})
# Channels where a provider marks an address unreachable only while its user shuts us out (a
# Telegram user who blocked the bot): the user's own message says they can be reached again.
WRITES_MEAN_REACHABLE = frozenset({"telegram"})
MAX_BODY = 4000  # an SMS is at most 1,600 characters; anything longer is cut, not refused
MAX_ADDRESS = 128
MAX_PROVIDER_ID = 64
# While the conversation waits for or is owned by an agent, the bot answers only these.
ALWAYS_ANSWERED = frozenset({IntentKind.help, IntentKind.stop, IntentKind.start})
# What "BILL 2" and its kind say, in the list of accounts to choose from.
_COMMANDS = {IntentKind.bill: "BILL", IntentKind.pay: "PAY", IntentKind.usage: "USAGE"}


@dataclass(frozen=True)
class ConversationContext:
    """What the conversation layer needs from the settings and the policies."""

    tz: ZoneInfo
    currency: str
    phone_region: str
    default_language: str
    payments: PaymentContext
    policy: ConversationsPolicy = field(default=DEFAULT_CONVERSATIONS_POLICY)


def conversation_context(
    settings: Settings,
    policy: ConversationsPolicy | None = None,
    payments_policy: PaymentsPolicy | None = None,
) -> ConversationContext:
    """The context from the settings; the policies are read from settings.policy_dir unless
    given."""
    if policy is None:
        policy = load_conversations_policy(settings.policy_dir)
    if payments_policy is None:
        payments_policy = load_payments_policy(settings.policy_dir)
    return ConversationContext(
        tz=settings.tz,
        currency=settings.currency,
        phone_region=settings.phone_region,
        default_language=language_of(settings.default_locale),
        payments=payment_context(settings, payments_policy),
        policy=policy,
    )


def language_of(locale: str) -> str:
    """The template language for a locale: zh-CN for any Chinese, English otherwise."""
    return Language.zh_cn if locale.lower().startswith("zh") else Language.en


# --- receiving a message -------------------------------------------------------------------


class Understood(NamedTuple):
    """A message whose meaning its channel already knows (a button, a bot command, a shared
    contact: `conversations/actions.py`): stored as `intent` and answered by `answer`, not
    by the recogniser's reading of its text."""

    intent: str  # what the stored message is recorded as (at most 24 characters)
    answer: Callable[[Turn], Reply | None]


def receive_message(
    *,
    session: Session,
    clock: Clock,
    context: ConversationContext,
    inbound: InboundMessage,
    understood: Understood | None = None,
) -> Outcome:
    """Store the message, identify the sender, answer it; in the caller's transaction.

    The same provider message id twice returns `duplicate=True`, changes nothing, and
    carries the reply stored the first time (so that a retry after a lost response is
    answered as the first delivery was). The reply is None when the bot stays silent (an
    agent has the conversation, or a STOP was confirmed already). Never raises for what a
    customer can type or send from."""
    if inbound.channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {inbound.channel!r}")
    now = clock.now()
    channel = inbound.channel
    address, identifiable = sender_address(channel, inbound.sender, context.phone_region)
    body = clean_text(inbound.body or "")[:MAX_BODY]
    provider_id = clean_provider_id(inbound.provider_message_id)
    connection = session.connection()

    conversation = conversations.get_locked(connection, channel, address)
    if conversation is None:  # a first message, unless the provider repeats one
        if provider_id is not None:
            seen = conversations.message_by_provider_id(connection, channel, provider_id)
            if seen is not None:  # answered only if it is this sender's (a concurrent retry
                # may have created the conversation since it was looked for)
                return _duplicate(seen, context, answered=seen.address == address)
        language = message_language(body) or context.default_language
        conversation = conversations.create(
            session, channel=channel, address=address, language=language, state=BOT, now=now
        )
    from_provider = provider_intent(inbound.opt_out_type)
    if understood is None:
        intent = from_provider or recognise(body, choices=_choices_offered(conversation))
        stored_body, intent_name = _redacted(body, intent), intent.kind.value
    else:
        intent, stored_body, intent_name = Intent.unknown(), body, understood.intent
    received_at = inbound.received_at if inbound.received_at.tzinfo is not None else now
    values = {
        "conversation_id": conversation.id, "direction": "in", "author": "customer",
        "channel": channel, "body": stored_body, "intent": intent_name,
        "provider_message_id": provider_id, "status": "received", "created_at": received_at,
    }  # fmt: skip
    # Storing it is the check for a repeat: a provider id stored already (a retry) inserts
    # nothing, and nothing has been changed yet (a retry changes nothing).
    stored = conversations.store_inbound(session, values)
    if not isinstance(stored, int):
        return _duplicate(stored, context, answered=stored.conversation_id == conversation.id)
    state_before = (conversation.state, conversation.agent_username)

    if channel in WRITES_MEAN_REACHABLE:
        # A chat app's user who writes has not blocked the bot (or unblocked it): a contact
        # the provider called unreachable gets messages again (usually no row matches).
        mark_reachable(session=session, channel=channel, address=address)
    accounts = sender_accounts(session, channel, address) if identifiable else []
    customers = _customers_of(accounts)
    if customers:
        conversation.customer_id = customers[0].id
        conversation.language = customers[0].language
    else:
        conversation.customer_id = None
        conversation.language = message_language(body) or conversation.language
    turn = _Turn(
        session=session, clock=clock, context=context, conversation=conversation,
        accounts=accounts, customers=customers, identifiable=identifiable,
        from_provider=from_provider is not None, body=body, provider_id=provider_id,
    )  # fmt: skip
    reply = _answer(turn, intent) if understood is None else understood.answer(turn)
    events = [message_event(conversation, stored, "customer", stored_body, MESSAGE_IN)]
    if reply is not None:
        text = reply_text(reply)
        reply_id = conversations.store_message(
            connection, conversation_id=conversation.id, direction="out", author="bot",
            channel=channel, body=text, intent=intent_name,
            provider_message_id=None, status="replied", created_at=now,
        )  # fmt: skip
        events.append(message_event(conversation, reply_id, "bot", text, MESSAGE_OUT))
    publish_all(session, clock=clock, events=events)  # the message and its answer at once
    conversations.save(connection, conversation, last_message_at=now)
    if (conversation.state, conversation.agent_username) != state_before:
        publish_state(session, clock, conversation)  # handed to the agents' queue
    session.flush()  # what the turn changed through the ORM (a customer's language, ...)
    return Outcome(conversation.id, reply, conversation.language, intent=intent_name)


@retry_duplicates
def receive_in(
    session: Session, *, clock: Clock, context: ConversationContext, message: InboundMessage
) -> Outcome:
    """`receive_message` as a unit of work for the runner (`UnitOfWorkRunner.run`), for every
    channel: a concurrent delivery of the same provider id that commits first makes ours fail
    on the unique key; it runs again (`retry_duplicates`), and is then a duplicate."""
    return receive_message(session=session, clock=clock, context=context, inbound=message)


def publish_message(
    session: Session,
    clock: Clock,
    conversation: ConversationRow,
    message_id: int,
    author: str,
    body: str,
    kind: str,
) -> None:
    """The console's live event for a message stored in the conversation."""
    event = message_event(conversation, message_id, author, body, kind)
    publish_all(session, clock=clock, events=[event])


def message_event(
    conversation: ConversationRow, message_id: int, author: str, body: str, kind: str
) -> tuple[str, int | None, dict[str, Any]]:
    """A message's live event as `publish_all` takes it: (kind, conversation id, payload)."""
    payload = message_payload(
        message_id=message_id, author=author, channel=conversation.channel, body=body,
        state=conversation.state, agent=conversation.agent_username,
    )  # fmt: skip
    return kind, conversation.id, payload


def publish_state(session: Session, clock: Clock, conversation: ConversationRow) -> None:
    """The console's live event for a conversation whose state or owner changed."""
    payload = {
        "conversation_id": conversation.id, "state": conversation.state,
        "agent": conversation.agent_username,
    }  # fmt: skip
    publish(
        session, clock=clock, kind=CONVERSATION_STATE, conversation_id=conversation.id,
        payload=payload,
    )  # fmt: skip


def sender_address(channel: str, sender: str, region: str) -> tuple[str, bool]:
    """How the sender is stored (E.164 on SMS) and whether it identifies anyone: an SMS
    sender that is not a valid phone number is kept as given but linked to nothing."""
    raw = clean_text(sender or "").strip()
    if channel == Channel.sms:
        phone = normalise_phone(raw, region)
        if phone is not None:
            return phone, True
        return raw[:MAX_ADDRESS], False
    return raw[:MAX_ADDRESS], bool(raw) and len(raw) <= MAX_ADDRESS


def clean_text(text: str) -> str:
    """Text the databases accept: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def clean_provider_id(provider_id: str | None) -> str | None:
    """The provider's id as stored: a longer one than the column holds is hashed, so two
    different ids never collide by truncation."""
    if provider_id is None:
        return None
    cleaned = clean_text(provider_id).strip()
    if not cleaned:
        return None
    if len(cleaned) > MAX_PROVIDER_ID:
        return hashlib.sha256(cleaned.encode()).hexdigest()
    return cleaned


def _redacted(body: str, intent: Intent) -> str:
    """A one-time code is not kept in the conversation staff can read."""
    if intent.kind in (IntentKind.code, IntentKind.link) and intent.code is not None:
        return redact_codes(body)
    return body


def _duplicate(seen: Seen, context: ConversationContext, *, answered: bool) -> Outcome:
    """A retry gets the answer the first delivery got (its response may have been lost with
    a crash after the commit): the stored words, or silence if the bot was silent. Only to
    the sender it was given to: identity before data."""
    language = seen.language if seen.language is not None else context.default_language
    reply = stored_reply(seen.reply, language) if answered and seen.reply else None
    return Outcome(seen.conversation_id, reply, language, duplicate=True, intent=seen.intent)


class _SenderCustomer(NamedTuple):
    id: int
    language: str


def _customers_of(accounts: list[SenderAccount]) -> list[_SenderCustomer]:
    """The senders' customers, in the order of their first account (read with the accounts)."""
    found = {a.customer_id: a.customer_language for a in accounts}
    return [_SenderCustomer(i, lang) for i, lang in found.items()]


# --- answering -----------------------------------------------------------------------------


@dataclass
class _Turn:
    """One inbound message being answered."""

    session: Session
    clock: Clock
    context: ConversationContext
    conversation: ConversationRow
    accounts: list[SenderAccount]
    customers: list[_SenderCustomer]
    identifiable: bool
    from_provider: bool  # the provider recognised the keyword (and confirmed it itself)
    body: str = ""  # the message as received (cleaned)
    provider_id: str | None = None

    @property
    def language(self) -> str:
        return self.conversation.language

    @property
    def address(self) -> str:
        return self.conversation.address

    @property
    def channel(self) -> str:
        return self.conversation.channel

    def say(self, template: str, **values: object) -> Reply:
        return replies.plain(template, self.language, **values)


def _answer(turn: _Turn, intent: Intent) -> Reply | None:
    conversation = turn.conversation
    if intent.kind == IntentKind.stop:
        return _stop(turn)
    if intent.kind == IntentKind.start:
        return _start(turn)
    if intent.kind == IntentKind.help:
        if conversation.state == BOT:
            conversation.unrecognised_streak = 0
        return turn.say("help")
    if conversation.state == AGENT:
        return None  # an agent has it: the bot stays silent
    if conversation.state == QUEUED:
        return _while_queued(turn, intent)
    policy = turn.context.policy
    if intent.kind == IntentKind.unknown or intent.score < policy.clarify_below:
        conversation.unrecognised_streak += 1
        if conversation.unrecognised_streak >= policy.unrecognised_before_handoff:
            return _queue(turn)
        return replies.clarify(language=turn.language)
    conversation.unrecognised_streak = 0
    match intent.kind:
        case IntentKind.agent | IntentKind.complaint:
            return _queue(turn)
        case IntentKind.arrangement | IntentKind.dispute:
            return _request_for_a_person(turn, RequestKind(intent.kind.value))
    return _self_service(turn, intent)


def _self_service(turn: _Turn, intent: Intent) -> Reply | None:
    """What the bot answers on its own, queued or not: the customer's own data, readings,
    outages, language and linking."""
    match intent.kind:
        case IntentKind.lang:
            return _lang(turn, intent.language)
        case IntentKind.bill | IntentKind.pay | IntentKind.usage:
            return _account_answer(turn, intent)
        case IntentKind.self_read:
            return _self_read(turn, intent)
        case IntentKind.outage:
            return _outage(turn)
        case IntentKind.link:
            return _link(turn, intent)
        case IntentKind.code:
            return _code(turn, intent.code or "", None)
    return None


# Asked while waiting for a person: the bot still answers these (a queue never traps), and
# leaves the rest (a person will read them) unanswered but for when to expect one.
_ANSWERED_IN_QUEUE = frozenset({
    IntentKind.lang, IntentKind.bill, IntentKind.pay, IntentKind.usage, IntentKind.self_read,
    IntentKind.outage, IntentKind.link, IntentKind.code,
})  # fmt: skip


def _while_queued(turn: _Turn, intent: Intent) -> Reply | None:
    if intent.kind in _ANSWERED_IN_QUEUE and intent.score >= turn.context.policy.clarify_below:
        return _self_service(turn, intent)
    if intent.kind in (IntentKind.arrangement, IntentKind.dispute):
        return _request_for_a_person(turn, RequestKind(intent.kind.value))
    if intent.kind in (IntentKind.agent, IntentKind.complaint):
        return turn.say("agent_queued", when=_when(turn))
    return None


def _choices_offered(conversation: ConversationRow) -> dict[int, IntentKind] | None:
    """The numbered choices of the question the bot last asked (the clarifying question, or
    the message that gave a queued conversation back), which a bare number answers."""
    if conversation.state == BOT and conversation.unrecognised_streak > 0:
        return replies.CLARIFY_CHOICES
    return None


def _when(turn: _Turn) -> str:
    policy = turn.context.policy
    return replies.agent_when(
        language=turn.language, now_local=turn.clock.now().astimezone(turn.context.tz).time(),
        start=policy.agent_hours_start, end=policy.agent_hours_end,
        minutes=policy.agent_reply_minutes,
    )  # fmt: skip


def _queue(turn: _Turn) -> Reply:
    turn.conversation.state = QUEUED
    turn.conversation.unrecognised_streak = 0
    turn.conversation.queued_at = turn.clock.now()
    return turn.say("agent_queued", when=_when(turn))


def _request_for_a_person(turn: _Turn, kind: RequestKind) -> Reply:
    """An arrangement or a dispute: recorded on the account, and a person takes it up."""
    _record(turn, kind)
    if turn.conversation.state == BOT:
        _queue(turn)
    return turn.say(f"{kind.value}_noted", when=_when(turn))


def _outage(turn: _Turn) -> Reply:
    _record(turn, RequestKind.outage)
    return turn.say("outage_reply", line=turn.context.policy.service_line)


def _account_of(turn: _Turn) -> SenderAccount | None:
    """The account a request is about: the only one, or the one the conversation is on."""
    account = _chosen(turn.accounts, None)
    if account is None and turn.conversation.selected_account_id is not None:
        selected = turn.conversation.selected_account_id
        account = next((a for a in turn.accounts if a.id == selected), None)
    return account


def _record(turn: _Turn, kind: RequestKind) -> None:
    account = _account_of(turn)
    record_request(
        session=turn.session, clock=turn.clock, kind=kind, channel=turn.channel,
        address=turn.address, body=turn.body, conversation_id=turn.conversation.id,
        account_id=account.id if account is not None else None,
        customer_id=turn.customers[0].id if turn.customers else None,
        arrears=turn.context.payments.arrears,
    )  # fmt: skip


_SELF_READ_REPLIES = {
    SelfReadStatus.accepted: "self_read_ok",
    SelfReadStatus.flagged: "self_read_flagged",
    SelfReadStatus.rejected: "self_read_rejected",
}


def _self_read(turn: _Turn, intent: Intent) -> Reply:
    if not turn.accounts:
        return turn.say("not_linked")
    if intent.reading is None:
        return turn.say("self_read_how")
    account = _chosen(turn.accounts, intent.account_index) or _account_of(turn)
    if account is None:
        return replies.choose_account(
            language=turn.language, numbers=[a.number for a in turn.accounts],
            command="BILL",  # choosing one selects it; the reading is then sent again
        )  # fmt: skip
    turn.conversation.selected_account_id = account.id
    status = submit_self_read(
        session=turn.session, clock=turn.clock, tz=turn.context.tz,
        account_number=account.number, reading=intent.reading, channel=turn.channel,
        address=turn.address, message_id=turn.provider_id,
    )  # fmt: skip
    return turn.say(_SELF_READ_REPLIES[status], account=account.number, reading=str(intent.reading))


def _stop(turn: _Turn) -> Reply | None:
    created = record_opt_out(
        session=turn.session, clock=turn.clock, channel=turn.channel, address=turn.address,
        source="provider" if turn.from_provider else "keyword",
    )  # fmt: skip
    if not created or turn.from_provider:
        return None  # confirmed once already (by us, or by the provider just now)
    return turn.say("stop_confirm")


def _start(turn: _Turn) -> Reply | None:
    record_opt_in(session=turn.session, channel=turn.channel, address=turn.address)
    return None if turn.from_provider else turn.say("start_confirm")


def _lang(turn: _Turn, language: str | None) -> Reply:
    if language is None:
        return replies.lang_choose(language=turn.language)
    turn.conversation.language = language
    for sender_customer in turn.customers:  # a verified sender's choice is the customer's
        if sender_customer.language == language:  # language
            continue
        customer = turn.session.get(Customer, sender_customer.id)
        if customer is not None and customer.language != language:
            record_change(
                session=turn.session, clock=turn.clock,
                actor=f"{turn.channel}:{turn.address}"[:100], action="customer.language",
                entity="customer", entity_id=customer.id,
                before={"language": customer.language}, after={"language": language},
                reason="LANG by message",
            )  # fmt: skip
            customer.language = language
            turn.session.add(customer)
    return turn.say("lang_confirm")


def _account_answer(turn: _Turn, intent: Intent) -> Reply:
    if not turn.accounts:
        return turn.say("not_linked")  # the same words for every unverified sender
    account = _chosen(turn.accounts, intent.account_index)
    if account is None:
        return replies.choose_account(
            language=turn.language, numbers=[a.number for a in turn.accounts],
            command=_COMMANDS.get(intent.kind, "BILL"),
        )  # fmt: skip
    turn.conversation.selected_account_id = account.id
    if intent.kind == IntentKind.usage:
        return _usage(turn, account)
    return _bill_or_pay(turn, account, intent.kind)


def _chosen(accounts: list[SenderAccount], index: int | None) -> SenderAccount | None:
    if len(accounts) == 1:
        return accounts[0]
    if index is not None and 1 <= index <= len(accounts):
        return accounts[index - 1]
    return None


def _bill_or_pay(turn: _Turn, account: SenderAccount, kind: IntentKind) -> Reply:
    context, language, currency = turn.context, turn.language, turn.context.currency
    statement = account_statement(
        session=turn.session, account_id=account.id,
        today=context.payments.today(turn.clock), currency=currency,
    )  # fmt: skip
    due_now = statement.amount_due
    pay = None
    if due_now > 0:
        _, link, url = offer_pay_link(
            session=turn.session, clock=turn.clock, context=context.payments,
            account_id=account.id,
        )  # fmt: skip
        pay = PayAction(url, due_now, currency, link["expires_at"])
    if kind == IntentKind.pay:
        if pay is None:
            return replies.nothing_due(
                language=language, currency=currency, account=account.number, balance=due_now
            )
        return replies.pay(language=language, currency=currency, account=account.number, pay=pay)
    if not statement.bills:
        return replies.no_bill(language=language, account=account.number)
    latest = statement.bills[-1]
    return replies.bill(
        language=language, currency=currency, account=account.number,
        period_start=latest.period_start, period_end=latest.period_end, amount=latest.total,
        due_date=latest.due_date, balance=due_now, pay=pay,
        overdue=latest.standing == BillStanding.overdue, kwh=latest.kwh,
    )  # fmt: skip


def _usage(turn: _Turn, account: SenderAccount) -> Reply:
    bills = list(
        turn.session.scalars(
            select(Bill)
            .where(col(Bill.account_id) == account.id, col(Bill.status) == "issued")
            .order_by(col(Bill.period_start).desc())
            .limit(turn.context.policy.usage_periods)
        )
    )
    if not bills:
        return replies.no_bill(language=turn.language, account=account.number)
    periods = [(b.period_start, b.period_end, b.kwh) for b in reversed(bills)]
    return replies.usage(language=turn.language, account=account.number, periods=periods)


def _link(turn: _Turn, intent: Intent) -> Reply:
    if intent.account_number is None:
        return turn.say("not_linked")
    if intent.code is not None:
        return _code(turn, intent.code, intent.account_number)
    policy = turn.context.policy
    if turn.identifiable:
        started = start_link(
            session=turn.session, clock=turn.clock, policy=policy,
            secret=turn.context.payments.secret_key, channel=turn.channel,
            address=turn.address, account_number=intent.account_number,
        )  # fmt: skip
        if started.status == LinkStatus.already_linked:
            return replies.link_ok(language=turn.language, account=intent.account_number)
    # The same words whether or not the account exists, has a phone, or hit its limit.
    return replies.link_sent(language=turn.language, minutes=policy.code_ttl_minutes)


def _code(turn: _Turn, code: str, account_number: str | None) -> Reply:
    if not turn.identifiable:
        return turn.say("link_bad_code")
    checked = check_code(
        session=turn.session, clock=turn.clock, policy=turn.context.policy,
        secret=turn.context.payments.secret_key, channel=turn.channel, address=turn.address,
        code=code, account_number=account_number,
    )  # fmt: skip
    if checked.status != CodeStatus.verified or checked.account is None:
        return turn.say("link_bad_code")
    turn.conversation.customer_id = checked.account.customer_id
    turn.conversation.selected_account_id = checked.account.id
    return replies.link_ok(language=turn.language, account=checked.account.number)


# --- for the commands a channel understands itself (conversations/actions.py) --------------

Turn = _Turn


def answer_intent(turn: Turn, intent: Intent) -> Reply | None:
    """The answer to an intent as if it had been recognised in the message's text."""
    return _answer(turn, intent)


def answer_self_service(turn: Turn, intent: Intent) -> Reply | None:
    """The bot's own answer to a self-service intent (bill, pay, usage, language, a
    reading), whatever the conversation's state: a button the customer pressed is answered
    even while a person has the conversation."""
    return _self_service(turn, intent)


def account_of(turn: Turn) -> SenderAccount | None:
    """The account a request is about: the only one, or the one the conversation is on."""
    return _account_of(turn)
