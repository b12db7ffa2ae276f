"""A `Reply` as a Telegram message: its paragraphs as plain text (no parse mode, so nothing a
template or a customer wrote needs escaping), the pay action as a URL button, the choices as
callback buttons, and a Menu button under any answer that offers more. Answers that ask an
unlinked chat to link get a one-time keyboard with Telegram's "share my phone number".

An answer is rendered where its unit of work ran (on SQLite the writer process, `Answer`):
the web process gets the JSON its response carries, not the reply to build models from."""

from __future__ import annotations

import functools
import json
from typing import Any, NamedTuple

from aiogram.methods import SendMessage, TelegramMethod
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from pydantic_core import PydanticSerializationError

from billing_core.conversations.model import STORED, Reply
from billing_core.messages.templates import label, money
from bot.callbacks import Press

# The answers that ask a chat to link itself: the phone button makes that one tap.
ASKS_FOR_PHONE = frozenset({"tg_welcome", "tg_contact_not_own", "tg_contact_unknown",
                            "not_linked", "tg_unlinked"})  # fmt: skip
# Answers that are the menu already, or a question whose buttons are its only way on.
NO_MENU_BUTTON = frozenset({"tg_menu", "tg_linked", "choose_account", "tg_not_linked_yet"})
BUTTONS_PER_ROW = 2

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup
_money = functools.lru_cache(4096)(money)  # the same amounts again and again; babel is slow


def message_text(reply: Reply) -> str:
    return "\n".join(reply.paragraphs)


def keyboard(reply: Reply) -> Markup | None:
    """The reply's buttons, or None for a message without any."""
    language = reply.language
    if reply.template in ASKS_FOR_PHONE:
        button = KeyboardButton(text=label("share_phone", language), request_contact=True)
        return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True,
                                   one_time_keyboard=True)  # fmt: skip
    if reply.template == STORED:  # a retried update's stored words: the pay link is in them
        return None
    rows: list[list[InlineKeyboardButton]] = []
    if reply.pay is not None:
        amount = _money(reply.pay.amount, reply.pay.currency, language)
        rows.append([InlineKeyboardButton(text=label("pay_amount", language, amount=amount),
                                          url=reply.pay.url)])  # fmt: skip
    buttons = [
        InlineKeyboardButton(text=choice.label, callback_data=Press.of(choice.command).pack())
        for choice in reply.choices
    ]
    rows.extend(buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW))
    if reply.template not in NO_MENU_BUTTON:
        menu = Press.of("MENU").pack()
        rows.append([InlineKeyboardButton(text=label("menu", language), callback_data=menu)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def send_message(chat_id: int, reply: Reply) -> SendMessage:
    """The Bot API call that sends the reply to the chat (answered inline, or made by the
    Bot when polling)."""
    return SendMessage(chat_id=chat_id, text=message_text(reply), reply_markup=keyboard(reply))


def method_json(method: TelegramMethod[Any]) -> bytes:
    """The method as Telegram takes it in a webhook's response: its name under "method" and
    its parameters, nested objects as JSON objects, unset ones left out. pydantic writes the
    JSON (aiogram's request encoder, walking the method in Python, cost four times as much:
    37 against 8 µs for a bill with its buttons). A method that uploads a file cannot be
    answered inline: ValueError (the bot sends photos through the outbox)."""
    try:
        params = method.model_dump_json(exclude_unset=True)
    except PydanticSerializationError as exc:
        raise ValueError(f"{method.__api_method__} cannot be answered inline: {exc}") from exc
    head = '{"method":' + json.dumps(method.__api_method__)
    return (head + ("}" if params == "{}" else "," + params[1:])).encode()


class Answer(NamedTuple):
    """A reply rendered for a chat: the SendMessage as a webhook's response carries it."""

    chat_id: int
    json: bytes

    @classmethod
    def of(cls, chat_id: int, reply: Reply) -> Answer:
        return cls(chat_id, method_json(send_message(chat_id, reply)))

    def method(self) -> SendMessage:
        """The SendMessage again, for the Bot to send (polling)."""
        params = json.loads(self.json)
        del params["method"]
        return SendMessage.model_validate(params)
