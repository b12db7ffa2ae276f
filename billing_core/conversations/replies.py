"""The bot's replies, written once for every channel: a template's words with the figures
they state, the pay link, the numbered choices and the usage chart (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time
from decimal import Decimal
from functools import lru_cache

from billing_core.conversations.intents import IntentKind
from billing_core.conversations.model import ChartSpec, Choice, Figure, PayAction, Reply
from billing_core.customers.model import Language
from billing_core.messages.templates import (
    day,
    kwh,
    label,
    money,
    period,
    render,
    render_before_pay,
)

# The same amounts and dates are formatted over and over (babel is slow): remembered.
_money, _period, _day = lru_cache(4096)(money), lru_cache(1024)(period), lru_cache(1024)(day)
LANGUAGE_CHOICES = (
    Choice("LANG EN", "English", "LANG EN"),
    Choice("中文", "中文", "LANG ZH"),
)


def plain(template: str, language: str, **values: object) -> Reply:
    """A reply that is the template's words and nothing more."""
    return Reply(template, language, (render(template, language, **values),))


def bill(
    *,
    language: str,
    currency: str,
    account: str,
    period_start: date,
    period_end: date,
    amount: Decimal,
    due_date: date | None,
    balance: Decimal,
    pay: PayAction | None,
    overdue: bool,
    kwh: Decimal | None = None,
) -> Reply:
    """The latest bill, what is due now and, when something is, the pay link. Its kWh is a
    figure, not in the words (an SMS has no room; a chat's "my bill" adds it)."""
    due = _day(due_date, language) if due_date else "-"
    figures = (
        Figure("account", account), Figure("period_start", period_start),
        Figure("period_end", period_end), Figure("amount", amount, currency),
        Figure("due_date", due_date) if due_date else Figure("due_date", ""),
        Figure("balance", balance, currency), Figure("kwh", "" if kwh is None else kwh),
    )  # fmt: skip
    period_text, amount_text = (
        _period(period_start, period_end, language),
        _money(amount, currency, language),
    )
    if pay is None:
        text = render(
            "bill_paid", language, account=account, period=period_text, amount=amount_text,
            due=due,
        )  # fmt: skip
        return Reply("bill_paid", language, (text,), figures)
    template = "bill_overdue" if overdue else "bill_reply"
    text = render_before_pay(
        template, language, account=account, period=period_text, amount=amount_text, due=due,
        balance=_money(balance, currency, language),
    )  # fmt: skip
    return Reply(template, language, (text,), figures, pay)


def pay(*, language: str, currency: str, account: str, pay: PayAction) -> Reply:
    """What is due now on the account, and the pay link."""
    text = render_before_pay(
        "pay_reply", language, account=account, amount=_money(pay.amount, currency, language)
    )
    figures = (Figure("account", account), Figure("balance", pay.amount, currency))
    return Reply("pay_reply", language, (text,), figures, pay)


def nothing_due(*, language: str, currency: str, account: str, balance: Decimal) -> Reply:
    figures = (Figure("account", account), Figure("balance", balance, currency))
    text = render("nothing_due", language, account=account)
    return Reply("nothing_due", language, (text,), figures)


def no_bill(*, language: str, account: str) -> Reply:
    text = render("no_bill", language, account=account)
    return Reply("no_bill", language, (text,), (Figure("account", account),))


def usage(*, language: str, account: str, periods: Sequence[tuple[date, date, Decimal]]) -> Reply:
    """Energy per period, oldest first: a line each, and the same as a chart."""
    lines = "\n".join(f"{period(start, end, language)} {kwh(used, language)}"
                      for start, end, used in periods)  # fmt: skip
    text = render("usage_reply", language, account=account, lines=lines)
    chart = ChartSpec(
        tuple((start, end) for start, end, _ in periods), tuple(used for _, _, used in periods)
    )
    return Reply(
        "usage_reply", language, tuple(text.split("\n")), (Figure("account", account),),
        chart=chart,
    )  # fmt: skip


def choose_account(*, language: str, numbers: Sequence[str], command: str) -> Reply:
    """The sender is on several accounts: which one? (`command`: BILL, PAY or USAGE)."""
    labels = account_labels(numbers)
    choices = tuple(
        Choice(str(n), label, f"{command} {n}") for n, label in enumerate(labels, start=1)
    )
    listed = " ".join(f"{choice.key}) {choice.label}" for choice in choices)
    word = _COMMAND_WORDS.get(command, command) if language == Language.zh_cn else command
    example = f"{word} 2"
    text = render("choose_account", language, choices=listed, example=example)
    return Reply("choose_account", language, (text,), choices=choices)


_COMMAND_WORDS = {"BILL": "账单", "PAY": "缴费", "USAGE": "用电"}


def account_labels(numbers: Sequence[str]) -> list[str]:
    """...0001: the last four digits, or the whole number where those repeat (ASCII dots keep
    an English SMS in GSM-7)."""
    tails = [number[-4:] for number in numbers]
    return [
        f"...{tail}" if tails.count(tail) == 1 else number
        for tail, number in zip(tails, numbers, strict=True)
    ]


def lang_choose(*, language: str) -> Reply:
    text = render("lang_choose", language)
    return Reply("lang_choose", language, (text,), choices=LANGUAGE_CHOICES)


def link_sent(*, language: str, minutes: int) -> Reply:
    text = render("link_sent", language, minutes=minutes)
    return Reply("link_sent", language, (text,), (Figure("minutes", minutes, "min"),))


def link_ok(*, language: str, account: str) -> Reply:
    text = render("link_ok", language, account=account)
    return Reply("link_ok", language, (text,), (Figure("account", account),))


# The clarifying question's numbered answers (the words are the `clarify` template's); the
# same numbers come back after a queue times out.
CLARIFY_CHOICES: dict[int, IntentKind] = {
    1: IntentKind.bill, 2: IntentKind.pay, 3: IntentKind.usage, 0: IntentKind.agent,
}  # fmt: skip
# The choices' labels, by their keys in the message catalogues (docs/messages.md).
_CLARIFY_LABELS = {1: "choice_bill", 2: "choice_pay", 3: "choice_usage", 0: "choice_agent"}
_CLARIFY_COMMANDS = {1: "BILL", 2: "PAY", 3: "USAGE", 0: "AGENT"}


def clarifying_choices(language: str) -> tuple[Choice, ...]:
    return tuple(
        Choice(str(n), label(_CLARIFY_LABELS[n], language), _CLARIFY_COMMANDS[n])
        for n in CLARIFY_CHOICES
    )


def clarify(*, language: str) -> Reply:
    """One short question with numbered choices, instead of "not understood"."""
    return Reply(
        "clarify", language, (render("clarify", language),), choices=clarifying_choices(language)
    )


def queue_released(*, language: str, line: str) -> Reply:
    """Nobody took the queued conversation in time: the bot is back, with the choices."""
    return Reply(
        "queue_released", language, (render("queue_released", language, line=line),),
        choices=clarifying_choices(language),
    )  # fmt: skip


def agent_when(*, language: str, now_local: time, start: time, end: time, minutes: int) -> str:
    """When a person will answer, for a {when} in a message: soon within the agents' hours,
    in their hours otherwise."""
    if start <= now_local < end:
        return render("agent_when_soon", language, minutes=minutes)
    return render(
        "agent_when_hours", language, start=start.strftime("%H:%M"), end=end.strftime("%H:%M")
    )
