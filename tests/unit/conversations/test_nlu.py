"""The recognition pipeline: held-out and probe accuracy in each language, stop safety,
normalisation (traditional, Cantonese, pinyin, numerals), numbered choices and self-read values."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.conversations.intents import Intent, IntentKind, recognise
from billing_core.conversations.nlu.evaluate import evaluate
from billing_core.conversations.nlu.model import TRAINING_DATA, read_examples
from billing_core.conversations.nlu.normalise import chinese_number, normalise

HELDOUT = Path(__file__).resolve().parents[2] / "fixtures" / "nlu" / "heldout.tsv"
# Real-style messages written apart from both (typos, pinyin, Cantonese, long stories ending in
# the request): a second evaluation set, never copied into the training data.
PROBE = HELDOUT.with_name("probe.tsv")
INTENTS = {kind.value for kind in IntentKind}


def full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def test_the_data_files_are_well_formed_and_large_enough() -> None:
    train, heldout = read_examples(TRAINING_DATA), read_examples(HELDOUT)
    for examples, least in ((train, 40), (heldout, 15)):
        counts: dict[tuple[str, str], int] = {}
        for example in examples:
            assert example.intent in INTENTS, example
            assert example.language in ("en", "zh"), example
            key = (example.intent, example.language)
            counts[key] = counts.get(key, 0) + 1
        for kind in INTENTS:
            for language in ("en", "zh"):
                assert counts.get((kind, language), 0) >= least, (kind, language)
    # held out means held out: no held-out text is in the training data
    trained = {normalise(example.text) for example in train}
    assert not [e.text for e in heldout if normalise(e.text) in trained and len(e.text) > 8]
    probe = read_examples(PROBE)
    assert {e.intent for e in probe} == INTENTS
    assert {e.language for e in probe} == {"en", "zh"}
    assert not [e.text for e in probe if normalise(e.text) in trained and len(e.text) > 8]


@pytest.mark.parametrize("path", [HELDOUT, PROBE], ids=["heldout", "probe"])
def test_held_out_accuracy_is_at_least_97_percent_in_each_language(path: Path) -> None:
    report = evaluate(read_examples(path))
    by_language = report.by_language()
    assert set(by_language) == {"en", "zh"}
    for language, accuracy in by_language.items():
        assert accuracy >= 0.97, (language, accuracy, report.misses)


@pytest.mark.parametrize("path", [HELDOUT, PROBE, TRAINING_DATA], ids=["heldout", "probe", "train"])
def test_no_message_labelled_otherwise_is_recognised_as_stop(path: Path) -> None:
    wrongly = [e.text for e in read_examples(path)
               if e.intent != "stop" and recognise(e.text).kind == IntentKind.stop]  # fmt: skip
    assert wrongly == []


@pytest.mark.parametrize("path", [HELDOUT, PROBE, TRAINING_DATA], ids=["heldout", "probe", "train"])
def test_every_opt_out_phrasing_is_an_exact_stop(path: Path) -> None:
    """Stop comes from the exact layer only: every stop phrasing of both files is one."""
    missed = [e.text for e in read_examples(path)
              if e.intent == "stop" and recognise(e.text) != Intent(IntentKind.stop)]  # fmt: skip
    assert missed == []


OPT_OUT_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
                 "OPT OUT", "STOP ALL", "退订", "TD", "取消订阅", "退訂"]  # fmt: skip


@pytest.mark.parametrize("word", OPT_OUT_WORDS)
def test_every_carrier_opt_out_word_is_stop_whatever_its_dress(word: str) -> None:
    for text in (word, word.lower(), word.title(), full_width(word), full_width(word.lower()),
                 f"{word}.", f"{word}!!", f" {word} ", f"“{word}”", f"【{word}】", f"{word}。",
                 f"{word}\u200b", f"{word} 🙏"):  # fmt: skip
        intent = recognise(text)
        assert intent == Intent(IntentKind.stop), text
        assert intent.score == 1.0


@pytest.mark.parametrize(
    "text",
    ["stop texting me", "Please stop sending me messages!", "unsubscribe me please",
     "remove me from your list", "don't text me again", "不要再发短信了", "别再给我发消息了",
     "请停止发送短信", "我不想再收到短信", "唔好再發短信啦"],
)  # fmt: skip
def test_short_opt_out_sentences_are_stop(text: str) -> None:
    assert recognise(text) == Intent(IntentKind.stop)


@pytest.mark.parametrize(
    "text",
    ["stop sending me paper bills", "stop 2", "stop it", "my power stopped", "停电了",
     "不要发账单给我", "电费别再算错了", "I want to stop paying by direct debit",
     "end of the month", "cancel my payment plan", "退订了还在发 我要投诉",
     "please stop the outage"],
)  # fmt: skip
def test_sentences_that_only_mention_stopping_are_not_stop(text: str) -> None:
    assert recognise(text).kind != IntentKind.stop


def test_the_classifier_never_returns_stop() -> None:
    """A message that looks like an opt-out but is no exact one is unclear, not an opt-out."""
    for text in ("plz no more of ur msgs thx", "别老发这些东西了行不行", "enough with the texts"):
        assert recognise(text).kind != IntentKind.stop


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("請問電費多少", "请问电费多少"),
        ("我要俾幾多電費", "我要给多少电费"),
        ("我想俾埋今期電費", "我想交这期电费"),
        ("點樣俾錢", "怎样交钱"),
        ("冇電呀", "没有电呀"),
        ("佢係咪已經交咗", "他是咪已经交了"),
        ("唔該睇下上個月嘅用電", "谢谢看下上个月的用电"),
        ("dianfei", "电费"),
        ("zhang dan", "账单"),
        ("jiaofei", "缴费"),
        ("yong dian", "用电"),
        ("rengong", "人工"),
        ("tuiding", "退订"),
        ("查dianfei", "查 电费"),
        ("ＢＩＬＬ！！", "bill"),
        ("bill 😀💡", "bill"),
        ("billll", "bill"),
        ("meter 12345.6", "meter 12345.6"),
        ("抄表一二三四五", "抄表 12345"),
        ("读数壹贰叁肆伍", "读数 12345"),
        ("三百二十度", "320 度"),
        ("两万三千四百五十六", "23456"),
        ("查一下", "查一下"),
        ("万一停电", "万一停电"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_chinese_numbers() -> None:
    assert chinese_number("十二") == "12"
    assert chinese_number("一万零五") == "10005"
    assert chinese_number("一二三点五") == "123.5"
    assert chinese_number("万一") is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("請問電費多少", IntentKind.bill), ("我要俾幾多電費", IntentKind.bill),
        ("查一下我的electricity bill", IntentKind.bill), ("dianfei duoshao", IntentKind.bill),
        ("帮我看看这个月要交多少", IntentKind.bill), ("what do I owe this month", IntentKind.bill),
        ("能给我个付款链接吗", IntentKind.pay), ("send me the payment link", IntentKind.pay),
        ("上个月用了几度电", IntentKind.usage), ("how many units did we use", IntentKind.usage),
        ("我想找客服人员", IntentKind.agent), ("usgae", IntentKind.usage),
        ("payment lnk", IntentKind.pay), ("bil", IntentKind.bill),
        ("能不能晚点交", IntentKind.arrangement),
        ("can I pay in two parts", IntentKind.arrangement),
        ("my bill is wrong", IntentKind.dispute), ("电费不对", IntentKind.dispute),
        ("停电了", IntentKind.outage), ("no power", IntentKind.outage),
        ("HI THERE, SORRY TO BOTHER YOU, HOW MUCH IS MY BILL", IntentKind.bill),
    ],
)  # fmt: skip
def test_the_issue_s_examples(text: str, kind: IntentKind) -> None:
    intent = recognise(text)
    assert intent.kind == kind, (text, intent)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("reading 12345", "12345"), ("抄表 12345", "12345"), ("我家电表读数是12345", "12345"),
        ("meter 12345.6", "12345.6"), ("READING: 04521", "04521"), ("抄表一二三四五", "12345"),
        ("my meter reading today is 23456 thanks", "23456"), ("電錶讀數係21267", "21267"),
    ],
)  # fmt: skip
def test_a_self_read_carries_its_value(text: str, value: str) -> None:
    intent = recognise(text)
    assert intent.kind == IntentKind.self_read
    assert intent.reading == Decimal(value)


def test_a_self_read_without_a_number_has_no_value() -> None:
    intent = recognise("I'd like to submit my meter reading")
    assert intent.kind == IntentKind.self_read
    assert intent.reading is None


def test_a_hotline_number_is_a_complaint_but_a_reading_of_the_same_digits_is_not() -> None:
    assert recognise("I'll call 12345").kind == IntentKind.complaint
    assert recognise("reading 12345").kind == IntentKind.self_read
    assert recognise("我要投诉，电表读数12345不对").kind == IntentKind.complaint


MENU = {1: IntentKind.bill, 2: IntentKind.pay, 3: IntentKind.usage, 0: IntentKind.agent}


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [("1", IntentKind.bill, 1), ("2", IntentKind.pay, 2), ("3.", IntentKind.usage, 3),
     ("0", IntentKind.agent, 0), ("一", IntentKind.bill, 1), ("两", IntentKind.pay, 2),
     ("零", IntentKind.agent, 0), ("１", IntentKind.bill, 1), ("选2", IntentKind.pay, 2),
     ("第三个", IntentKind.usage, 3), ("option 1", IntentKind.bill, 1),
     ("三", IntentKind.usage, 3)],
)  # fmt: skip
def test_a_numbered_choice_answers_the_last_question(
    text: str, kind: IntentKind, number: int
) -> None:
    assert recognise(text, choices=MENU) == Intent(kind, choice=number)


def test_without_choices_a_bare_number_is_unknown_and_other_choices_fall_through() -> None:
    assert recognise("1") == Intent.unknown()
    assert recognise("一").kind != IntentKind.bill
    assert recognise("5", choices=MENU) == Intent.unknown()
    assert recognise("bill 2", choices=MENU) == Intent(IntentKind.bill, account_index=2)
    assert recognise("STOP", choices=MENU) == Intent(IntentKind.stop)
    assert recognise("yes") == Intent(IntentKind.start)
    assert recognise("yes", choices=MENU).kind != IntentKind.start


def test_scores_are_1_for_exact_commands_and_a_probability_otherwise() -> None:
    assert recognise("BILL").score == 1.0
    sure = recognise("how much do I owe on my electricity bill this month")
    unsure = recognise("the thing about the stuff")
    assert 0.0 < unsure.score < sure.score <= 1.0
    assert sure.score >= 0.6


def test_lang_in_free_text_carries_the_language() -> None:
    assert recognise("can you reply in english please") == Intent(IntentKind.lang, language="en")
    assert recognise("请用中文回复") == Intent(IntentKind.lang, language="zh-CN")
    assert recognise("语言改成英文") == Intent(IntentKind.lang, language="en")


def test_link_and_code_in_sentences() -> None:
    assert recognise("please link my account 1000000001") == Intent(
        IntentKind.link, account_number="1000000001"
    )
    assert recognise("my account is 1000000015 and the code is 654321") == Intent(
        IntentKind.link, account_number="1000000015", code="654321"
    )
    assert recognise("the code is 482910") == Intent(IntentKind.code, code="482910")
    assert recognise("验证码是 482910") == Intent(IntentKind.code, code="482910")


def test_an_opt_in_from_free_text_needs_its_words_and_a_sure_classifier() -> None:
    assert recognise("please resume my texts").kind == IntentKind.start
    assert recognise("我想重新订阅短信").kind == IntentKind.start
    for text in ("hello again", "again?", "what?", "thanks again"):
        assert recognise(text).kind != IntentKind.start, text


@given(st.text(alphabet="零〇一二两三四五六七八九十百千万壹贰拾佰仟点电表读数 .0123456789abc"))
def test_any_run_of_numerals_is_read_without_error(text: str) -> None:
    assert isinstance(recognise(text).kind, IntentKind)


@pytest.mark.parametrize(
    ("text", "kind"),
    [("cn i pay l8r", IntentKind.arrangement), ("pwr out again", IntentKind.outage),
     ("pls snd link 2 pay", IntentKind.pay), ("zhe ge yue yong le duoshao dian", IntentKind.usage),
     ("咋用啊", IntentKind.help)],
)  # fmt: skip
def test_text_shorthand_pinyin_and_colloquial_forms(text: str, kind: IntentKind) -> None:
    assert recognise(text).kind == kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [("stop please", IntentKind.stop), ("请退订谢谢", IntentKind.stop),
     ("unstop please", IntentKind.start), ("START pls", IntentKind.start),
     ("stop txt msgs", IntentKind.stop), ("能退订吗", IntentKind.stop)],
)  # fmt: skip
def test_stop_and_start_with_padding(text: str, kind: IntentKind) -> None:
    assert recognise(text) == Intent(kind)


def test_a_padded_yes_is_no_opt_in() -> None:
    assert recognise("yes please").kind != IntentKind.start
    assert recognise("yes yes").kind != IntentKind.start


@pytest.mark.parametrize(
    "text", ["STOP STOP", "stop stop stop!!", "退订 退订", "TD退订", "退订TD", "td 退订",
             "取消订阅短信", "退订提醒"],
)  # fmt: skip
def test_repeated_and_echoed_opt_out_words_are_stop(text: str) -> None:
    assert recognise(text) == Intent(IntentKind.stop)


def test_wanting_the_texts_back_is_an_opt_in_cue() -> None:
    assert recognise("i want my texts back").kind == IntentKind.start


def test_a_long_message_is_read_for_the_request_at_its_end() -> None:
    story = ("ok so i spent the weekend going through all my bills one by one with my sister, "
             "the electricity one is the last, how do i pay")  # fmt: skip
    assert recognise(story).kind == IntentKind.pay
    # a bare "how do I do that" at the end asks about the story, not for the help menu
    assert recognise("你好，收到催费短信了，我现在想把钱交上，怎么弄").kind == IntentKind.pay


def test_the_shipped_weights_were_trained_on_the_shipped_examples() -> None:
    """After changing train.tsv, `wattdesk nlu train` writes model.npz again; a process whose
    weights do not match the examples trains afresh, slowly, at start."""
    from billing_core.conversations.nlu.model import TRAINED_MODEL, Model, data_digest

    _, trained_on = Model.load(TRAINED_MODEL)
    assert trained_on == data_digest(), "run `wattdesk nlu train` and commit model.npz"


def test_weights_saved_and_loaded_score_as_trained(tmp_path: Path) -> None:
    from billing_core.conversations.nlu.model import (
        TRAINING_DATA,
        Model,
        read_examples,
        train,
    )

    examples = read_examples(TRAINING_DATA)
    trained = train(examples[::3])  # a third of the examples: quick, and still a model
    trained.save(tmp_path / "model.npz", data_sha256="abc")
    loaded, digest = Model.load(tmp_path / "model.npz")
    assert digest == "abc" and loaded.labels == trained.labels
    for text in ("what do i owe", "电费多少", "no power", "抄表 12345"):
        assert loaded.scores(text).tolist() == trained.scores(text).tolist()
