"""Message templates in zh-CN and en. Short, polite, never threatening; money and dates are
formatted with Babel for the customer's language."""

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
    # --- conversations: answers to a customer's own message (billing_core.conversations) ---
    "bill_reply": {
        Language.zh_cn: "【wattdesk】户号{account}：{period}电费{amount}，截止{due}，"
                        "应缴{balance}。缴费：{url}",
        Language.en: "wattdesk: account {account}, bill for {period}: {amount}, due {due}. "
                     "Now due: {balance}. Pay: {url}",
    },
    # The latest bill is past its due date with something open: said plainly, and kindly.
    "bill_overdue": {
        Language.zh_cn: "【wattdesk】户号{account}：{period}电费{amount}，{due}已到期，"
                        "应缴{balance}。缴费：{url}",
        Language.en: "wattdesk: account {account}, bill for {period}: {amount} was due {due}. "
                     "Now due: {balance}. Pay: {url}",
    },
    "bill_paid": {
        Language.zh_cn: "【wattdesk】户号{account}：{period}电费{amount}（截止{due}），"
                        "当前无应缴费用，谢谢！",
        Language.en: "wattdesk: account {account}, bill for {period}: {amount} (due {due}). "
                     "Nothing is due now, thank you!",
    },
    "no_bill": {
        Language.zh_cn: "【wattdesk】户号{account}暂无已出账单。如有疑问请回复“人工”。",
        Language.en: "wattdesk: account {account} has no bill yet. Reply AGENT with any "
                     "question.",
    },
    "pay_reply": {
        Language.zh_cn: "【wattdesk】户号{account}当前应缴{amount}。缴费：{url}",
        Language.en: "wattdesk: account {account}, now due: {amount}. Pay: {url}",
    },
    "nothing_due": {
        Language.zh_cn: "【wattdesk】户号{account}当前无应缴费用，谢谢！",
        Language.en: "wattdesk: nothing is due on account {account} now, thank you!",
    },
    "usage_reply": {
        Language.zh_cn: "【wattdesk】户号{account}近期用电：\n{lines}",
        Language.en: "wattdesk: recent usage, account {account}:\n{lines}",
    },
    "help": {
        Language.zh_cn: "【wattdesk】回复：账单（查电费）、缴费、用电、人工（转人工）、"
                        "退订（停止通知）、LANG EN（English）。绑定户号：回复LINK+户号。",
        Language.en: "wattdesk: reply BILL for your bill, PAY to pay, USAGE for kWh, AGENT "
                     "for a person, STOP to opt out, LANG ZH for Chinese. To link an "
                     "account: LINK and its number.",
    },
    "stop_confirm": {
        Language.zh_cn: "【wattdesk】已退订，您将不再收到自动通知。回复START可恢复。",
        Language.en: "wattdesk: you are unsubscribed and will get no more automated "
                     "messages. Reply START to resubscribe.",
    },
    "start_confirm": {
        Language.zh_cn: "【wattdesk】已恢复通知，您将收到账单和缴费提醒。回复“退订”可随时退订。",
        Language.en: "wattdesk: you are resubscribed to bill notices and reminders. Reply "
                     "STOP to opt out at any time.",
    },
    "lang_confirm": {
        Language.zh_cn: "【wattdesk】好的，今后将用中文回复您。",
        Language.en: "wattdesk: OK, we will reply in English from now on.",
    },
    "lang_choose": {
        Language.zh_cn: "【wattdesk】回复“中文”或“LANG EN”（English）选择语言。",
        Language.en: "wattdesk: reply LANG EN for English or LANG ZH for Chinese.",
    },
    "agent_queued": {
        Language.zh_cn: "【wattdesk】已为您转接人工客服，{when}在此回复。"
                        "等待时仍可回复“账单”“缴费”“用电”。",
        Language.en: "wattdesk: thank you, a member of our team will reply here {when}. "
                     "Meanwhile you can still reply BILL, PAY or USAGE.",
    },
    # {when} in agent_queued and the requests below: within the agents' hours, or outside them
    "agent_when_soon": {
        Language.zh_cn: "工作人员通常将于{minutes}分钟内",
        Language.en: "usually within {minutes} minutes",
    },
    "agent_when_hours": {
        Language.zh_cn: "工作人员将于服务时间（每天{start}-{end}）",
        Language.en: "during our hours ({start}-{end} daily)",
    },
    "queue_released": {
        Language.zh_cn: "【wattdesk】抱歉，暂时没有工作人员接手您的消息，已转回自助服务。"
                        "回复1查账单，2缴费，3查用电，0再次转人工；紧急情况请致电{line}。",
        Language.en: "wattdesk: sorry, no one from our team could take your message yet, so "
                     "the assistant is back. Reply 1 for your bill, 2 to pay, 3 for usage, 0 "
                     "for a person, or call {line} if it is urgent.",
    },
    # One short question instead of "not understood": one segment in either language.
    "clarify": {
        Language.zh_cn: "【wattdesk】抱歉没太明白。回复1查账单，2缴费，3查用电，0转人工。",
        Language.en: "wattdesk: sorry, what do you need? Reply 1 for your bill, 2 to pay, "
                     "3 for usage, 0 for a person.",
    },
    "unrecognised": {
        Language.zh_cn: "【wattdesk】抱歉，没有理解您的消息。回复“帮助”查看可用指令。",
        Language.en: "wattdesk: sorry, we did not understand that. Reply HELP to see what "
                     "you can ask.",
    },
    "choose_account": {
        Language.zh_cn: "【wattdesk】您的号码绑定了多个户号：{choices}。请回复如“{example}”。",
        Language.en: "wattdesk: your number is on several accounts: {choices}. Reply e.g. "
                     "{example}.",
    },
    "link_sent": {
        Language.zh_cn: "【wattdesk】如该户号登记了手机号，验证码已发送至该号码，"
                        "请在{minutes}分钟内回复6位验证码。",
        Language.en: "wattdesk: if that account has a registered phone, we have texted it a "
                     "code. Reply with the 6-digit code within {minutes} minutes.",
    },
    "link_code": {
        Language.zh_cn: "【wattdesk】验证码{code}，用于将{requester}绑定到户号{account}，"
                        "{minutes}分钟内有效。如非您本人申请，请勿告知他人。",
        Language.en: "wattdesk: code {code} links {requester} to account {account}; valid "
                     "{minutes} minutes. If you did not ask for it, do not share it.",
    },
    "link_ok": {
        Language.zh_cn: "【wattdesk】验证成功，已绑定户号{account}。回复“账单”查询电费。",
        Language.en: "wattdesk: verified, your number is linked to account {account}. Reply "
                     "BILL for your bill.",
    },
    "link_bad_code": {
        Language.zh_cn: "【wattdesk】验证码不正确或已失效。请核对后重试，或回复LINK+户号重新获取。",
        Language.en: "wattdesk: that code is not right or has expired. Check it and try "
                     "again, or send LINK and your account number for a new one.",
    },
    "not_linked": {
        Language.zh_cn: "【wattdesk】为保护您的信息，请先验证号码：回复LINK+户号，"
                        "验证码将发送到户号登记的手机。",
        Language.en: "wattdesk: to protect your details we first verify your number. Reply "
                     "LINK and your account number; we text a code to the phone on file.",
    },
    "self_read_ok": {
        Language.zh_cn: "【wattdesk】已收到户号{account}的电表读数{reading}，谢谢！"
                        "将用于下次出账。",
        Language.en: "wattdesk: thank you, we have your meter reading {reading} for account "
                     "{account}. It will be used for your next bill.",
    },
    "self_read_flagged": {
        Language.zh_cn: "【wattdesk】已收到户号{account}的电表读数{reading}，"
                        "工作人员核实后使用，谢谢！",
        Language.en: "wattdesk: we have your meter reading {reading} for account {account}; "
                     "our team will check it before it is used. Thank you!",
    },
    "self_read_rejected": {
        Language.zh_cn: "【wattdesk】读数{reading}与户号{account}的电表记录不符，未能登记。"
                        "请核对后重新发送，或回复0转人工。",
        Language.en: "wattdesk: we could not accept reading {reading} for account {account}: "
                     "it does not fit the meter's record. Please check it and send it again, "
                     "or reply 0 for a person.",
    },
    "self_read_how": {
        Language.zh_cn: "【wattdesk】请回复“读数”加电表上的数字，例如：读数 12345",
        Language.en: "wattdesk: reply READING and the number on your meter, e.g. READING 12345",
    },
    "arrangement_noted": {
        Language.zh_cn: "【wattdesk】已记录您的缓缴/分期申请，{when}在此与您联系。",
        Language.en: "wattdesk: we have noted your request to pay later or in parts; a member "
                     "of our team will contact you here {when}.",
    },
    "dispute_noted": {
        Language.zh_cn: "【wattdesk】已记录您对账单的疑问，{when}在此与您核实。",
        Language.en: "wattdesk: we have noted your question about your bill; a member of our "
                     "team will look into it and reply here {when}.",
    },
    "outage_reply": {
        Language.zh_cn: "【wattdesk】很抱歉给您带来不便。电力故障报修请致电{line}（24小时），"
                        "我们已记录您的报告。",
        Language.en: "wattdesk: we are sorry you have no power. Please call {line} (24 hours) "
                     "to report it; we have noted your message.",
    },
    # --- Telegram's own answers (conversations/actions.py): buttons carry the choices, so
    # these name no commands to type, bar LINK for a chat that cannot share its phone ---
    "tg_welcome": {
        Language.zh_cn: "您好！这里是wattdesk电费自助服务。为保护您的信息，请先点击下方“分享手机号”"
                        "按钮绑定账户；也可以发送LINK+户号，验证码将发送到户号登记的手机。",
        Language.en: "Hello! This is wattdesk, your electricity self-service. To protect your "
                     "details, first link this chat: tap \"Share my phone number\" below, or "
                     "send LINK and your account number and we text a code to the phone on file.",
    },
    "tg_menu": {
        Language.zh_cn: "户号{account}，请选择：",
        Language.en: "Account {account}: what would you like to do?",
    },
    "tg_linked": {
        Language.zh_cn: "验证成功，本聊天已绑定户号{account}。请选择：",
        Language.en: "Verified: this chat is linked to account {account}. What would you like "
                     "to do?",
    },
    "tg_contact_not_own": {
        Language.zh_cn: "请用下方按钮分享您本人的手机号（不能分享他人的联系人），"
                        "或发送LINK+户号获取验证码。",
        Language.en: "Please share your own phone number with the button below (not someone "
                     "else's contact), or send LINK and your account number for a code.",
    },
    "tg_contact_unknown": {
        Language.zh_cn: "未找到登记该手机号的账户。请发送LINK+户号，验证码将发送到户号登记的手机。",
        Language.en: "We found no account with this phone number on file. Send LINK and your "
                     "account number; we text a code to the phone on file.",
    },
    "tg_unlinked": {
        Language.zh_cn: "已解除绑定，本聊天将不再显示账户信息。如需重新绑定，请发送 /start。",
        Language.en: "Unlinked: this chat no longer shows any account. Send /start to link it "
                     "again.",
    },
    "tg_not_linked_yet": {
        Language.zh_cn: "本聊天尚未绑定账户。",
        Language.en: "This chat is not linked to any account.",
    },
    "tg_bill_details": {
        Language.zh_cn: "用电{kwh}，状态：{status}",
        Language.en: "Usage {kwh}; status: {status}",
    },
    "tg_history": {
        Language.zh_cn: "户号{account}近{count}期账单：\n{lines}",
        Language.en: "Account {account}, the last {count} bills:\n{lines}",
    },
    "tg_usage_sent": {
        Language.zh_cn: "户号{account}近{count}期用电图表马上发送给您。最近一期：{latest}。",
        Language.en: "Your usage chart for account {account}, the last {count} periods, is on "
                     "its way. Latest: {latest}.",
    },
    "tg_usage_caption": {
        Language.zh_cn: "户号{account}近{count}期用电（度），横线为阶梯电量上限",
        Language.en: "Account {account}: kWh over the last {count} periods; the lines are the "
                     "tier limits",
    },
    "tg_settings": {
        Language.zh_cn: "通知设置：\n{contacts}\n通知时段：{hours}\n语言：{language_name}\n"
                        "点击按钮修改。",
        Language.en: "Notifications:\n{contacts}\nNotices sent between: {hours}\nLanguage: "
                     "{language_name}\nTap a button to change.",
    },
    "tg_saved": {
        Language.zh_cn: "已保存。",
        Language.en: "Saved.",
    },
    # --- automated notices (scheduler/dispatcher); a typical one fits in 2 SMS segments ---
    "bill_notice": {
        Language.zh_cn: "【wattdesk】户号{account}：{period}电费{amount}，请于{due}前缴纳。"
                        "缴费：{url}",
        Language.en: "wattdesk: your bill for account {account}, {period}, is {amount}, due "
                     "{due}. Pay: {url} Reply HELP for help.",
    },
    "due_reminder": {
        Language.zh_cn: "【wattdesk】温馨提示：户号{account}电费{amount}将于{due}到期。"
                        "缴费：{url} 如需帮助请回复“人工”。",
        Language.en: "wattdesk: a friendly reminder, {amount} on account {account} is due "
                     "{due}. Pay: {url} Need help? Reply AGENT.",
    },
    # --- a reading-day change (billing_core.notices.reading_days; docs/readings.md): at
    # least two months ahead, naming the old and new day, the date and the one period that
    # is longer or shorter; within two SMS segments. ---
    "reading_day_change": {
        Language.zh_cn: "【wattdesk】温馨提示：自{effective}起，户号{accounts}的抄表日由每月{old}日"
                        "调整为{new}日。{first}抄表的电费按{days}天计算，阶梯按天折算。"
                        "如有疑问请回复“人工”。",
        Language.en: "wattdesk: from {effective}, the meter of account {accounts} will be read "
                     "on day {new} of each month instead of day {old}. The bill read on {first} "
                     "covers {days} days, its blocks prorated. Questions? Reply AGENT.",
    },
    # --- the arrears ladder (billing_core.arrears.cases; docs/arrears.md). Polite, naming the
    # amount and the due date, offering help and the pay link; never a threat (a test holds
    # them to a lexicon), each SMS within two segments for realistic values. ---
    "arrears_overdue": {
        Language.zh_cn: "【wattdesk】户号{account}电费{amount}已于{due}到期。缴费：{url} "
                        "如有困难请回复“人工”。",
        Language.en: "wattdesk: the bill of {amount} on account {account} was due {due}. "
                     "Please pay when you can: {url} Finding it hard? Reply AGENT and we "
                     "will help.",
    },
    "arrears_arrangement_offer": {
        Language.zh_cn: "【wattdesk】户号{account}电费{amount}（{due}到期）未缴。如有困难可缓缴"
                        "或分期，请回复“分期”。缴费：{url}",
        Language.en: "wattdesk: {amount} on account {account} (due {due}) is still open. If "
                     "paying at once is hard, we can spread it or give more time: reply "
                     "PAYMENT PLAN. Pay: {url}",
    },
    "arrears_formal_notice": {
        Language.zh_cn: "【wattdesk】户号{account}电费{amount}于{due}到期未缴，{date}起可能暂停"
                        "供电。缴费：{url} 或回复“分期”",
        Language.en: "wattdesk: {amount} on account {account} (due {due}) is still open, and "
                     "supply may be paused from {date}. Paying, or replying PAYMENT PLAN, "
                     "avoids this: {url} Questions? Reply AGENT.",
    },
    "arrears_final_notice": {
        Language.zh_cn: "【wattdesk】户号{account}未缴电费{amount}，计划于今天{time}暂停供电。"
                        "如已缴费请忽略，需要帮助请回复“人工”。缴费：{url}",
        Language.en: "wattdesk: {amount} is still open on account {account}, and supply is "
                     "planned to pause today at {time}. If you have paid, please ignore this. "
                     "Need help? Reply AGENT. Pay: {url}",
    },
}  # fmt: skip


# Short words a channel shows apart from a message: the labels of Telegram's buttons and the
# names of states and channels in its answers.
LABELS: dict[str, dict[str, str]] = {
    "menu": {Language.zh_cn: "菜单", Language.en: "Menu"},
    "menu_bill": {Language.zh_cn: "我的账单", Language.en: "My bill"},
    "menu_pay": {Language.zh_cn: "缴费", Language.en: "Pay"},
    "menu_usage": {Language.zh_cn: "用电图表", Language.en: "Usage chart"},
    "menu_history": {Language.zh_cn: "历史账单", Language.en: "Bill history"},
    "menu_read": {Language.zh_cn: "报电表读数", Language.en: "Submit a reading"},
    "menu_settings": {Language.zh_cn: "通知设置", Language.en: "Notifications"},
    "menu_agent": {Language.zh_cn: "人工客服", Language.en: "A person"},
    "menu_lang": {Language.zh_cn: "语言 Language", Language.en: "Language 语言"},
    "menu_account": {Language.zh_cn: "切换户号", Language.en: "Switch account"},
    "menu_unlink": {Language.zh_cn: "解除绑定", Language.en: "Unlink this chat"},
    "share_phone": {Language.zh_cn: "分享手机号", Language.en: "Share my phone number"},
    "pay_amount": {Language.zh_cn: "缴费 {amount}", Language.en: "Pay {amount}"},
    "notify_on": {Language.zh_cn: "开", Language.en: "on"},
    "notify_off": {Language.zh_cn: "关", Language.en: "off"},
    "turn_on": {Language.zh_cn: "开启{channel}通知", Language.en: "Turn {channel} notices on"},
    "turn_off": {Language.zh_cn: "关闭{channel}通知", Language.en: "Turn {channel} notices off"},
    "hours": {Language.zh_cn: "时段 {hours}", Language.en: "Notices {hours}"},
    "any_time": {Language.zh_cn: "全天", Language.en: "any time"},
    "channel_sms": {Language.zh_cn: "短信", Language.en: "SMS"},
    "channel_telegram": {Language.zh_cn: "Telegram", Language.en: "Telegram"},
    "channel_email": {Language.zh_cn: "邮件", Language.en: "e-mail"},
    "language_name": {Language.zh_cn: "中文", Language.en: "English"},
    "standing_issued": {Language.zh_cn: "待缴", Language.en: "open"},
    "standing_partly_paid": {Language.zh_cn: "部分已缴", Language.en: "partly paid"},
    "standing_paid": {Language.zh_cn: "已缴清", Language.en: "paid"},
    "standing_overdue": {Language.zh_cn: "已逾期", Language.en: "past due"},
}  # fmt: skip


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
PAY_LINK: dict[str, str] = {Language.zh_cn: "缴费：", Language.en: " Pay: "}
# Replies to a customer's message that end with the pay link's words.
PAY_TEMPLATES = frozenset({"bill_reply", "bill_overdue", "pay_reply"})
# Templates whose words already list the numbered choices they offer.
STATES_CHOICES = frozenset({"choose_account", "lang_choose", "clarify", "queue_released"})
# A choice a template does not list, as a line of a text message.
CHOICE_LINE: dict[str, str] = {
    Language.zh_cn: "回复{key}：{label}",
    Language.en: "Reply {key} for {label}",
}


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
    """A bill's period, short: 10月10日-11月10日, 10 Oct-10 Nov (the due date gives the year)."""
    pattern = "M月d日" if language == Language.zh_cn else "d MMM"
    locale = babel_locale(language)
    first, last = (format_date(d, pattern, locale=locale) for d in (start, end))
    return f"{first}-{last}"


def kwh(value: Decimal, language: str) -> str:
    """Energy for a customer: 180度, 1,234.5 kWh."""
    number = format_decimal(value, format="#,##0.##", locale=babel_locale(language))
    return f"{number}度" if language == Language.zh_cn else f"{number} kWh"


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
