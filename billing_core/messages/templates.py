"""Message templates in zh-CN and en. Short, polite, never threatening; money and dates are
formatted with Babel for the customer's language."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency

from billing_core.customers.model import Language
from billing_core.errors import NotFound

TEMPLATES: dict[str, dict[str, str]] = {
    "receipt": {
        Language.zh_cn: "【wattdesk】已收到您户号{account}的电费{amount}，谢谢！"
                        "当前应缴{balance}。电子收据：{url}",
        Language.en: "wattdesk: thank you, we received {amount} for account {account}. "
                     "Now due: {balance}. Receipt: {url}",
    },
    "refund": {
        Language.zh_cn: "【wattdesk】您户号{account}的退费{amount}已办理，"
                        "预计数个工作日内原路退回。如有疑问请回复“人工”。",
        Language.en: "wattdesk: we have refunded {amount} for account {account}; it returns "
                     "to how you paid within a few working days. Reply AGENT for help.",
    },
}  # fmt: skip


def babel_locale(language: str) -> str:
    return "zh_Hans_CN" if language == Language.zh_cn else "en_US"


def money(amount: Decimal, currency: str, language: str) -> str:
    return format_currency(amount, currency, locale=babel_locale(language))


def day(value: date, language: str) -> str:
    return format_date(value, format="medium", locale=babel_locale(language))


def render(template: str, language: str, **values: Any) -> str:
    """The template in the language (English when the language has no text), filled in."""
    try:
        texts = TEMPLATES[template]
    except KeyError:
        raise NotFound(f"no message template {template!r}") from None
    text = texts.get(language) or texts[Language.en]
    return text.format(**values)
