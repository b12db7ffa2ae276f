"""Message templates in zh-CN and en, from the message catalogues (`catalogue.py`). Short,
polite, never threatening; money and dates are formatted with Babel for the customer's
language."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from babel.core import Locale
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from billing_core.customers.model import Language
from billing_core.errors import NotFound
from billing_core.messages.catalogue import FRAGMENT, LABEL, MESSAGE, Texts, read_texts

# The texts live in the catalogues (`locale/*/LC_MESSAGES/wattdesk.po`, docs/messages.md),
# read once when this module is first imported.
TEMPLATES: Texts = read_texts(MESSAGE)


# Short words a channel shows apart from a message: the labels of Telegram's buttons and the
# names of states and channels in its answers.
LABELS: Texts = read_texts(LABEL)


def label(name: str, language: str, **values: Any) -> str:
    """A label in the language (English when the language has none), filled in."""
    try:
        texts = LABELS[name]
    except KeyError:
        raise NotFound(f"no label {name!r}") from None
    text = texts.get(language) or texts[Language.en]
    return text.format(**values) if values else text


# The words that offer the pay link, then its URL, at the end of a reply that has one: written
# after the reply's text in a text message; a channel with buttons shows a button instead.
PAY_LINK: dict[str, str] = read_texts(FRAGMENT)["pay_link"]
# Replies to a customer's message that end with the pay link's words.
PAY_TEMPLATES = frozenset({"bill_reply", "bill_overdue", "pay_reply"})
# Templates whose words already list the numbered choices they offer.
STATES_CHOICES = frozenset({"choose_account", "lang_choose", "clarify", "queue_released"})
# A choice a template does not list, as a line of a text message.
CHOICE_LINE: dict[str, str] = read_texts(FRAGMENT)["choice_line"]


def _before_pay() -> dict[str, dict[str, str]]:
    """Each pay template's texts without the pay link's words (checked to end with them)."""
    before: dict[str, dict[str, str]] = {}
    for template in PAY_TEMPLATES:
        before[template] = {}
        for language, text in TEMPLATES[template].items():
            tail = PAY_LINK[language] + "{url}"
            if not text.endswith(tail):
                raise ValueError(f"template {template!r} ({language}) must end with {tail!r}")
            before[template][language] = text.removesuffix(tail)
    return before


_BEFORE_PAY = _before_pay()


def babel_locale(language: str) -> str:
    return "zh_Hans_CN" if language == Language.zh_cn else "en_US"


@cache
def _locale(language: str) -> Locale:
    """The parsed Babel locale, kept: parsing it took most of a formatting call."""
    return Locale.parse(babel_locale(language))


# An amount in a currency whose English sign names its country (CN¥, HK$): the ISO code, a
# space, the number (CNY 128.19), as an English-speaking customer in China writes it. GSM-7 for
# an SMS: a plain space, never a no-break one.
CODE_FIRST = "¤¤ #,##0.00"


def money(amount: Decimal, currency: str, language: str) -> str:
    """An amount as the customer's language writes it: ¥128.19 in zh-CN; in English CNY 128.19
    (never CN¥128.19), while a currency English writes with a plain sign keeps it ($99.99)."""
    locale = _locale(language)
    if language != Language.zh_cn and any(c.isalpha() for c in _sign(currency, language)):
        return format_currency(amount, currency, format=CODE_FIRST, locale=locale)
    return format_currency(amount, currency, locale=locale)


@cache
def _sign(currency: str, language: str) -> str:
    return str(_locale(language).currency_symbols.get(currency, currency))


@cache
def day(value: date, language: str) -> str:
    return format_date(value, format="medium", locale=_locale(language))


def short_day(value: date, language: str) -> str:
    """A day in the coming weeks, without its year: 12月28日, 28 Dec."""
    pattern = "M月d日" if language == Language.zh_cn else "d MMM"
    return format_date(value, pattern, locale=babel_locale(language))


def period(start: date, end: date, language: str) -> str:
    """A bill's period, short: 10.10-11.10, 10 Oct-10 Nov (the due date gives the year). The
    Chinese is written as bills write a period (账期), not 10月10日-11月10日: four characters
    fewer, which keeps a reply with ¥99,999.99 twice within two SMS segments."""
    pattern = "M.d" if language == Language.zh_cn else "d MMM"
    locale = babel_locale(language)
    first, last = (format_date(d, pattern, locale=locale) for d in (start, end))
    return f"{first}-{last}"


def kwh(value: Decimal, language: str) -> str:
    """Energy for a customer: 180度, 1,234.5 kWh."""
    number = format_decimal(value, format="#,##0.##", locale=babel_locale(language))
    return f"{number}度" if language == Language.zh_cn else f"{number} kWh"


# A group's name in its consolidated notice is cut to this many characters (…), so that the
# notice's summary fits in two SMS segments whatever the name (messages/check.py).
GROUP_NAME_CHARS = 20


def short_name(name: str, limit: int = GROUP_NAME_CHARS) -> str:
    """The name, cut to `limit` characters with an ellipsis if longer."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def render(template: str, language: str, **values: Any) -> str:
    """The template in the language (English when the language has no text), filled in."""
    try:
        texts = TEMPLATES[template]
    except KeyError:
        raise NotFound(f"no message template {template!r}") from None
    text = texts.get(language) or texts[Language.en]
    return text.format(**values)


def render_before_pay(template: str, language: str, **values: Any) -> str:
    """The template filled in as `render` does, without the pay link's words at its end
    (a template that offers no pay link: all of it)."""
    texts = _BEFORE_PAY.get(template)
    if texts is None:
        return render(template, language, **values)
    text = texts.get(language) or texts[Language.en]
    return text.format(**values)


def pay_words(language: str, url: str) -> str:
    """The pay link's words and URL that end a reply offering one: after the text of
    render_before_pay, the template's whole text."""
    return (PAY_LINK.get(language) or PAY_LINK[Language.en]) + url


def choice_line(language: str, key: str, label: str) -> str:
    return (CHOICE_LINE.get(language) or CHOICE_LINE[Language.en]).format(key=key, label=label)


_CODE_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")
# Templates whose body carries a one-time code that staff must not read in the console.
SECRET_TEMPLATES = frozenset({"link_code"})


def redact_codes(text: str) -> str:
    """The text with any 6-digit one-time code replaced by ******."""
    return _CODE_DIGITS.sub("******", text)
