"""Recognition in layers: exact commands (never guessed, and the only way to `stop`), a complaint
word anywhere, then the classifier for free text with its confidence."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from billing_core.conversations.intents import (
    BARE_LANGUAGE_WORDS,
    COMPLAINT_WORDS,
    INDEXED,
    KEYWORDS,
    LANGUAGE_WORDS,
    Intent,
    IntentKind,
)
from billing_core.conversations.nlu.model import model
from billing_core.conversations.nlu.normalise import normalise, single_numeral

_LANG = re.compile(r"(?:language|lang|语言)(?:\s?(?P<language>.+))?")
_LINK = re.compile(r"(?:link|绑定)\s?(?P<number>\d{4,20})(?:\s(?P<code>\d{6}))?")
_LINK_BARE = re.compile(r"(?:link|绑定)")
# "link my account 1000000001", "帮我绑定户号 1000000001 验证码 123456"
_LINK_SENTENCE = re.compile(
    r"(?:(?<![a-z])link|绑定|关联)\D{0,30}?(?<!\d)(?P<number>\d{8,20})(?!\d)"
    r"(?:\D{1,20}?(?<!\d)(?P<code>\d{6})(?!\d))?"
)
# "my account is 1000000001 and the code is 123456": a link with its code, link word or not
_ACCOUNT_AND_CODE = re.compile(
    r"(?:account|acct|户号|账户|账号|帐户|帐号)\D{0,20}?(?<!\d)(?P<number>\d{8,20})(?!\d)"
    r"\D{1,20}?(?:code|验证码)\D{0,8}?(?<!\d)(?P<code>\d{6})(?!\d)"
)
_CODE = re.compile(r"(?:(?:code|验证码)\s?)?(?P<code>\d{6})")
# "my code is 123456", "验证码是 123456", "the code you sent me 123456 thanks"
_CODE_SENTENCE = re.compile(
    r"(?:(?<![a-z])(?:code|otp|pin)(?![a-z])|验证码|校验码|动态码)\D{0,24}?(?<!\d)(?P<code>\d{6})(?!\d)"
)
_INDEXED = re.compile(r"(?P<word>\D+?)(?P<index>\d+)?")
_DIGITS_ONLY = re.compile(r"[\d\s.]+")

_HOTLINES = tuple(word for word in COMPLAINT_WORDS if word.isdigit())
_COMPLAINT_WORD = re.compile(
    "|".join(rf"(?<![a-z]){w}" if w.isascii() else w for w in COMPLAINT_WORDS if not w.isdigit())
)
_HOTLINE = re.compile("|".join(rf"(?<!\d){w}(?!\d)" for w in _HOTLINES))

# A reading: the value after a reading word; the whole message a reading word and a number is
# a self-read for certain ("reading 12345", "抄表 12345", "meter 12345.6").
_READING_WORD = (
    r"(?:meter readings?|readings?|meter read|meter|reads|抄表读数|抄表|电表读数|读数|表数|"
    r"表底|行度|示数|止码|底数|表码|自报|电表)"
)
_READING_ALONE = re.compile(
    rf"{_READING_WORD}\s?(?:is|at|now|was|today|是|为|现在是)?\s?(?P<value>\d{{1,7}}(?:\.\d{{1,3}})?)"
    r"\s?(?:kwh|度)?"
)
_READING_AFTER_WORD = re.compile(
    rf"{_READING_WORD}\D{{0,24}}?(?<![\d.])(?P<value>\d{{1,7}}(?:\.\d{{1,3}})?)(?![\d.])"
)
_NUMBER = re.compile(r"(?<![\d.])(?P<value>\d{1,7}(?:\.\d{1,3})?)(?![\d.])")

# Opt-out sentences, read only on a whole (padding-stripped) message: short, clear, and with
# nothing else in them. A message that only looks like one goes to the classifier, which
# cannot return `stop` (see recognise).
_OPT_OUT = re.compile(
    "|".join(
        [
            r"(?:stop|quit|cease|end)(?: all| the| these| your)?"
            r" (?:texting|texts?|txts?|messaging|messages|msgs|sms|sending|spamming|contacting"
            r"|reminders|alerts|notifications)"
            r"(?: (?:texts|messages|sms|reminders|alerts|notifications|these|them|me|us|to me"
            r"|any ?more|all|now))*",
            r"(?:i (?:want|wanna|would like|d like) to |let me |i )?"
            r"(?:unsubscribe|opt out|opt me out)"
            r"(?: (?:me|from|of|this|these|all|your|the|texts?|messages|list|sms|alerts|service|"
            r"number|notifications|now))*",
            r"(?:remove|take) (?:me|my number) (?:off|from) (?:your|the|this|all)"
            r"(?: (?:texting|sms|text|mailing|message|contact|messaging))? ?(?:list|lists)",
            r"(?:do not|don t|dont|no more|never) (?:text|texts|message|messages|sms|send|contact)"
            r"(?: (?:me|us|any ?more|again|texts|messages|sms|any|ever))*",
            r"(?:i )?(?:don t|do not|dont) want (?:any ?more|your|these|any)? ?"
            r"(?:texts|messages|sms)"
            r"(?: (?:any ?more|from you))*",
            # "TD退订" / "退订TD": the marketing-SMS convention, echoed back whole
            r"(?:td ?)?(?:退订|取消订阅)(?:短信|通知|消息|信息|提醒)?(?: ?td)?"
            r"|取消(?:所有)?(?:短信|消息|信息)(?:通知|提醒|推送|服务|订阅)?"
            r"|关闭(?:短信|消息)(?:通知|提醒|推送)?",
            r"(?:不要|别|不用|勿|无需)再?(?:给我|向我|跟我)?(?:发|发送|推送)(?:短信|信息|消息|通知)?"
            r"(?:给我|过来|来)?",
            r"停止(?:发送|发|推送)(?:短信|信息|消息|通知)?(?:给我)?",
            r"(?:我)?不(?:想|要|愿意|需要)再?(?:收|收到|接收|接到)(?:你们的?|这些|任何|你的)?"
            r"(?:短信|信息|消息|通知)",
        ]
    )
)
_PAD_BEFORE = re.compile(
    r"^(?:(?:please|pls|plz|kindly|hi|hello|hey|ok|okay|sorry|just|can you|could you|can i|"
    r"could i|may i|how do i|how can i|"
    r"请|请你|请你们|麻烦|麻烦你|麻烦你们|你们|拜托|帮我|我要|我想|我想要|我需要|您好|你好|我|能|可以|能不能|可不可以)\s?)+"
)
_PAD_AFTER = re.compile(
    r"(?:\s?(?:please|pls|plz|thanks|thank you|thankyou|thx|ty|now|asap|immediately|"
    r"right now|already|cheers|ok|谢谢你?|谢了|了|吧|啊|呀|啦|哈|好吗|可以吗|行吗|好不好|谢|吗))+$"
)

# Kinds the classifier may not return as they are: a stop only ever comes from an exact
# command above; the classifier's guess at one is a request to say again.
_NEVER_GUESSED = frozenset({IntentKind.stop})
# An opt-in from free text re-subscribes a customer who opted out, and the bot answers it even
# while the conversation waits for an agent: the classifier's `start` counts only when the
# message says so in words ("resume", "恢复") and the classifier is sure.
_OPT_IN_CUE = re.compile(
    r"(?<![a-z])(?:start|restart|resume|subscribe|resubscribe|re subscribe|opt in|opt me back"
    r"|opt back|back on|sign me|turn on|switch on|enable|re enable|reactivate|re activate|again"
    r"|(?:alerts|texts?|txts|messages|sms|reminders|notifications) back|receive|unstop|me back)"
    r"|恢复|重新|订阅|开通|打开|开启|继续|再|开始|取消退订"
)
_SURE_OF_START = 0.6


def _padded_keyword(words: str) -> IntentKind | None:
    """STOP or START said with padding ("stop please", "请退订谢谢", "unstop pls"), or an
    opt-out sentence; None otherwise. A padded "yes" is no opt-in: it answers something."""
    stripped = _PAD_AFTER.sub("", _PAD_BEFORE.sub("", words)).strip()
    if not stripped:
        return None
    said = stripped.split()
    if len(said) > 1 and len(set(said)) == 1:  # "STOP STOP STOP": said again for emphasis
        stripped = said[0]
    compact = stripped.replace(" ", "")
    kind = KEYWORDS.get(compact)
    if kind == IntentKind.stop or _OPT_OUT.fullmatch(stripped) is not None:
        return IntentKind.stop
    if kind == IntentKind.start and compact != "yes":
        return IntentKind.start
    return None


def _choice(words: str, choices: Mapping[int, IntentKind]) -> Intent | None:
    said = words.replace(" ", "")
    for prefix in ("option", "choice", "number", "no", "选择", "选", "第"):
        if said.startswith(prefix) and len(said) > len(prefix):
            said = said[len(prefix) :]
            break
    said = said.removesuffix("个").removesuffix("项").removesuffix("号")
    number = int(said) if said.isdigit() and len(said) <= 2 else single_numeral(said)
    if number is None or number not in choices:
        return None
    return Intent(choices[number], choice=number)


def _language(words: str) -> str | None:
    for word in words.split():
        if (language := LANGUAGE_WORDS.get(word)) is not None:
            return language
    for word, language in (("中文", "zh-CN"), ("汉语", "zh-CN"), ("普通话", "zh-CN"),
                           ("英文", "en"), ("英语", "en")):  # fmt: skip
        if word in words:
            return LANGUAGE_WORDS.get(word, language)
    return None


def reading_value(words: str) -> Decimal | None:
    """The meter reading in a normalised message: the number after a reading word, else the
    longest number in it."""
    if match := _READING_AFTER_WORD.search(words):
        return Decimal(match["value"])
    numbers = [m["value"] for m in _NUMBER.finditer(words)]
    if not numbers:
        return None
    return Decimal(max(numbers, key=lambda value: len(value.split(".")[0])))


def exact(words: str, *, choices: Mapping[int, IntentKind] | None = None) -> Intent | None:
    """The intent of a normalised message when it is an exact command; None otherwise."""
    if choices and (intent := _choice(words, choices)) is not None:
        return intent
    if match := _CODE.fullmatch(words):
        return Intent(IntentKind.code, code=match["code"])
    if match := _LINK.fullmatch(words):
        return Intent(IntentKind.link, account_number=match["number"], code=match["code"])
    if _LINK_BARE.fullmatch(words):
        return Intent(IntentKind.link)
    if match := _LANG.fullmatch(words):
        said = match["language"] or ""
        language = LANGUAGE_WORDS.get(said) or LANGUAGE_WORDS.get(said.replace(" ", ""))
        if language or not said:  # a bare LANG: the service says how to choose
            return Intent(IntentKind.lang, language=language)
        if (language := _language(said)) is not None:  # "语言改成英文"
            return Intent(IntentKind.lang, language=language)
        if said.isascii() and said.isalpha() and len(said) <= 3:  # "LANG FR": one we do not speak
            return Intent.unknown()
    if words in BARE_LANGUAGE_WORDS:
        return Intent(IntentKind.lang, language=LANGUAGE_WORDS[words])
    compact = words.replace(" ", "")
    if match := _INDEXED.fullmatch(compact):
        kind = KEYWORDS.get(match["word"])
        if kind is not None and kind == IntentKind.start and choices:
            kind = None  # "yes" answering a question is not an opt-in
        if kind is not None:
            index = match["index"]
            if index is None:
                return Intent(kind)
            if kind in INDEXED and len(index) <= 2:
                return Intent(kind, account_index=int(index))
            return Intent.unknown()  # a command with an argument it does not take: "stop 2"
    if (kind := _padded_keyword(words)) is not None:
        return Intent(kind)
    if match := _READING_ALONE.fullmatch(words):
        return Intent(IntentKind.self_read, reading=Decimal(match["value"]))
    if match := _LINK_SENTENCE.search(words) or _ACCOUNT_AND_CODE.search(words):
        return Intent(IntentKind.link, account_number=match["number"], code=match["code"])
    if match := _CODE_SENTENCE.search(words):
        return Intent(IntentKind.code, code=match["code"])
    return None


def rank(words: str) -> list[tuple[IntentKind, float]]:
    """The classifier's intents for a normalised message, most likely first, with scores."""
    trained = model()
    scores = trained.scores(words)
    order = scores.argsort()[::-1]
    return [(IntentKind(trained.labels[i]), float(scores[i])) for i in order]


def classify(words: str) -> Intent:
    """The classifier's intent for a normalised message that is not an exact command."""
    kind, score = rank(words)[0]
    if kind in _NEVER_GUESSED:
        return Intent(IntentKind.unknown, score=score)
    if kind == IntentKind.start and (score < _SURE_OF_START or not _OPT_IN_CUE.search(words)):
        return Intent(IntentKind.unknown, score=score)
    if kind == IntentKind.self_read:
        return Intent(kind, reading=reading_value(words), score=score)
    if kind == IntentKind.lang:
        return Intent(kind, language=_language(words), score=score)
    return Intent(kind, score=score)


def deterministic(words: str, *, choices: Mapping[int, IntentKind] | None = None) -> Intent | None:
    """What a normalised message means by rule, before any classifier: an exact command, a
    complaint word anywhere, a bare number; None when only the classifier can tell."""
    if not words:
        return Intent.unknown()
    if (intent := exact(words, choices=choices)) is not None:
        return intent
    if _COMPLAINT_WORD.search(words):
        return Intent(IntentKind.complaint)
    if _DIGITS_ONLY.fullmatch(words):  # a number alone that is no code nor choice
        return Intent.unknown()
    if _HOTLINE.search(words) and not _READING_AFTER_WORD.search(words):
        return Intent(IntentKind.complaint)
    return None


# A long message's request is often its last sentence, after a story ("…my landlord said I
# need to sort it myself. How do I pay it?"): when the whole is unclear, that sentence is read
# on its own too, and counts when it is clearer and asks for something. A bare "how do I do
# that" (help) at the end asks about the story, so it does not count.
_SENTENCE_END = re.compile(r"[.?!。？！;；,，\n]+")
_UNSURE = 0.6
_NOT_AN_ENDING = frozenset({IntentKind.unknown, IntentKind.help})


def _last_sentence(text: str) -> str | None:
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    return sentences[-1] if len(sentences) > 1 else None


def recognise(text: str, *, choices: Mapping[int, IntentKind] | None = None) -> Intent:
    """See `billing_core.conversations.intents.recognise`."""
    words = normalise(text)
    if (intent := deterministic(words, choices=choices)) is not None:
        return intent
    intent = classify(words)
    if intent.score < _UNSURE and (last := _last_sentence(text)) is not None:
        said = normalise(last)
        if said and said != words and deterministic(said) is None:
            ending = classify(said)
            if ending.kind not in _NOT_AN_ENDING and ending.score > intent.score:
                return ending
    return intent
