"""The message catalogues: read once from the `.po` files, complete in both languages with the
same placeholders, every SMS within two segments for worst-case values, no automated notice
threatening, and a broken catalogue refused with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_core.customers.model import Language
from billing_core.errors import InvalidInput
from billing_core.messages.catalogue import (
    FOLDERS,
    MESSAGE,
    catalogue_path,
    parse_catalogue,
    read_texts,
)
from billing_core.messages.check import (
    catalogues,
    fixed_too_long,
    missing,
    sms_keys,
    too_long,
    worst_values,
)
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import LABELS, TEMPLATES, render
from tests.unit.arrears.test_ladder_messages import THREATS

BASE_URLS = ("https://pay.wattdesk.cn", "http://127.0.0.1:8000")
# Messages sent without a customer asking: none may threaten (the ladder's lexicon).
AUTOMATED_PREFIXES = ("bill_notice", "due_reminder", "arrears_", "group_notice")


def test_every_language_has_a_catalogue_file() -> None:
    assert set(FOLDERS) == set(Language)
    for language in Language:
        assert catalogue_path(language).is_file()


def test_the_templates_and_labels_come_from_the_catalogues() -> None:
    assert read_texts(MESSAGE) == TEMPLATES
    assert TEMPLATES["bill_notice"][Language.en].startswith("wattdesk: your bill")
    assert LABELS["menu_pay"] == {Language.zh_cn: "缴费", Language.en: "Pay"}
    assert "bill_notice" in TEMPLATES and "group_notice" in TEMPLATES


def test_every_message_is_in_every_language_with_the_same_placeholders() -> None:
    assert missing(catalogues()) == []


def test_a_missing_message_and_a_dropped_placeholder_are_found() -> None:
    texts = {
        MESSAGE: {
            "ok": {Language.zh_cn: "户号{account}", Language.en: "account {account}"},
            "no_zh": {Language.en: "hello"},
            "dropped": {Language.zh_cn: "电费", Language.en: "{amount} due"},
        }
    }
    found = {(p.key, p.language): p.what for p in missing(texts)}
    assert found.keys() == {("no_zh", Language.zh_cn), ("dropped", Language.zh_cn)}
    assert found[("no_zh", Language.zh_cn)] == "missing"
    assert "amount" in found[("dropped", Language.zh_cn)]


@pytest.mark.parametrize("base_url", BASE_URLS)
def test_every_sms_fits_in_two_segments_for_worst_case_values(base_url: str) -> None:
    messages = catalogues()[MESSAGE]
    assert "bill_notice" in sms_keys(messages) and "tg_menu" not in sms_keys(messages)
    assert too_long(messages, base_url) == []


def test_the_worst_case_values_are_the_long_ones() -> None:
    zh = worst_values(Language.zh_cn, BASE_URLS[0])
    en = worst_values(Language.en, BASE_URLS[0])
    assert zh["amount"] == "¥99,999.99" and en["amount"] == "CNY 99,999.99"
    assert zh["url"] == "https://pay.wattdesk.cn/p/" + "A" * 32
    assert len(zh["period"]) == len("10.28-11.28") and len(en["due"]) == len("Sep 28, 2026")
    assert len(zh["lines"].splitlines()) == 6


def test_an_sms_too_long_or_with_an_unknown_placeholder_is_found() -> None:
    messages = {
        "long": {Language.en: "wattdesk: " + "x" * 300, Language.zh_cn: "短"},
        "odd": {Language.en: "{nothing_known}", Language.zh_cn: "{nothing_known}"},
        "tg_long": {Language.en: "x" * 400},  # Telegram only: not an SMS
    }
    found = {(p.key, p.language): p.what for p in too_long(messages, BASE_URLS[0])}
    assert found.keys() == {
        ("long", Language.en),
        ("odd", Language.en),
        ("odd", Language.zh_cn),
    }
    assert found[("long", Language.en)].startswith("3 segments (GSM-7")
    canned = {"ok": {Language.en: "Thank you."}, "long": {Language.zh_cn: "谢" * 135}}
    assert [p.key for p in fixed_too_long(canned, "canned")] == ["canned:long"]


@pytest.mark.parametrize("language", [Language.zh_cn, Language.en])
def test_no_automated_notice_threatens(language: str) -> None:
    notices = [k for k in TEMPLATES if k.startswith(AUTOMATED_PREFIXES)]
    assert {"bill_notice", "due_reminder", "group_notice", "group_notice_summary"} <= set(notices)
    for key in notices:
        text = TEMPLATES[key][language].lower()
        assert [w for w in THREATS[language] if w.lower() in text] == [], key


def test_a_rendered_notice_is_counted_as_the_customer_gets_it() -> None:
    values = worst_values(Language.zh_cn, BASE_URLS[0])
    body = render("bill_notice", Language.zh_cn, **values)
    assert "¥99,999.99" in body and count_segments(body).parts <= 2


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "wattdesk.po"
    path.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n' + body)
    return path


def test_a_catalogue_is_read_by_context_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'msgid "a"\nmsgstr "A {x}"\n\nmsgctxt "label"\nmsgid "a"\nmsgstr "L"\n')
    assert parse_catalogue(path) == {("", "a"): "A {x}", ("label", "a"): "L"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('msgid "a"\nmsgstr ""\n', "'a' has no text"),
        ('msgctxt "button"\nmsgid "a"\nmsgstr "A"\n', "unknown msgctxt 'button'"),
        ('msgid "a"\nmsgid "b"\nmsgstr "B"\n', "missing msgstr for msgid 'a' on 4"),
        ("a line that is no keyword\n", "misformatted keyword on 4"),
    ],
)
def test_a_broken_catalogue_is_refused_naming_its_file(
    tmp_path: Path, body: str, error: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InvalidInput, match=error) as raised:
        parse_catalogue(path)
    assert str(path) in str(raised.value)
