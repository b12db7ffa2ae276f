"""What a chat app's buttons and commands ask for (Telegram: /start, a menu button, a shared
contact), answered by the conversation layer like any message: stored once per provider id,
the sender identified, the answer a channel-neutral `Reply`. The channel already knows what
was asked, so nothing is recognised: a command is a word and an optional argument ("BILL 2",
"HOURS 9-20"), the same text a button carries.

Identity before data: every answer about an account needs a verified contact, as on SMS; a
shared contact links a chat only when it is the sender's own phone and that phone is a
customer's verified SMS number."""

from __future__ import annotations

import functools
import json
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.audit.service import record_change, snapshot
from billing_core.bills.statement import account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.conversations import replies
from billing_core.conversations import repository as conversations
from billing_core.conversations.identity import (
    SenderAccount,
    mask_address,
    normalise_phone,
    sender_accounts,
    verify_contact,
)
from billing_core.conversations.intents import LANGUAGE_WORDS, Intent, IntentKind
from billing_core.conversations.model import (
    ChartSpec,
    Choice,
    Figure,
    InboundMessage,
    Outcome,
    Reply,
)
from billing_core.conversations.service import (
    ConversationContext,
    Turn,
    Understood,
    account_of,
    answer_intent,
    answer_self_service,
    receive_message,
)
from billing_core.customers.model import Channel
from billing_core.customers.tables import Contact, Customer, TariffAssignment
from billing_core.db.unit_of_work import retry_duplicates
from billing_core.dedupe_keys import conversation_purpose
from billing_core.messages.templates import kwh, label, money, period, render
from billing_core.outbox.service import REPLY, Recipient, enqueue_message
from billing_core.outbox.tables import OutboxMessage
from billing_core.tariffs.catalog import TariffCatalog
from billing_core.tariffs.model import TariffError

HISTORY_BILLS = 12  # bill history: the last year of monthly bills
CHART_PERIODS = 12  # the usage chart: the last 12 months' kWh
MAX_ARGUMENT = 16


class Command(StrEnum):
    """What a button or a bot command asks; its value is the word the button's data carries."""

    welcome = "WELCOME"  # /start: link the chat, or the menu when it is linked
    menu = "MENU"
    help = "HELP"
    bill = "BILL"  # BILL [n]: the latest bill of account n (of the chat's list)
    pay = "PAY"  # PAY [n]
    usage = "USAGE"  # USAGE [n]: the chart (a photo, through the outbox) and a short text
    history = "HISTORY"  # HISTORY [n]: the last bills
    read = "READ"  # how to send a meter reading (the reading itself is a text message)
    settings = "SETTINGS"  # notices per channel, their hours, the language
    notify = "NOTIFY"  # NOTIFY n: the customer's n-th contact's notices on or off
    hours = "HOURS"  # HOURS 9-20: the hours notices may be sent in
    lang = "LANG"  # LANG [EN|ZH]
    agent = "AGENT"
    account = "ACCOUNT"  # ACCOUNT [n]: the account the chat works on
    unlink = "UNLINK"


# The hours a customer may choose for notices: [from, until) local time; equal: any time.
HOURS_CHOICES: tuple[tuple[time, time], ...] = (
    (time(8, 0), time(21, 0)),  # the default (Contact.allowed_from, allowed_until)
    (time(9, 0), time(20, 0)),
    (time(7, 0), time(22, 0)),
    (time(0, 0), time(0, 0)),
)


def parse_command(text: str) -> tuple[Command, str] | None:
    """("BILL", "2") for "BILL 2"; None for text that is no command."""
    word, _, argument = (text or "").strip().partition(" ")
    try:
        command = Command(word.upper())
    except ValueError:
        return None
    argument = argument.strip()
    if len(argument) > MAX_ARGUMENT:
        return None
    return command, argument


def hours_argument(allowed_from: time, allowed_until: time) -> str:
    """HOURS' argument for a pair of hours: "9-20"."""
    return f"{allowed_from.hour}-{allowed_until.hour}"


# --- the units of work (for the app's runner) -----------------------------------------------


@retry_duplicates
def receive_command(
    session: Session,
    *,
    clock: Clock,
    context: ConversationContext,
    message: InboundMessage,
    tariff_dir: Path | None = None,
) -> Outcome:
    """A button's or a bot command's text (`message.body`, a `Command` and its argument),
    stored once per provider id and answered. Text that is no command gets the menu.
    `tariff_dir`: where the usage chart finds the tiers' limits (none drawn without)."""
    parsed = parse_command(message.body) or (Command.menu, "")
    command, argument = parsed
    answer = functools.partial(_answer, command, argument, tariff_dir, message.provider_message_id)
    return receive_message(
        session=session, clock=clock, context=context, inbound=message,
        understood=Understood(command.value.lower(), answer),
    )  # fmt: skip


@retry_duplicates
def receive_contact(
    session: Session,
    *,
    clock: Clock,
    context: ConversationContext,
    message: InboundMessage,
    phone: str,
    own: bool,
) -> Outcome:
    """A contact the sender shared (`own`: the channel vouches it is the sender's own, as
    Telegram does when the contact's user id is the sender's). Links the chat to the
    customers whose verified SMS number it is; `message.body` should not hold the phone."""
    answer = functools.partial(_link_by_phone, phone, own)
    return receive_message(
        session=session, clock=clock, context=context, inbound=message,
        understood=Understood("contact", answer),
    )  # fmt: skip


# --- answering ---------------------------------------------------------------------------


def _answer(
    command: Command, argument: str, tariff_dir: Path | None, provider_id: str | None, turn: Turn
) -> Reply | None:
    if command == Command.welcome:
        return _menu(turn, "tg_menu") if turn.accounts else turn.say("tg_welcome")
    if command == Command.lang:
        return answer_self_service(turn, Intent(IntentKind.lang, language=_language(argument)))
    if command == Command.agent:
        return answer_intent(turn, Intent(IntentKind.agent))
    if command == Command.unlink:
        return _unlink(turn)
    if not turn.accounts:
        return turn.say("not_linked")  # the same words for every unverified sender
    match command:
        case Command.bill:
            return _bill(turn, argument)
        case Command.pay:
            return answer_self_service(turn, _indexed(turn, IntentKind.pay, argument))
        case Command.usage:
            return _usage(turn, argument, tariff_dir, provider_id)
        case Command.history:
            return _history(turn, argument)
        case Command.read:
            return turn.say("self_read_how")
        case Command.settings:
            return _settings(turn)
        case Command.notify:
            return _notify(turn, argument)
        case Command.hours:
            return _hours(turn, argument)
        case Command.account:
            return _select_account(turn, argument)
    return _menu(turn, "tg_menu")


def _language(argument: str) -> str | None:
    return LANGUAGE_WORDS.get(argument.strip().casefold()) if argument else None


def _index(argument: str) -> int | None:
    return int(argument) if argument.isdigit() and len(argument) <= 3 else None


def _indexed(turn: Turn, kind: IntentKind, argument: str) -> Intent:
    """The intent for the account the argument names, else the one the chat works on."""
    index = _index(argument)
    if index is None:
        selected = account_of(turn)
        if selected is not None:
            index = turn.accounts.index(selected) + 1
    return Intent(kind, account_index=index)


def _account(turn: Turn, argument: str, command: str) -> SenderAccount | Reply:
    """The account a command is about, or the question which one (its buttons repeat the
    command with the account's place in the list); choosing one selects it."""
    index = _index(argument)
    if index is not None and 1 <= index <= len(turn.accounts):
        account = turn.accounts[index - 1]
    else:
        found = account_of(turn)
        if found is None:
            return replies.choose_account(
                language=turn.language, numbers=[a.number for a in turn.accounts],
                command=command,
            )  # fmt: skip
        account = found
    turn.conversation.selected_account_id = account.id
    return account


def _menu(turn: Turn, template: str) -> Reply:
    """What the chat can ask, as buttons, for the account it works on (or which one first)."""
    account = account_of(turn)
    if account is None:
        return replies.choose_account(
            language=turn.language, numbers=[a.number for a in turn.accounts], command="ACCOUNT"
        )
    turn.conversation.selected_account_id = account.id
    language = turn.language
    items = [
        ("menu_bill", "BILL"), ("menu_pay", "PAY"), ("menu_usage", "USAGE"),
        ("menu_history", "HISTORY"), ("menu_read", "READ"), ("menu_settings", "SETTINGS"),
        ("menu_agent", "AGENT"), ("menu_lang", "LANG"),
    ]  # fmt: skip
    if len(turn.accounts) > 1:
        items.append(("menu_account", "ACCOUNT 0"))
    choices = tuple(Choice(command, label(name, language), command) for name, command in items)
    text = render(template, language, account=account.number)
    return Reply(template, language, (text,), (Figure("account", account.number),),
                 choices=choices)  # fmt: skip


def _select_account(turn: Turn, argument: str) -> Reply:
    """ACCOUNT n works on the n-th account; ACCOUNT 0 (or none) asks which."""
    index = _index(argument)
    if index is None or not 1 <= index <= len(turn.accounts):
        if len(turn.accounts) == 1:
            return _menu(turn, "tg_menu")
        return replies.choose_account(
            language=turn.language, numbers=[a.number for a in turn.accounts], command="ACCOUNT"
        )
    turn.conversation.selected_account_id = turn.accounts[index - 1].id
    return _menu(turn, "tg_menu")


def _bill(turn: Turn, argument: str) -> Reply | None:
    """The latest bill as BILL answers it on SMS (amount, due date, the pay link), with its
    kWh and standing added."""
    reply = answer_self_service(turn, _indexed(turn, IntentKind.bill, argument))
    if reply is None or reply.template not in ("bill_reply", "bill_overdue", "bill_paid"):
        return reply
    used = next((figure.value for figure in reply.figures if figure.name == "kwh"), None)
    used = used if isinstance(used, Decimal) else None
    standing = {"bill_paid": "paid", "bill_overdue": "overdue"}.get(reply.template, "issued")
    return reply._replace(paragraphs=(*reply.paragraphs, _details(used, standing, turn.language)))


# "My bill" is the bot's busiest answer: its kWh comes with the statement of account (no
# statement more than SMS's BILL), and its words are remembered (babel formats slowly).
@functools.lru_cache(maxsize=4096)
def _details(used: Decimal | None, standing: str, language: str) -> str:
    return render(
        "tg_bill_details", language, kwh=kwh(used, language) if used is not None else "-",
        status=label(f"standing_{standing}", language),
    )  # fmt: skip


def _history(turn: Turn, argument: str) -> Reply:
    account = _account(turn, argument, "HISTORY")
    if isinstance(account, Reply):
        return account
    context, language = turn.context, turn.language
    statement = account_statement(
        session=turn.session, account_id=account.id, today=context.payments.today(turn.clock),
        currency=context.currency,
    )  # fmt: skip
    bills = statement.bills[-HISTORY_BILLS:]
    if not bills:
        return replies.no_bill(language=language, account=account.number)
    rows = turn.session.execute(
        select(col(Bill.id), col(Bill.kwh)).where(col(Bill.id).in_([b.bill_id for b in bills]))
    )
    used = {bill_id: value for bill_id, value in rows}
    lines = "\n".join(
        f"{period(line.period_start, line.period_end, language)} "
        f"{kwh(used[line.bill_id], language)} "
        f"{money(line.total, context.currency, language)} "
        f"{label(f'standing_{line.standing.value}', language)}"
        for line in reversed(bills)  # the latest first
    )
    text = render("tg_history", language, account=account.number, count=len(bills), lines=lines)
    figures = (Figure("account", account.number),)
    return Reply("tg_history", language, tuple(text.split("\n")), figures)


# --- the usage chart --------------------------------------------------------------------


def _usage(turn: Turn, argument: str, tariff_dir: Path | None, provider_id: str | None) -> Reply:
    """The last months' kWh as a chart, sent as a photo through the outbox (it cannot be
    answered inline), and a short text that says it is coming."""
    account = _account(turn, argument, "USAGE")
    if isinstance(account, Reply):
        return account
    language = turn.language
    rows = turn.session.execute(
        select(col(Bill.period_start), col(Bill.period_end), col(Bill.kwh))
        .where(col(Bill.account_id) == account.id, col(Bill.status) == "issued")
        .order_by(col(Bill.period_start).desc())
        .limit(CHART_PERIODS)
    )
    bills: list[tuple[date, date, Decimal]] = [(s, e, k) for s, e, k in rows][::-1]
    if not bills:
        return replies.no_bill(language=language, account=account.number)
    limits = _tier_limits(turn.session, account, bills[-1][1], tariff_dir)
    spec = ChartSpec(tuple((s, e) for s, e, _ in bills), tuple(k for _, _, k in bills), limits)
    caption = render("tg_usage_caption", language, account=account.number, count=len(bills))
    payload = json.dumps({"chart": chart_payload(spec, language=language, title=caption)})
    _send_chart(turn, caption=caption, payload=payload, provider_id=provider_id)
    latest = bills[-1]
    text = render(
        "tg_usage_sent", language, account=account.number, count=len(bills),
        latest=f"{period(latest[0], latest[1], language)} {kwh(latest[2], language)}",
    )  # fmt: skip
    return Reply("tg_usage_sent", language, (text,), (Figure("account", account.number),),
                 chart=spec)  # fmt: skip


def chart_payload(spec: ChartSpec, *, language: str, title: str) -> dict[str, Any]:
    """The chart as JSON values (what a channel's renderer draws: bot/chart.py): periods as
    ISO dates, kWh and limits as decimal strings."""
    return {
        "title": title,
        "language": language,
        "periods": [[start.isoformat(), end.isoformat()] for start, end in spec.periods],
        "kwh": [str(value) for value in spec.kwh],
        "limits": [str(value) for value in spec.limits],
    }


def _send_chart(turn: Turn, *, caption: str, payload: str, provider_id: str | None) -> None:
    conversation = turn.conversation
    now = turn.clock.now()
    asked = provider_id or f"{int(now.timestamp() * 1000)}"
    dedupe_key = f"conversation:chart:{conversation.channel}:{asked}"[:160]
    enqueue_message(
        session=turn.session, clock=turn.clock, dedupe_key=dedupe_key,
        recipient=Recipient(conversation.channel, conversation.address),
        template="tg_usage_caption", language=turn.language, body=caption, kind=REPLY,
        purpose=conversation_purpose(conversation.id),
        account_id=conversation.selected_account_id, customer_id=conversation.customer_id,
        priority=2, payload=payload,
    )  # fmt: skip
    outbox_id = turn.session.scalar(
        select(col(OutboxMessage.id)).where(col(OutboxMessage.dedupe_key) == dedupe_key)
    )
    conversations.store_message(
        turn.session.connection(), conversation_id=conversation.id, direction="out",
        author="bot", channel=conversation.channel, body=caption, intent="usage",
        provider_message_id=None, status="pending", created_at=now,
        outbox_message_id=outbox_id,
    )  # fmt: skip


@functools.lru_cache(maxsize=4)
def _catalog(directory: Path) -> TariffCatalog:
    return TariffCatalog.load(directory)


def _tier_limits(
    session: Session, account: SenderAccount, day: date, tariff_dir: Path | None
) -> tuple[Decimal, ...]:
    """The kWh limits of the account's tariff blocks for a month, on `day`: a monthly
    block's limits as they are, an annual block's as a twelfth (the monthly share), raised
    for the household's size where the tariff says so. None for a tariff without blocks,
    or when the tariff is not known here."""
    if tariff_dir is None:
        return ()
    code = session.scalar(
        select(col(TariffAssignment.tariff_code))
        .where(col(TariffAssignment.account_id) == account.id,
               col(TariffAssignment.effective_from) <= day)
        .order_by(col(TariffAssignment.effective_from).desc())
        .limit(1)
    )  # fmt: skip
    try:
        catalog = _catalog(tariff_dir)
        if code is None or code not in catalog:
            return ()
        version = catalog.get(code).version_on(day)
    except TariffError:
        return ()
    season = version.seasons[version.season_of_month[day.month - 1]]
    household = session.scalar(
        select(col(Customer.household_size)).where(col(Customer.id) == account.customer_id)
    )
    raised = version.limit_raise_for(household)
    limits = (limit + raised for limit in season.limits)
    if version.annual_blocks:
        return tuple((limit / 12).quantize(Decimal("0.1")) for limit in limits)
    return tuple(limits)


# --- linking and unlinking -------------------------------------------------------------


def _link_by_phone(phone: str, own: bool, turn: Turn) -> Reply:
    """The sender's own phone, when it is a customer's verified SMS number, links the chat
    to that customer (each such customer), audited; anything else links nothing."""
    if not own:
        return turn.say("tg_contact_not_own")
    e164 = _e164(phone, turn.context.phone_region)
    customer_ids = (
        list(
            turn.session.scalars(
                select(col(Contact.customer_id)).where(
                    col(Contact.channel) == Channel.sms, col(Contact.address) == e164,
                    col(Contact.verified).is_(True),
                ).order_by(col(Contact.customer_id))
            )
        )
        if e164 is not None
        else []
    )  # fmt: skip
    if not customer_ids:
        return turn.say("tg_contact_unknown")
    for customer_id in customer_ids:
        verify_contact(
            session=turn.session, clock=turn.clock, customer_id=customer_id,
            channel=turn.channel, address=turn.address,
            reason=f"shared their own {turn.channel} phone "
                   f"{mask_address(Channel.sms, e164 or '')}, the customer's verified number",
        )  # fmt: skip
    turn.accounts = sender_accounts(turn.session, turn.channel, turn.address)
    if not turn.accounts:  # customers with no open account: linked, nothing to show
        return turn.say("tg_contact_unknown")
    first = turn.accounts[0]
    conversation = turn.conversation
    conversation.customer_id = first.customer_id
    conversation.language = first.customer_language
    if account_of(turn) is None:  # the menu shows the first; a button switches
        conversation.selected_account_id = first.id
    return _menu(turn, "tg_linked")


def _e164(phone: str, region: str) -> str | None:
    """A chat app's phone number in E.164: Telegram's are international, often without +."""
    digits = (phone or "").strip()
    if digits and not digits.startswith("+"):
        found = normalise_phone("+" + digits, region)
        if found is not None:
            return found
    return normalise_phone(digits, region)


def _unlink(turn: Turn) -> Reply:
    """The chat is no contact of any customer any more (audited): it shows no account."""
    contacts = turn.session.scalars(
        select(Contact).where(
            col(Contact.channel) == turn.channel, col(Contact.address) == turn.address,
            col(Contact.verified).is_(True),
        )
    ).all()  # fmt: skip
    if not contacts:
        return turn.say("tg_not_linked_yet")
    for contact in contacts:
        before = snapshot(contact)
        contact.verified, contact.verified_at = False, None
        turn.session.add(contact)
        turn.session.flush()
        record_change(
            session=turn.session, clock=turn.clock, actor=f"{turn.channel}:{turn.address}"[:100],
            action="contact.unlink", entity="contact", entity_id=contact.id, before=before,
            after=snapshot(contact), reason="the customer unlinked the chat",
        )  # fmt: skip
    turn.accounts = []
    turn.conversation.customer_id = None
    turn.conversation.selected_account_id = None
    return turn.say("tg_unlinked")


# --- notification settings -----------------------------------------------------------------


def _customer_contacts(turn: Turn) -> tuple[int, list[Contact]]:
    """The customer the chat works on, and their verified contacts in a stable order."""
    account = account_of(turn) or turn.accounts[0]
    contacts = list(
        turn.session.scalars(
            select(Contact)
            .where(col(Contact.customer_id) == account.customer_id, col(Contact.verified).is_(True))
            .order_by(col(Contact.id))
        )
    )
    return account.customer_id, contacts


def _settings(turn: Turn, *, saved: bool = False) -> Reply:
    language = turn.language
    _, contacts = _customer_contacts(turn)
    lines = "\n".join(
        f"{_contact_name(contact, language)}: "
        f"{label('notify_on' if contact.notify else 'notify_off', language)}"
        for contact in contacts
    )
    current = HOURS_CHOICES[0]
    if contacts:
        current = (contacts[0].allowed_from, contacts[0].allowed_until)
    text = render(
        "tg_settings", language, contacts=lines or "-", hours=_hours_text(*current, language),
        language_name=label("language_name", language),
    )  # fmt: skip
    choices: list[Choice] = []
    for number, contact in enumerate(contacts, start=1):
        name = label(f"channel_{contact.channel}", language)
        words = label("turn_off" if contact.notify else "turn_on", language, channel=name)
        choices.append(Choice(f"NOTIFY {number}", words, f"NOTIFY {number}"))
    for hours in HOURS_CHOICES:
        if hours != current:
            command = f"HOURS {hours_argument(*hours)}"
            words = label("hours", language, hours=_hours_text(*hours, language))
            choices.append(Choice(command, words, command))
    choices.append(Choice("LANG", label("menu_lang", language), "LANG"))
    choices.append(Choice("UNLINK", label("menu_unlink", language), "UNLINK"))
    paragraphs = tuple(text.split("\n"))
    if saved:
        paragraphs = (render("tg_saved", language), *paragraphs)
    return Reply("tg_settings", language, paragraphs, choices=tuple(choices))


def _contact_name(contact: Contact, language: str) -> str:
    name = label(f"channel_{contact.channel}", language)
    return f"{name} ...{contact.address[-4:]}"


def _hours_text(allowed_from: time, allowed_until: time, language: str) -> str:
    if allowed_from == allowed_until:
        return label("any_time", language)
    return f"{allowed_from:%H:%M}-{allowed_until:%H:%M}"


def _notify(turn: Turn, argument: str) -> Reply:
    """NOTIFY n: the n-th contact's notices on if off, off if on (audited)."""
    _, contacts = _customer_contacts(turn)
    index = _index(argument)
    if index is None or not 1 <= index <= len(contacts):
        return _settings(turn)
    contact = contacts[index - 1]
    _change(turn, contact, "contact.notify", notify=not contact.notify)
    return _settings(turn, saved=True)


def _hours(turn: Turn, argument: str) -> Reply:
    """HOURS a-b: every contact of the customer takes notices in those hours (audited)."""
    chosen = next((h for h in HOURS_CHOICES if hours_argument(*h) == argument), None)
    if chosen is None:
        return _settings(turn)
    _, contacts = _customer_contacts(turn)
    for contact in contacts:
        if (contact.allowed_from, contact.allowed_until) != chosen:
            _change(turn, contact, "contact.hours", allowed_from=chosen[0],
                    allowed_until=chosen[1])  # fmt: skip
    return _settings(turn, saved=True)


def _change(turn: Turn, contact: Contact, action: str, **values: object) -> None:
    before = snapshot(contact)
    for name, value in values.items():
        setattr(contact, name, value)
    turn.session.add(contact)
    turn.session.flush()
    record_change(
        session=turn.session, clock=turn.clock, actor=f"{turn.channel}:{turn.address}"[:100],
        action=action, entity="contact", entity_id=contact.id, before=before,
        after=snapshot(contact), reason="the customer's choice in the chat",
    )  # fmt: skip
