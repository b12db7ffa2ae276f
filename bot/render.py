"""A `Reply` as a Telegram message: its paragraphs as plain text (no parse mode, so nothing a
template or a customer wrote needs escaping), the pay action as a URL button, the choices as
callback buttons, and a Menu button under any answer that offers more. Answers that ask an
unlinked chat to link get a one-time keyboard with Telegram's "share my phone number"."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from aiogram.methods import SendMessage

from billing_core.conversations.model import STORED, Reply
from billing_core.messages.templates import label, money
from bot.callbacks import Press

# The answers that ask a chat to link itself: the phone button makes that one tap.
ASKS_FOR_PHONE = frozenset({"tg_welcome", "tg_contact_not_own", "tg_contact_unknown",
                            "not_linked", "tg_unlinked"})  # fmt: skip
# Answers that are the menu already, or a question whose buttons are its only way on.
NO_MENU_BUTTON = frozenset({"tg_menu", "tg_linked", "choose_account", "tg_not_linked_yet"})
BUTTONS_PER_ROW = 2

_money = functools.lru_cache(4096)(money)  # the same amounts again and again; babel is slow


@dataclass(frozen=True)
class Answer:
    """A `sendMessage` to make, as the Bot API's parameters. The webhook answers with its
    JSON; polling sends it through the Bot as aiogram's `SendMessage`. Rendered straight to
    plain values, not through aiogram's models: validating a message, its keyboard and its
    buttons as pydantic models, then dumping them again, was three quarters of an answer's
    rendering (21 against 6 µs); `method()` is the same call as aiogram's model
    (tests/unit/bot/test_render.py checks the two agree)."""

    params: dict[str, Any]

    def json(self) -> bytes:
        """The webhook response: the method's name under "method", then its parameters."""
        return json.dumps(
            {"method": "sendMessage", **self.params}, ensure_ascii=False, separators=(",", ":")
        ).encode()

    def method(self) -> SendMessage:
        return SendMessage.model_validate(self.params)


def message_text(reply: Reply) -> str:
    return "\n".join(reply.paragraphs)


def keyboard(reply: Reply) -> dict[str, Any] | None:
    """The reply's buttons as the Bot API's `reply_markup`, or None for a message without."""
    language = reply.language
    if reply.template in ASKS_FOR_PHONE:
        button = {"text": label("share_phone", language), "request_contact": True}
        return {"keyboard": [[button]], "resize_keyboard": True, "one_time_keyboard": True}
    if reply.template == STORED:  # a retried update's stored words: the pay link is in them
        return None
    rows: list[list[dict[str, Any]]] = []
    if reply.pay is not None:
        amount = _money(reply.pay.amount, reply.pay.currency, language)
        rows.append([{"text": label("pay_amount", language, amount=amount),
                      "url": reply.pay.url}])  # fmt: skip
    buttons = [_command_button(choice.label, choice.command) for choice in reply.choices]
    rows.extend(buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW))
    if reply.template not in NO_MENU_BUTTON:
        rows.append([_command_button(label("menu", language), "MENU")])
    return {"inline_keyboard": rows}


def _command_button(text: str, command: str) -> dict[str, Any]:
    """A button that sends a command back (Menu, the states' choices)."""
    return {"text": text, "callback_data": _packed(command)}


@functools.lru_cache(1024)
def _packed(command: str) -> str:
    """The button data of a command: the same few under most answers, packed once."""
    return Press.of(command).pack()


def send_message(chat_id: int, reply: Reply) -> Answer:
    """The Bot API call that sends the reply to the chat (answered inline, or made by the
    Bot when polling)."""
    params: dict[str, Any] = {"chat_id": chat_id, "text": message_text(reply)}
    markup = keyboard(reply)
    if markup is not None:
        params["reply_markup"] = markup
    return Answer(params)
