"""The ladder's customer messages: in both languages, naming the amount and the due date,
offering the pay link and help, never threatening (a lexicon in zh-CN and en), and each SMS
within two segments for realistic values."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing_core.arrears.cases import TEMPLATES, render_step
from billing_core.arrears.policy import Step
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import TEMPLATES as TEXTS
from billing_core.messages.templates import day, money

TZ = ZoneInfo("Asia/Shanghai")
# Words that threaten, shame or pressure: none may appear in an arrears message.
THREATS = {
    "zh-CN": ("后果自负", "法律", "起诉", "诉讼", "律师", "征信", "黑名单", "强制", "最后通牒",
              "警告", "严重", "追究", "立即", "马上", "否则", "罚", "失信", "曝光", "催收"),
    "en": ("legal", "court", "lawyer", "credit record", "credit score", "blacklist", "warning",
           "consequences", "immediately", "failure to", "penalt", "enforce", "collection agency",
           "must ", "or else", "final demand", "debt collector", "sue"),
}  # fmt: skip
LANGUAGES = ("zh-CN", "en")
URL = "https://pay.wattdesk.cn/p/" + "A" * 32  # a production-length pay link
PLANNED = datetime(2026, 12, 28, 1, 30, tzinfo=UTC)


def body(step: Step, language: str, amount: str = "12345.67") -> str:
    return render_step(
        step, language, account="8100000001",
        amount=money(Decimal(amount), "CNY", language),
        due=day(date(2026, 12, 15), language), url=URL, planned=PLANNED, tz=TZ,
    )  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("step", list(TEMPLATES))
def test_every_ladder_message_names_amount_due_date_link_and_help(
    step: Step, language: str
) -> None:
    text = body(step, language)
    assert URL in text and "8100000001" in text and "12,345.67" in text
    help_word = "人工" if language == "zh-CN" else "AGENT"
    plan_word = "分期" if language == "zh-CN" else "PAYMENT PLAN"
    assert help_word in text or plan_word in text
    if step != Step.final_notice:  # the final notice names the time instead
        assert day(date(2026, 12, 15), language) in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(set(TEMPLATES.values()) | {"due_reminder"}))
def test_no_arrears_template_contains_a_threatening_word(template: str, language: str) -> None:
    text = TEXTS[template][language].lower()
    found = [word for word in THREATS[language] if word.lower() in text]
    assert found == [], f"{template} ({language}) threatens: {found}"


def test_the_lexicon_catches_a_threat() -> None:
    threatening = "Pay immediately or face legal consequences"
    assert [w for w in THREATS["en"] if w in threatening.lower()]
    assert [w for w in THREATS["zh-CN"] if w in "请立即缴费，否则后果自负"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("step", list(TEMPLATES))
@pytest.mark.parametrize("amount", ["8.50", "356.20", "12345.67"])
def test_each_ladder_sms_is_within_two_segments(step: Step, language: str, amount: str) -> None:
    assert count_segments(body(step, language, amount)).parts <= 2
