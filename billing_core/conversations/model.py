"""Plain values at the conversation layer's edge: what an adapter hands in, and what it gets
back (a channel-neutral reply that each channel renders). Adapters (sms/, bot/) translate their
wire formats to and from these."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import NamedTuple

from billing_core.messages.templates import STATES_CHOICES, choice_line, pay_words

# Conversation states: the bot answers; queued for an agent; an agent owns it.
BOT, QUEUED, AGENT = "bot", "queued", "agent"


class InboundMessage(NamedTuple):
    channel: str  # "sms", "telegram"
    sender: str  # E.164 for SMS; the Telegram user id for Telegram
    body: str
    provider_message_id: str | None  # Twilio MessageSid, Telegram update id: retries repeat it
    received_at: datetime
    opt_out_type: str | None = None  # what the provider already recognised (Twilio OptOutType)


class Figure(NamedTuple):
    """A figure a reply states (the account, an amount, a date), for a channel that shows
    figures apart from the words (a table, a card)."""

    name: str  # account, amount, balance, due_date, period_start, period_end, minutes
    value: Decimal | int | date | str
    unit: str = ""  # the currency for money, "min" for minutes; empty otherwise


class PayAction(NamedTuple):
    """The pay link a reply offers: a text message writes its URL, a chat app a button."""

    url: str
    amount: Decimal
    currency: str
    expires_at: datetime


class Choice(NamedTuple):
    """One numbered choice: what the customer may reply (`key`), what it is, and the command
    it stands for (a button sends the command)."""

    key: str  # "1", "LANG EN"
    label: str  # "...0001", "English"
    command: str  # "BILL 1", "LANG EN"


class ChartSpec(NamedTuple):
    """Energy per period for a chart (USAGE), oldest first; tier limits where known."""

    periods: tuple[tuple[date, date], ...]
    kwh: tuple[Decimal, ...]
    limits: tuple[Decimal, ...] = ()


class Reply(NamedTuple):
    """The bot's answer, for any channel. `paragraphs` are the template's words without the
    pay link's (a channel adds `pay` its own way); a template in STATES_CHOICES lists its
    `choices` in its words, other choices are for the channel to offer."""

    template: str  # the message template it was written from (billing_core.messages)
    language: str
    paragraphs: tuple[str, ...]
    figures: tuple[Figure, ...] = ()
    pay: PayAction | None = None
    choices: tuple[Choice, ...] = ()
    chart: ChartSpec | None = None


# The template of a reply given again from its stored words (a provider's retry): its one
# paragraph is the text as stored, which is what `reply_text` gave the first time.
STORED = "stored"


class Outcome(NamedTuple):
    conversation_id: int
    # the answer to send at once; None: stay silent (an agent owns it). For a duplicate, the
    # answer given the first time (a `stored_reply`), or None if there was none.
    reply: Reply | None
    language: str
    duplicate: bool = False  # the provider id was seen before: nothing new happened
    intent: str | None = None  # what the message was recognised as (IntentKind value)


def stored_reply(text: str, language: str) -> Reply:
    """A reply given again as it was stored: a channel renders its words as they are."""
    return Reply(STORED, language, (text,))


def reply_text(reply: Reply) -> str:
    """The reply as plain text: its paragraphs a line each, the pay link's words, and a line
    for each choice its words do not list. What the conversation keeps and what SMS sends."""
    paragraphs = reply.paragraphs
    text = paragraphs[0] if len(paragraphs) == 1 else "\n".join(paragraphs)
    if reply.pay is not None:
        text += pay_words(reply.language, reply.pay.url)
    if reply.choices and reply.template not in STATES_CHOICES:
        text += "".join(
            "\n" + choice_line(reply.language, choice.key, choice.label) for choice in reply.choices
        )
    return text
