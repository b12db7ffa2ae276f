"""Text folding before recognition: width, case, punctuation and emoji, traditional to simplified
Chinese, Cantonese forms, pinyin of the key words, and Chinese numerals written as numbers."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Protocol

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@lru_cache(maxsize=1)
def _t2s() -> _Converter:
    import opencc  # a C++ extension: loaded once, when the first Chinese message comes

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


# Cantonese written forms (and a few colloquial northern ones: 咋, 啥), after conversion to
# simplified characters, to their Mandarin equivalents, so one set of training data serves
# both ("我要俾几多电费" = "我要给多少电费").
# Longest first: "冇电" is read before "冇".
_CANTONESE: dict[str, str] = {
    "几多": "多少", "乜嘢": "什么", "咩嘢": "什么", "点样": "怎样", "点解": "为什么",
    "边度": "哪里", "边个": "谁", "而家": "现在", "依家": "现在", "琴日": "昨天",
    "听日": "明天", "今个月": "这个月", "上个月": "上个月", "唔该": "谢谢", "多谢": "谢谢",
    "唔好": "不要", "唔使": "不用", "唔识": "不会", "冇": "没有", "唔": "不", "咗": "了",
    "嘅": "的", "俾": "给", "畀": "给", "睇": "看",
    # 俾 with money is paying, not giving: "俾钱", "俾埋电费" (pay off the bill), "今期" (this one)
    "俾钱": "交钱", "畀钱": "交钱", "俾电费": "交电费", "畀电费": "交电费", "俾埋": "交",
    "畀埋": "交", "今期": "这期",
    "揾": "找", "搵": "找", "喺": "在", "嚟": "来", "啲": "些", "佢": "他", "嘢": "东西",
    "攞": "拿", "咁": "这么", "咩": "什么", "乜": "什么", "系咪": "是不是",
    "咋": "怎么", "啥": "什么", "木有": "没有", "神马": "什么", "肿么": "怎么",
    "㗎": "", "喎": "", "嘞": "", "啫": "", "咯": "", "噃": "",
}  # fmt: skip
# "係" is Cantonese for "is", but its simplified form 系 is also "system": map it before the
# traditional-to-simplified conversion only.
_BEFORE_T2S = {"係": "是", "幾多": "多少", "冇電": "没有电"}

_CANTONESE_RE = re.compile("|".join(sorted(map(re.escape, _CANTONESE), key=len, reverse=True)))
_BEFORE_T2S_RE = re.compile("|".join(map(re.escape, _BEFORE_T2S)))

# Pinyin and common romanisations of the key words, written with or without spaces or tones'
# digits ("dianfei", "dian fei", "zhang dan"): to the Chinese words the classifier knows.
_PINYIN: dict[str, str] = {
    "dian fei": "电费", "zhang dan": "账单", "jiao fei": "缴费", "jiao dian fei": "交电费",
    "yong dian liang": "用电量", "yong dian": "用电", "yong liang": "用量", "ren gong": "人工",
    "tui ding": "退订", "ke fu": "客服", "ting dian": "停电", "mei dian": "没电",
    "chao biao": "抄表", "du shu": "读数", "dian biao": "电表", "fu kuan": "付款",
    "zhi fu": "支付", "qian fei": "欠费", "tou su": "投诉", "cha xun": "查询",
    "bang zhu": "帮助", "duo shao qian": "多少钱", "duo shao": "多少",
    "fen qi": "分期", "yan qi": "延期", "bu dui": "不对", "cuo le": "错了",
    "zhong wen": "中文", "ying wen": "英文", "bang ding": "绑定", "yan zheng ma": "验证码",
    "din fai": "电费", "tin din": "停电", "zhe ge yue": "这个月", "shang ge yue": "上个月",
    "yong le": "用了", "duo shao du": "多少度", "ji du dian": "几度电", "mei you dian": "没有电",
    "jia li": "家里", "ding yue": "订阅", "wo yao": "我要", "wo de": "我的", "wo jia": "我家",
}  # fmt: skip
# Text-message shorthand, word by word: "cn i pay l8r", "pwr out", "pls snd link".
_SHORTHAND = {
    "u": "you", "ur": "your", "r": "are", "l8r": "later", "pwr": "power", "thx": "thanks",
    "pymt": "payment", "pmt": "payment", "acct": "account", "acc": "account", "amt": "amount",
    "bal": "balance", "msg": "message", "msgs": "messages", "txt": "text", "txts": "texts",
    "plz": "please", "pls": "please", "b4": "before", "2day": "today", "tmrw": "tomorrow",
    "elec": "electricity", "wat": "what", "wot": "what", "cn": "can", "cud": "could",
    "snd": "send", "wanna": "want to", "gimme": "give me", "whats": "what s", "hw": "how",
    "rn": "right now", "bc": "because", "abt": "about", "ppl": "people", "info": "info",
}  # fmt: skip
_PINYIN_RE = re.compile(
    r"(?<![a-z])(?:"
    + "|".join(
        r"\s?".join(re.escape(syllable) for syllable in key.split())
        for key in sorted(_PINYIN, key=len, reverse=True)
    )
    + r")(?![a-z])"
)
_PINYIN_LOOKUP = {key.replace(" ", ""): value for key, value in _PINYIN.items()}

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
           "七": 7, "八": 8, "九": 9, "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6,
           "柒": 7, "捌": 8, "玖": 9}  # fmt: skip
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_NUMERAL_CHARS = "".join(_DIGITS) + "".join(_UNITS) + "万"
# A run of two or more numerals is a number ("一二三四五", "三百二十"); a single one stays a
# word ("查一下", "两部分"), except on its own (a choice: "一"). 点 is a decimal point only
# between numerals.
_NUMERAL_RUN = re.compile(rf"[{_NUMERAL_CHARS}]{{2,}}(?:点[{''.join(_DIGITS)}]+)?")
_LATIN = re.compile(r"[a-z]")
_REPEATS = re.compile(r"([a-z])\1{2,}")
_DECIMAL = re.compile(r"(?<=\d)[.·](?=\d)")
_DECIMAL_MARK = "\x00"


def chinese_number(run: str) -> str | None:
    """The digits of a run of Chinese numerals; None when it is not a number (万一)."""
    whole, _, fraction = run.partition("点")
    if all(ch in _DIGITS for ch in whole):  # read digit by digit: 一二三四五
        digits = "".join(str(_DIGITS[ch]) for ch in whole)
    else:
        if whole[0] in "百佰千仟万":
            return None
        total = section = number = 0
        for ch in whole:
            if ch in _DIGITS:
                number = _DIGITS[ch]
            elif ch in _UNITS:
                section += (number or 1) * _UNITS[ch]
                number = 0
            else:  # 万
                total += (section + number) * 10000
                section = number = 0
        digits = str(total + section + number)
    if fraction:
        digits += "." + "".join(str(_DIGITS[ch]) for ch in fraction)
    return digits


def _numeral(match: re.Match[str]) -> str:
    digits = chinese_number(match[0])
    return match[0] if digits is None else f" {digits} "


def single_numeral(text: str) -> int | None:
    """一, 二, 两, 零 … on its own: the number a customer means when answering a choice."""
    value = _DIGITS.get(text)
    if value is None and text in ("十", "拾"):
        value = 10
    return value


def fold(text: str) -> str:
    """NFKC (full-width to half-width) and casefold; punctuation, symbols and emoji become
    spaces (a decimal point between digits stays); runs of spaces become one."""
    folded = _DECIMAL.sub(_DECIMAL_MARK, unicodedata.normalize("NFKC", text).casefold())
    chars = []
    for ch in folded:
        if ch == _DECIMAL_MARK:
            chars.append(".")
            continue
        category = unicodedata.category(ch)
        if category == "Cf":  # zero-width joiners, BOMs, direction marks, emoji joiners
            continue
        chars.append(" " if category[0] in "PSZCM" else ch)
    return " ".join("".join(chars).split())


def _pinyin(match: re.Match[str]) -> str:
    return f" {_PINYIN_LOOKUP[match[0].replace(' ', '')]} "


def normalise(text: str) -> str:
    """The text recognition reads: folded, simplified, Cantonese and pinyin key words made
    Mandarin, Chinese numerals made digits."""
    if _CJK.search(text):
        text = _BEFORE_T2S_RE.sub(lambda m: _BEFORE_T2S[m[0]], text)
        text = _t2s().convert(text)
        text = _CANTONESE_RE.sub(lambda m: _CANTONESE[m[0]], text)
        text = _NUMERAL_RUN.sub(_numeral, text)
    text = fold(text)
    if _LATIN.search(text):
        text = _REPEATS.sub(r"\1\1", text)  # "billll", "pleeeease"
        text = _PINYIN_RE.sub(_pinyin, text)
        text = " ".join(_SHORTHAND.get(word, word) for word in text.split())
    return text


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))
