"""A Reply as a Telegram message: the pay action a URL button, choices callback buttons that
fit Telegram's 64 bytes, the phone button where the chat must link; the answer rendered
straight to JSON is the call aiogram's models make; the secret check; the commands;
Telegram's templates in both languages."""

from __future__ import annotations

import json
import string
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_core.conversations import replies
from billing_core.conversations.actions import Command, parse_command
from billing_core.conversations.model import STORED, Choice, PayAction, Reply
from billing_core.customers.model import Language
from billing_core.messages.templates import LABELS, TEMPLATES
from bot.callbacks import Press
from bot.render import Answer, keyboard, send_message
from bot.webhook import is_from_telegram

PAY = PayAction("http://127.0.0.1:8000/p/" + "A" * 32, Decimal("123.45"), "CNY",
                datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip


def buttons(reply: Reply) -> list[dict[str, object]]:
    markup = keyboard(reply)
    assert markup is not None
    return [b for row in markup.get("inline_keyboard", markup.get("keyboard", [])) for b in row]


def test_a_bill_has_a_pay_button_and_the_menu() -> None:
    reply = Reply("bill_reply", Language.en, ("wattdesk: account 1, ...",), pay=PAY)
    found = buttons(reply)
    assert found[0] == {"text": "Pay CNY 123.45", "url": PAY.url}
    assert found[-1] == {"text": "Menu", "callback_data": "c:MENU:"}
    message = send_message(42, reply).method()
    assert message.chat_id == 42 and PAY.url not in message.text


ANSWERS = [
    replies.bill(language=Language.zh_cn, currency="CNY", account="1000000174",
                 period_start=date(2026, 10, 26), period_end=date(2026, 11, 25),
                 amount=Decimal("290.06"), due_date=date(2026, 12, 10),
                 balance=Decimal("290.06"), pay=PAY, overdue=False, kwh=Decimal("312")),
    replies.pay(language=Language.en, currency="CNY", account="1000000174", pay=PAY),
    replies.choose_account(language=Language.en, numbers=["1000000001", "1000000002", "3"],
                           command="BILL"),
    replies.clarify(language=Language.zh_cn),
    replies.lang_choose(language=Language.en),
    replies.plain("not_linked", Language.en),
    Reply("tg_menu", Language.zh_cn, ("菜单",)),
    Reply(STORED, Language.en, ("words. Pay: http://x/p/1",)),
    Reply("tg_linked", Language.en, ("line one", 'a "quoted" line\\ with \u2028 and 中文')),
]  # fmt: skip


def canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@pytest.mark.parametrize("reply", ANSWERS, ids=lambda r: r.template)
def test_the_answer_is_the_call_aiograms_models_make(reply: Reply) -> None:
    answer = send_message(7_000_000_001, reply)
    method = answer.method()  # aiogram's model validates the parameters
    through_models = {"method": "sendMessage",
                      **json.loads(method.model_dump_json(exclude_unset=True))}  # fmt: skip
    assert canonical(json.loads(answer.json())) == canonical(through_models)  # true is not 1
    assert Answer(answer.params).json() == answer.json()


def test_choices_are_callback_buttons_within_64_bytes() -> None:
    reply = replies.choose_account(language=Language.zh_cn, numbers=["1000000001", "1000000002"],
                                   command="HISTORY")  # fmt: skip
    datas = [str(b["callback_data"]) for b in buttons(reply)]
    assert datas == ["c:HISTORY:1", "c:HISTORY:2"]  # a question: its buttons are the way on
    assert all(len(d.encode()) <= 64 for d in datas)
    assert Press.unpack(datas[1]).command == "HISTORY 2"


def test_an_unlinked_chat_is_offered_the_phone_button() -> None:
    reply = replies.plain("not_linked", Language.zh_cn)
    [button] = buttons(reply)
    assert button["request_contact"] is True and button["text"] == "分享手机号"


def test_a_stored_reply_has_no_buttons() -> None:
    assert keyboard(Reply(STORED, Language.en, ("words. Pay: http://x/p/1",))) is None


def test_a_choice_with_a_separator_still_packs() -> None:
    packed = Press.of("HOURS 9:00-20:00").pack()
    assert packed == "c:HOURS:900-2000" and len(packed) <= 64
    choice = Choice("x", "x", "BILL 2")
    assert Press.of(choice.command) == Press(word="BILL", arg="2")


@pytest.mark.parametrize(
    ("secret", "header", "ok"),
    [("s" * 32, "s" * 32, True), ("s" * 32, "s" * 31, False), ("s" * 32, None, False),
     ("", "", False), ("", None, False), ("s" * 32, "ß" * 32, False)],
)  # fmt: skip
def test_the_secret_check(secret: str, header: str | None, ok: bool) -> None:
    assert is_from_telegram(secret, header) is ok


def test_commands() -> None:
    assert parse_command("BILL 2") == (Command.bill, "2")
    assert parse_command(" hours 9-20 ") == (Command.hours, "9-20")
    assert parse_command("bill please tell me everything") is None  # too long an argument
    assert parse_command("DROP") is None and parse_command("") is None


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("name", [n for n in TEMPLATES if n.startswith("tg_")])
def test_telegrams_templates_speak_both_languages(name: str) -> None:
    texts = TEMPLATES[name]
    assert set(texts) == {Language.zh_cn, Language.en}
    assert fields(texts[Language.zh_cn]) == fields(texts[Language.en])


@pytest.mark.parametrize("name", list(LABELS))
def test_labels_speak_both_languages(name: str) -> None:
    texts = LABELS[name]
    assert set(texts) == {Language.zh_cn, Language.en}
    assert fields(texts[Language.zh_cn]) == fields(texts[Language.en])
