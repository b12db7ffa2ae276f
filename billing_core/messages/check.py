"""The catalogues' check (`wattdesk messages check`, tests/unit/messages): every message in
every language with the same placeholders, and every message that may go by SMS within two
segments when filled in with realistic worst-case values."""

from __future__ import annotations

import string
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from billing_core.customers.model import Language
from billing_core.messages.catalogue import CONTEXTS, FOLDERS, MESSAGE, Texts, read_texts
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import (
    GROUP_NAME_CHARS,
    day,
    kwh,
    label,
    money,
    period,
    render,
    short_day,
)

MAX_SEGMENTS = 2
TOKEN_CHARS = 32  # a pay link's token (secrets.token_urlsafe of 24 bytes)
# Messages that never go by SMS: Telegram's own answers (`tg_`), and pieces of a message
# (`agent_when_*` fill {when}); a group notice is checked as the group notices build it.
NOT_SMS_PREFIXES = ("tg_", "agent_when_")


class Problem(NamedTuple):
    key: str
    language: str
    what: str

    def __str__(self) -> str:
        return f"{self.key} ({self.language}): {self.what}"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _longest(values: list[str]) -> str:
    return max(values, key=lambda v: count_segments(v).units)


def worst_values(language: str, base_url: str) -> dict[str, str]:
    """The longest value each placeholder takes in practice, in the language: a 10-digit
    account, ¥99,999.99, the longest period and day of the year, a pay link of the configured
    address, six lines of usage, three accounts to choose from."""
    days = [date(2026, month, 28) for month in range(1, 13)]
    amount = money(Decimal("99999.99"), "CNY", language)
    account = "8100000001"
    return {
        "account": account,
        "amount": amount,
        "balance": amount,
        "total": amount,
        "url": f"{base_url.rstrip('/')}/p/{'A' * TOKEN_CHARS}",
        "period": _longest([period(a, b, language) for a, b in pairwise(days)]),
        "due": _longest([day(d, language) for d in days]),
        "date": _longest([short_day(d, language) for d in days]),
        "time": "23:30",
        "lines": "\n".join(  # six periods (the conversations policy's default), a big home's use
            f"{period(a, b, language)} {kwh(Decimal('987.6'), language)}"
            for a, b in pairwise(days[5:])
        ),
        "choices": "1) ...0001 2) ...0002 3) ...0003",
        "example": "BILL 3" if language != Language.zh_cn else "账单 3",
        "minutes": "120",
        "code": "123456",
        "requester": "...0142",
        "when": _longest(
            [
                render("agent_when_hours", language, start="08:00", end="20:00"),
                render("agent_when_soon", language, minutes="120"),
            ]
        ),
        "line": "95598",
        "reading": "123456.7",
        "count": "120",
        # a group's name as the notice cuts it, in Chinese whatever the language (UCS-2)
        "group": "上海宏达实业集团有限公司浦东分公司第一营业部"[:GROUP_NAME_CHARS],
        "accounts": f"{account}+99",  # a reading-day change: the first account, +N others
        "old": "28",
        "new": "28",
        "effective": _longest([short_day(d, language) for d in days]),
        "first": _longest([short_day(d, language) for d in days]),
        "days": "62",
        "amounts": f"{account} {amount}",  # one line: the notice lists more only if they fit
        "status": label("standing_partly_paid", language),
    }


def catalogues() -> dict[str, Texts]:
    """The catalogues' texts by context."""
    return {context: read_texts(context) for context in CONTEXTS}


def missing(
    by_context: dict[str, Texts], languages: tuple[str, ...] = tuple(FOLDERS)
) -> list[Problem]:
    """Each message (and label, and fragment) missing from a language, or with other
    placeholders than its English text."""
    problems: list[Problem] = []
    for context, keyed in by_context.items():
        for key, texts in sorted(keyed.items()):
            name = f"{context}:{key}" if context != MESSAGE else key
            reference = placeholders(texts.get(Language.en, ""))
            for language in languages:
                text = texts.get(language)
                if text is None:
                    problems.append(Problem(name, language, "missing"))
                elif placeholders(text) != reference:
                    problems.append(
                        Problem(
                            name,
                            language,
                            f"placeholders {sorted(placeholders(text))}, "
                            f"English has {sorted(reference)}",
                        )
                    )
    return problems


def sms_keys(messages: Texts) -> list[str]:
    return sorted(k for k in messages if not k.startswith(NOT_SMS_PREFIXES))


def _over(text: str) -> str | None:
    """What is wrong with the text's length as an SMS, if anything."""
    segments = count_segments(text)
    if segments.parts <= MAX_SEGMENTS:
        return None
    return f"{segments.parts} segments ({segments.encoding}, {segments.units} units)"


def too_long(messages: Texts, base_url: str) -> list[Problem]:
    """Each SMS message that, filled in with the worst-case values, needs more than two
    segments (or names a placeholder with no worst-case value)."""
    problems: list[Problem] = []
    for key in sms_keys(messages):
        for language, text in sorted(messages[key].items()):
            values = worst_values(language, base_url)
            unknown = placeholders(text) - values.keys()
            if unknown:
                problems.append(Problem(key, language, f"no worst-case value for {unknown}"))
            elif over := _over(text.format(**values)):
                problems.append(Problem(key, language, f"{over} for the worst-case values"))
    return problems


def fixed_too_long(texts: Texts, kind: str) -> list[Problem]:
    """Each text with nothing to fill in (an agent's canned reply) over two segments."""
    return [
        Problem(f"{kind}:{key}", language, over)
        for key, by_language in sorted(texts.items())
        for language, text in sorted(by_language.items())
        if (over := _over(text))
    ]


def check(base_url: str) -> list[Problem]:
    """Every problem the catalogues have; none: they pass."""
    texts = catalogues()
    return missing(texts) + too_long(texts[MESSAGE], base_url)
