"""The conversation and notice templates: both languages, the same placeholders in each,
short in SMS segments (a typical bill notice fits in 2), GSM-7 in English, never
threatening."""

from __future__ import annotations

import re
import string
from datetime import date
from decimal import Decimal

import pytest

from billing_core.customers.model import Language
from billing_core.messages.segments import Encoding, count_segments
from billing_core.messages.templates import TEMPLATES, day, kwh, money, period, render

PAY_URL = "http://127.0.0.1:8000/p/" + "A" * 32  # the 32-character token of a real link
CONVERSATION_TEMPLATES = (
    "bill_reply", "bill_overdue", "bill_paid", "no_bill", "pay_reply", "nothing_due",
    "usage_reply", "help",
    "stop_confirm", "start_confirm", "lang_confirm", "lang_choose", "agent_queued",
    "unrecognised", "choose_account", "link_sent", "link_code", "link_ok", "link_bad_code",
    "not_linked", "bill_notice", "due_reminder", "clarify", "queue_released", "self_read_ok",
    "self_read_flagged", "self_read_rejected", "self_read_how", "arrangement_noted",
    "dispute_noted", "outage_reply",
)  # fmt: skip
# Parts of a message ({when}), filled in by the conversation layer.
WHEN_TEMPLATES = ("agent_when_soon", "agent_when_hours")
LANGUAGES = (Language.zh_cn, Language.en)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def realistic(language: str) -> dict[str, str]:
    """Values as large as a typical notice carries."""
    return {
        "account": "1000000001",
        "period": period(date(2026, 10, 10), date(2026, 11, 10), language),
        "amount": money(Decimal("1234.56"), "CNY", language),
        "balance": money(Decimal("1234.56"), "CNY", language),
        "due": day(date(2026, 12, 11), language),
        "url": PAY_URL,
        "lines": "\n".join(
            f"{period(date(2026, m, 10), date(2026, m + 1, 10), language)} "
            f"{kwh(Decimal('186.000'), language)}"
            for m in range(5, 11)
        ),
        "choices": "1) ...0001 2) ...0002",
        "example": "BILL 2",
        "minutes": "10",
        "code": "123456",
        "requester": "...0142",
        "when": render("agent_when_hours", language, start="08:00", end="20:00"),
        "line": "95598",
        "reading": "12345.6",
    }


@pytest.mark.parametrize("name", CONVERSATION_TEMPLATES)
def test_each_template_speaks_both_languages_with_the_same_placeholders(name: str) -> None:
    texts = TEMPLATES[name]
    assert set(texts) == set(LANGUAGES)
    assert fields(texts[Language.zh_cn]) == fields(texts[Language.en])


@pytest.mark.parametrize("name", ["bill_notice", "due_reminder"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_typical_notice_fits_in_two_segments(name: str, language: str) -> None:
    body = render(name, language, **realistic(language))
    assert "1000000001" in body and PAY_URL in body
    assert count_segments(body).parts <= 2, body


@pytest.mark.parametrize("name", CONVERSATION_TEMPLATES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_replies_are_short(name: str, language: str) -> None:
    body = render(name, language, **realistic(language))
    limit = 4 if name == "usage_reply" else 2  # six periods of kWh take a few more
    assert count_segments(body).parts <= limit, body
    if name in ("bill_reply", "bill_overdue", "pay_reply"):  # answers to BILL and PAY, a link
        assert count_segments(body).parts <= 2, body


@pytest.mark.parametrize("name", CONVERSATION_TEMPLATES)
def test_english_texts_stay_in_gsm7(name: str) -> None:
    values = {**realistic(Language.en), "amount": "$12.50", "balance": "$12.50"}
    body = render(name, Language.en, **values)
    assert count_segments(body).encoding == Encoding.gsm7, body


@pytest.mark.parametrize("name", WHEN_TEMPLATES)
def test_the_parts_of_a_message_speak_both_languages(name: str) -> None:
    texts = TEMPLATES[name]
    assert set(texts) == set(LANGUAGES)
    assert fields(texts[Language.zh_cn]) == fields(texts[Language.en])


THREATS = re.compile(r"disconnect|cut off|penalt|legal|court|final warning|停电|断电|违约|起诉|"
                     r"法律|催收|后果", re.IGNORECASE)  # fmt: skip


@pytest.mark.parametrize("name", CONVERSATION_TEMPLATES)
def test_no_template_threatens(name: str) -> None:
    for text in TEMPLATES[name].values():
        assert not THREATS.search(text), text


def test_period_and_kwh_are_formatted_for_the_language() -> None:
    assert period(date(2026, 10, 10), date(2026, 11, 10), Language.zh_cn) == "10.10-11.10"
    assert period(date(2026, 10, 10), date(2026, 11, 10), Language.en) == "10 Oct-10 Nov"
    assert kwh(Decimal("180.000"), Language.zh_cn) == "180度"
    assert kwh(Decimal("1234.50"), Language.en) == "1,234.5 kWh"
