"""Recognising what a message asks for: every keyword in both languages, whatever the case,
width, punctuation or spacing; account indexes, LINK, codes and languages; and never an
exception, whatever the text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.conversations.intents import (
    BARE_LANGUAGE_WORDS,
    KEYWORDS,
    Intent,
    IntentKind,
    normalise,
    provider_intent,
    recognise,
    script_language,
)


def full_width(text: str) -> str:
    """What a phone's Chinese keyboard in full-width mode types for ASCII."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("BILL", IntentKind.bill), ("账单", IntentKind.bill), ("查询", IntentKind.bill),
        ("电费", IntentKind.bill), ("PAY", IntentKind.pay), ("缴费", IntentKind.pay),
        ("USAGE", IntentKind.usage), ("用电", IntentKind.usage), ("HELP", IntentKind.help),
        ("帮助", IntentKind.help), ("STOP", IntentKind.stop), ("UNSUBSCRIBE", IntentKind.stop),
        ("CANCEL", IntentKind.stop), ("END", IntentKind.stop), ("QUIT", IntentKind.stop),
        ("退订", IntentKind.stop), ("TD", IntentKind.stop), ("START", IntentKind.start),
        ("UNSTOP", IntentKind.start), ("AGENT", IntentKind.agent), ("人工", IntentKind.agent),
    ],
)  # fmt: skip
def test_every_keyword_of_the_issue_is_recognised(text: str, kind: IntentKind) -> None:
    assert recognise(text) == Intent(kind)
    assert recognise(text.lower()) == Intent(kind)
    assert recognise(f"  {full_width(text)}！ ") == Intent(kind)


@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_case_width_and_punctuation_do_not_matter(word: str) -> None:
    expected = Intent(KEYWORDS[word])
    for variant in (word.upper(), full_width(word.upper()), f"{word}!", f"“{word}。”",
                    f"【{word}】", f"{word}?!", f"\u200b{word}\n"):  # fmt: skip
        assert recognise(variant) == expected, variant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＢＩＬＬ", Intent(IntentKind.bill)),
        ("bill!", Intent(IntentKind.bill)),
        ("Bill 2", Intent(IntentKind.bill, account_index=2)),
        ("BILL2", Intent(IntentKind.bill, account_index=2)),
        ("账单 2", Intent(IntentKind.bill, account_index=2)),
        ("账单２", Intent(IntentKind.bill, account_index=2)),
        ("pay 3", Intent(IntentKind.pay, account_index=3)),
        ("用电 1", Intent(IntentKind.usage, account_index=1)),
        ("ｌｉｎｋ 1000000001", Intent(IntentKind.link, account_number="1000000001")),
        ("LINK1000000001", Intent(IntentKind.link, account_number="1000000001")),
        ("link 1000000001 123456",
         Intent(IntentKind.link, account_number="1000000001", code="123456")),
        ("绑定 1000000001", Intent(IntentKind.link, account_number="1000000001")),
        ("LINK", Intent(IntentKind.link)),
        ("123456", Intent(IntentKind.code, code="123456")),
        ("１２３４５６", Intent(IntentKind.code, code="123456")),
        (" 123456. ", Intent(IntentKind.code, code="123456")),
        ("验证码：123456", Intent(IntentKind.code, code="123456")),
        ("LANG EN", Intent(IntentKind.lang, language="en")),
        ("lang zh-CN", Intent(IntentKind.lang, language="zh-CN")),
        ("LANG 中文", Intent(IntentKind.lang, language="zh-CN")),
        ("中文", Intent(IntentKind.lang, language="zh-CN")),
        ("English", Intent(IntentKind.lang, language="en")),
        ("language", Intent(IntentKind.lang)),
    ],
)  # fmt: skip
def test_arguments_are_read(text: str, expected: Intent) -> None:
    assert recognise(text) == expected


@pytest.mark.parametrize(
    "text", ["我要投诉", "投诉！", "I want to complain", "This is a complaint",
             "打12398", "call 95598 now", "I will tell the regulator"],
)  # fmt: skip
def test_complaint_words_anywhere_ask_for_a_person(text: str) -> None:
    assert recognise(text).kind == IntentKind.complaint


@pytest.mark.parametrize(
    "text", ["", "   ", "？！", "hello", "stop it", "1000000001", "12345678", "bill 123",
             "LANG FR", "stop 2", "🙂", "9123980000"],
)  # fmt: skip
def test_anything_else_is_unknown(text: str) -> None:
    assert recognise(text) == Intent.unknown()


@pytest.mark.parametrize(
    ("text", "kind"),
    [("please stop sending", IntentKind.stop), ("bill me later", IntentKind.arrangement)],
)
def test_sentences_once_unknown_are_understood(text: str, kind: IntentKind) -> None:
    assert recognise(text).kind == kind


def test_normalise_folds_width_case_punctuation_and_spacing() -> None:
    assert normalise("  ＢＩＬＬ，\u3000２！ ") == "bill 2"
    assert normalise("【账单】\u200b") == "账单"
    assert normalise("Straße") == "strasse"
    assert normalise("LINK+1000000001") == "link 1000000001"


def test_the_provider_keyword_wins() -> None:
    assert provider_intent("STOP") == Intent(IntentKind.stop)
    assert provider_intent("start") == Intent(IntentKind.start)
    assert provider_intent("HELP") == Intent(IntentKind.help)
    assert provider_intent(None) is None
    assert provider_intent("") is None


def test_script_language() -> None:
    assert script_language("查一下账单") == "zh-CN"
    assert script_language("BILL") is None
    assert script_language("12345") is None


def test_bare_language_words_are_keywords_for_lang() -> None:
    for word in BARE_LANGUAGE_WORDS:
        assert recognise(word).kind == IntentKind.lang


@given(st.text())
def test_recognise_never_raises(text: str) -> None:
    intent = recognise(text)
    assert isinstance(intent.kind, IntentKind)
    assert len(intent.kind.value) <= 24  # fits ConversationMessage.intent


@given(st.sampled_from(sorted(KEYWORDS)), st.sampled_from(["", "!", "。", "？", " ", "~"]),
       st.booleans(), st.booleans())  # fmt: skip
def test_keywords_survive_any_decoration(
    word: str, punctuation: str, upper: bool, wide: bool
) -> None:
    text = word.upper() if upper else word
    text = full_width(text) if wide else text
    assert recognise(f"{punctuation}{text}{punctuation}") == Intent(KEYWORDS[word])
