"""Each intent's reply, built channel-neutral and rendered as an SMS, is the template's text
byte for byte, in both languages, and fits in two segments; the figures, the pay action, the
choices and the chart say what the words say; choices a template does not list are added
as lines while the SMS stays within two segments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing_core.conversations import replies
from billing_core.conversations.intents import IntentKind
from billing_core.conversations.model import Choice, Figure, PayAction, Reply, reply_text
from billing_core.customers.model import Language
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import day, kwh, money, period, render
from sms.render import MAX_SEGMENTS, sms_text

PAY_URL = "http://127.0.0.1:8000/p/" + "A" * 43  # token_urlsafe(32), as a real link
EXPIRES = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
START, END, DUE = date(2026, 10, 10), date(2026, 11, 10), date(2026, 12, 11)
TOTAL, BALANCE = Decimal("1234.56"), Decimal("1500.00")
LANGUAGES = (Language.zh_cn, Language.en)


def bill_values(language: str) -> dict[str, str]:
    return {
        "account": "1000000001",
        "period": period(START, END, language),
        "amount": money(TOTAL, "CNY", language),
        "due": day(DUE, language),
    }


def bill(language: str, *, pay: bool, overdue: bool = False) -> Reply:
    action = PayAction(PAY_URL, BALANCE, "CNY", EXPIRES) if pay else None
    return replies.bill(
        language=language, currency="CNY", account="1000000001", period_start=START,
        period_end=END, amount=TOTAL, due_date=DUE, balance=BALANCE, pay=action,
        overdue=overdue,
    )  # fmt: skip


USAGE = [(date(2026, m, 10), date(2026, m + 1, 10), Decimal("186.5")) for m in range(5, 11)]


def cases(language: str) -> list[tuple[str, Reply, str]]:
    """(intent, its reply, the SMS as the template writes it) for every answer the bot has."""
    values = bill_values(language)
    balance = money(BALANCE, "CNY", language)
    lines = "\n".join(f"{period(s, e, language)} {kwh(k, language)}" for s, e, k in USAGE)
    example = "账单 2" if language == Language.zh_cn else "BILL 2"
    plain = [
        (IntentKind.help, "help"), (IntentKind.stop, "stop_confirm"),
        (IntentKind.start, "start_confirm"), (IntentKind.lang, "lang_confirm"),
        (IntentKind.bill, "not_linked"), (IntentKind.code, "link_bad_code"),
        (IntentKind.self_read, "self_read_how"),
    ]  # fmt: skip
    when = render("agent_when_soon", language, minutes=15)
    reading = {"account": "1000000001", "reading": "12345.6"}
    with_values = [
        (IntentKind.agent, "agent_queued", {"when": when}),
        (IntentKind.complaint, "agent_queued", {"when": when}),
        (IntentKind.arrangement, "arrangement_noted", {"when": when}),
        (IntentKind.dispute, "dispute_noted", {"when": when}),
        (IntentKind.outage, "outage_reply", {"line": "95598"}),
        (IntentKind.self_read, "self_read_ok", reading),
        (IntentKind.self_read, "self_read_flagged", reading),
        (IntentKind.self_read, "self_read_rejected", reading),
    ]  # fmt: skip
    return [
        *((kind, replies.plain(t, language), render(t, language)) for kind, t in plain),
        *((kind, replies.plain(t, language, **v), render(t, language, **v))
          for kind, t, v in with_values),
        (IntentKind.unknown, replies.clarify(language=language), render("clarify", language)),
        (IntentKind.unknown, replies.queue_released(language=language, line="95598"),
         render("queue_released", language, line="95598")),
        (IntentKind.bill, bill(language, pay=True),
         render("bill_reply", language, balance=balance, url=PAY_URL, **values)),
        (IntentKind.bill, bill(language, pay=True, overdue=True),
         render("bill_overdue", language, balance=balance, url=PAY_URL, **values)),
        (IntentKind.bill, bill(language, pay=False), render("bill_paid", language, **values)),
        (IntentKind.bill, replies.no_bill(language=language, account="1000000001"),
         render("no_bill", language, account="1000000001")),
        (IntentKind.pay,
         replies.pay(language=language, currency="CNY", account="1000000001",
                     pay=PayAction(PAY_URL, BALANCE, "CNY", EXPIRES)),
         render("pay_reply", language, account="1000000001", amount=balance, url=PAY_URL)),
        (IntentKind.pay,
         replies.nothing_due(language=language, currency="CNY", account="1000000001",
                             balance=Decimal("0")),
         render("nothing_due", language, account="1000000001")),
        (IntentKind.usage, replies.usage(language=language, account="1000000001", periods=USAGE),
         render("usage_reply", language, account="1000000001", lines=lines)),
        (IntentKind.bill,
         replies.choose_account(language=language, numbers=["1000000001", "1000000002"],
                                command="BILL"),
         render("choose_account", language, choices="1) ...0001 2) ...0002", example=example)),
        (IntentKind.lang, replies.lang_choose(language=language), render("lang_choose", language)),
        (IntentKind.link, replies.link_sent(language=language, minutes=10),
         render("link_sent", language, minutes=10)),
        (IntentKind.code, replies.link_ok(language=language, account="1000000001"),
         render("link_ok", language, account="1000000001")),
    ]  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reply_is_the_templates_sms_byte_for_byte(language: str) -> None:
    for intent, reply, expected in cases(language):
        assert sms_text(reply) == expected, (intent, reply.template)
        assert reply_text(reply) == expected  # what the conversation keeps is what was sent
        assert reply.language == language and all(reply.paragraphs)


# Where the template's own words do not allow two segments (UCS-2 holds 134 characters in
# two): a Chinese bill with a full-length pay URL, six periods of usage in Chinese.
OVER_TWO = {(Language.zh_cn, "bill_reply"), (Language.zh_cn, "bill_overdue"),
            (Language.zh_cn, "usage_reply")}  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reply_fits_in_two_segments_where_its_template_allows(language: str) -> None:
    for _, reply, _ in cases(language):
        parts = count_segments(sms_text(reply)).parts
        limit = MAX_SEGMENTS + 1 if (language, reply.template) in OVER_TWO else MAX_SEGMENTS
        assert parts <= limit, reply.template


def test_a_bill_reply_carries_its_figures_and_the_pay_action_apart_from_its_words() -> None:
    reply = bill(Language.en, pay=True)
    assert reply.template == "bill_reply"
    assert PAY_URL not in "".join(reply.paragraphs)  # a button channel shows a button
    assert reply.pay == PayAction(PAY_URL, BALANCE, "CNY", EXPIRES)
    assert set(reply.figures) == {
        Figure("account", "1000000001"), Figure("period_start", START),
        Figure("period_end", END), Figure("amount", TOTAL, "CNY"), Figure("due_date", DUE),
        Figure("balance", BALANCE, "CNY"), Figure("kwh", ""),
    }  # fmt: skip
    assert bill(Language.en, pay=False).pay is None


def test_usage_carries_its_chart_and_choices_their_commands() -> None:
    usage = replies.usage(language=Language.zh_cn, account="1000000001", periods=USAGE)
    assert usage.chart is not None
    assert usage.chart.periods == tuple((s, e) for s, e, _ in USAGE)
    assert usage.chart.kwh == tuple(k for _, _, k in USAGE)
    assert len(usage.paragraphs) == 1 + len(USAGE)  # the heading, then a line a period
    choose = replies.choose_account(
        language=Language.en, numbers=["1000000001", "2000000001"], command="PAY"
    )
    assert choose.choices == (
        Choice("1", "1000000001", "PAY 1"), Choice("2", "2000000001", "PAY 2"),
    )  # fmt: skip
    assert [c.command for c in replies.lang_choose(language=Language.en).choices] == [
        "LANG EN", "LANG ZH",
    ]  # fmt: skip


def test_choices_a_template_does_not_list_are_added_while_two_segments_hold_them() -> None:
    few = Reply(
        "unrecognised",
        Language.en,
        ("Which one?",),
        choices=(Choice("1", "your bill", "BILL"), Choice("2", "usage", "USAGE")),
    )
    assert sms_text(few) == "Which one?\nReply 1 for your bill\nReply 2 for usage"
    assert reply_text(few) == sms_text(few)
    many = few._replace(
        choices=tuple(Choice(str(n), "a rather long label " * 2, "BILL") for n in range(1, 30))
    )
    text = sms_text(many)
    assert count_segments(text).parts == MAX_SEGMENTS
    assert text.startswith("Which one?\nReply 1 for ") and "Reply 29" not in text
    words = Reply("help", Language.en, ("x" * 400,), choices=few.choices)
    assert sms_text(words) == "x" * 400  # the words are never cut; no room for choices
