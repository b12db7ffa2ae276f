"""A `Reply` as a Telegram message: its paragraphs as plain text (no parse mode, so nothing a
template or a customer wrote needs escaping), the pay action as a URL button, the choices as
callback buttons, and a Menu button under any answer that offers more. Answers that ask an
unlinked chat to link get a one-time keyboard with Telegram's "share my phone number"."""

from __future__ import annotations

import functools

from aiogram.methods import SendMessage
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

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
    buttons = [_command_button(choice.label, choice.command) for choice in reply.choices]
    rows.extend(buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW))
    if reply.template not in NO_MENU_BUTTON:
        rows.append([_command_button(label("menu", language), "MENU")])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@functools.lru_cache(1024)
def _command_button(text: str, command: str) -> InlineKeyboardButton:
    """A button that sends a command back: the same few (Menu, the states' choices) under
    most answers, each built and validated once (nothing changes a button once built)."""
    return InlineKeyboardButton(text=text, callback_data=Press.of(command).pack())


def send_message(chat_id: int, reply: Reply) -> SendMessage:
    """The Bot API call that sends the reply to the chat (answered inline, or made by the
    Bot when polling)."""
    return SendMessage(chat_id=chat_id, text=message_text(reply), reply_markup=keyboard(reply))
