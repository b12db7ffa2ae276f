"""What a customer's message asks for, in English or Chinese: pure functions over text.
Exact commands first (`ＢＩＬＬ`, `账单 2`, STOP), then a classifier for free text (see nlu/)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from billing_core.customers.model import Language


class IntentKind(StrEnum):
    bill = "bill"  # latest bill, balance, due date, pay link
    pay = "pay"  # a pay link
    usage = "usage"  # the last periods' kWh
    help = "help"
    stop = "stop"  # opt out of automated messages
    start = "start"  # opt back in
    lang = "lang"  # reply language
    agent = "agent"  # a person, please
    complaint = "complaint"  # a complaint word: a person, at once
    link = "link"  # LINK <account number> [code]: verify this number for an account
    code = "code"  # a one-time code on its own
    self_read = "self_read"  # a meter reading the customer took: the value in Intent.reading
    arrangement = "arrangement"  # pay later, or in parts
    dispute = "dispute"  # the bill is wrong
    outage = "outage"  # no power
    unknown = "unknown"


# Kinds that take an account index ("BILL 2") when a number is on several accounts.
INDEXED = frozenset({IntentKind.bill, IntentKind.pay, IntentKind.usage})

# Whole-message keywords, after `normalise` and with spaces removed. Opt-out and opt-in words
# are the carriers' (CTIA) and Twilio's standard ones plus the Chinese 退订/TD convention.
KEYWORDS: dict[str, IntentKind] = {
    **dict.fromkeys(
        ["bill", "bills", "balance", "账单", "查询", "电费", "查电费", "查询电费", "电费查询",
         "查账单", "账单查询", "余额", "查余额"],
        IntentKind.bill,
    ),
    **dict.fromkeys(["pay", "缴费", "交费", "付款", "支付", "缴电费", "交电费"], IntentKind.pay),
    **dict.fromkeys(["usage", "kwh", "用电", "用电量", "查用电", "用量"], IntentKind.usage),
    **dict.fromkeys(["help", "info", "帮助", "菜单"], IntentKind.help),
    **dict.fromkeys(
        ["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "退订",
         "td", "取消订阅"],
        IntentKind.stop,
    ),
    **dict.fromkeys(["start", "unstop", "yes", "订阅", "恢复订阅"], IntentKind.start),
    **dict.fromkeys(
        ["agent", "human", "person", "operator", "人工", "人工服务", "转人工", "客服"],
        IntentKind.agent,
    ),
}  # fmt: skip

# A complaint anywhere in a message hands the conversation to a person.
# 12398 is the energy regulator's complaints line, 95598 the grid's service line and 12345
# the city government's hotline: naming one is a complaint in all but word.
COMPLAINT_WORDS = ("投诉", "举报", "曝光", "12398", "95598", "12345", "complain", "ombudsman",
                   "regulator")  # fmt: skip

LANGUAGE_WORDS: dict[str, str] = {
    **dict.fromkeys(["en", "eng", "english", "英文", "英语"], Language.en),
    **dict.fromkeys(["zh", "cn", "zhcn", "zh cn", "chinese", "中文", "汉语", "简体中文"],
                    Language.zh_cn),
}  # fmt: skip
# Said on its own, these choose a language too ("中文", "English").
BARE_LANGUAGE_WORDS = frozenset({"english", "英文", "中文", "简体中文"})

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_LATIN_WORD = re.compile(r"(?<![a-z])[a-z]{2,}(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    kind: IntentKind
    account_index: int | None = None  # "BILL 2": the second account in the numbered list
    account_number: str | None = None  # LINK <number>
    code: str | None = None  # the 6-digit one-time code
    language: str | None = None  # LANG EN / 中文
    reading: Decimal | None = None  # a self-read's value ("抄表 12345")
    choice: int | None = None  # the number of the choice answered ("1" after "Reply 1 for…")
    # How sure recognition is, 0-1: 1.0 for an exact command; the classifier's probability
    # otherwise (policy decides below which to ask a clarifying question). Not part of what
    # the intent means, so not compared.
    score: float = field(default=1.0, compare=False)

    @classmethod
    def unknown(cls) -> Intent:
        return cls(IntentKind.unknown)


def normalise(text: str) -> str:
    """NFKC (full-width to half-width), casefolded; punctuation and symbols (Chinese ones
    too), control and invisible characters become spaces; runs of spaces become one."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    chars = []
    for ch in folded:
        category = unicodedata.category(ch)
        if category == "Cf":  # zero-width joiners, BOMs, direction marks
            continue
        if category[0] in "PSZC":
            chars.append(" ")
        else:
            chars.append(ch)
    return " ".join("".join(chars).split())


def recognise(text: str, *, choices: Mapping[int, IntentKind] | None = None) -> Intent:
    """The intent of a whole message; `Intent.unknown()` when it is none of them.

    `choices` are the numbered answers of the question the bot just asked ({1: bill, 0: agent}):
    a bare "1" (or "一") then means that choice. Never raises."""
    from billing_core.conversations.nlu import pipeline  # the pipeline imports this module

    return pipeline.recognise(text, choices=choices)


def provider_intent(opt_out_type: str | None) -> Intent | None:
    """What the provider already recognised (Twilio's OptOutType: STOP, START, HELP)."""
    kind = {"stop": IntentKind.stop, "start": IntentKind.start, "help": IntentKind.help}.get(
        (opt_out_type or "").strip().casefold()
    )
    return Intent(kind) if kind is not None else None


def script_language(text: str) -> str | None:
    """zh-CN when the text has Chinese characters; None when the script says nothing."""
    return Language.zh_cn if _CJK.search(text) else None


def message_language(text: str) -> str | None:
    """The language a message is written in, as far as its script tells: zh-CN with Chinese
    characters (or pinyin of the key words, "dianfei"), English with a sentence of Latin
    words; None when it says nothing: digits, emoji, or a one-word command (BILL, LINK 1234,
    which the Chinese help text teaches too)."""
    if _CJK.search(text):
        return Language.zh_cn
    if len(_LATIN_WORD.findall(text)) < 2:
        return None
    from billing_core.conversations.nlu.normalise import normalise as fold  # imports this

    return Language.zh_cn if _CJK.search(fold(text)) else Language.en


def has_latin(text: str) -> bool:
    return bool(_LATIN.search(text))
