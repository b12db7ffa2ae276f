"""The ladder writes amounts without Babel's call for each message (`cases._money`): it must
answer exactly what `messages.templates.money` answers, in both languages, for the currencies
the form is read for, and leave the others (no two decimal places) to `money`. Its pay button
is the JSON `json.dumps` wrote, with only the URL encoded per message."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from billing_core.arrears.cases import _money, _money_form, _pay_button
from billing_core.messages.templates import label, money

LANGUAGES = ("zh-CN", "en")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("currency", ["CNY", "USD", "HKD", "EUR", "JPY"])
def test_the_fast_form_writes_what_money_writes(currency: str, language: str) -> None:
    rng = random.Random(18)
    amounts = [Decimal(rng.randint(0, 10 ** rng.randint(1, 10))).scaleb(-rng.choice((0, 1, 2, 3)))
               for _ in range(2000)]  # fmt: skip
    amounts += list(map(Decimal, ("0", "0.00", "0.01", "5.5", "999.995", "1000", "-12.30",
                                  "1E+3", "123456789012.34")))  # fmt: skip
    for amount in amounts:
        assert _money(amount, currency, language) == money(amount, currency, language), amount


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_form_is_read_off_babel_and_refused_where_it_differs(language: str) -> None:
    form = _money_form("CNY", language)
    assert form is not None
    assert form(Decimal("128.19")) == {"zh-CN": "¥128.19", "en": "CNY 128.19"}[language]
    assert _money_form("JPY", language) is None  # no decimal places: Babel's own answer


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "url",
    ["https://pay.wattdesk.cn/p/" + "A" * 32, 'https://x.cn/p?a="b"&c=\\d', "https://x.cn/付款"],
)
def test_the_pay_button_is_the_json_it_was(language: str, url: str) -> None:
    buttons = {"buttons": [[{"text": label("menu_pay", language), "url": url}]]}
    assert _pay_button(language, url) == json.dumps(buttons, ensure_ascii=False)
