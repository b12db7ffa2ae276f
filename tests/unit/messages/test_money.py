"""Amounts for a customer (issue 19, item 8, the formatting only): zh-CN writes yuan as
¥128.19; English writes CNY 128.19, never Babel's CN¥128.19; a currency English writes with a
plain sign keeps it ($, €, £); in the GSM-7 alphabet for an English SMS."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.customers.model import Language
from billing_core.messages.segments import Encoding, count_segments
from billing_core.messages.templates import money

D = Decimal


@pytest.mark.parametrize(
    ("amount", "currency", "language", "shown"),
    [
        ("128.19", "CNY", Language.zh_cn, "¥128.19"),
        ("128.19", "CNY", Language.en, "CNY 128.19"),
        ("1234.5", "CNY", Language.en, "CNY 1,234.50"),
        ("1234.5", "CNY", Language.zh_cn, "¥1,234.50"),
        ("-12.5", "CNY", Language.en, "-CNY 12.50"),
        ("0", "CNY", Language.en, "CNY 0.00"),
        ("99.99", "USD", Language.en, "$99.99"),
        ("5", "EUR", Language.en, "€5.00"),
        ("88", "HKD", Language.en, "HKD 88.00"),
        ("1500", "JPY", Language.en, "¥1,500"),
    ],
)
def test_amounts_are_written_as_the_customers_language_writes_them(
    amount: str, currency: str, language: Language, shown: str
) -> None:
    assert money(D(amount), currency, language) == shown


@given(amount=st.decimals(min_value=-(10**7), max_value=10**7, places=2))
def test_an_english_amount_never_has_a_country_prefixed_sign_and_stays_gsm_7(
    amount: Decimal,
) -> None:
    shown = money(amount, "CNY", Language.en)
    assert "¥" not in shown and shown.lstrip("-").startswith("CNY ")
    assert count_segments(shown).encoding == Encoding.gsm7
    zh = money(amount, "CNY", Language.zh_cn)
    assert zh.lstrip("-").startswith("¥") and "CN" not in zh
