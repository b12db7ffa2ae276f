"""The TwiML answer is what twilio's MessagingResponse writes, for any reply text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.twiml.messaging_response import MessagingResponse

from billing_core.conversations.model import Outcome, Reply, stored_reply
from sms.inbound import twiml


def text(reply: str) -> Reply:
    """A reply of these words alone."""
    return Reply("agent_message", "en", (reply,))


def messaging_response(reply: str | None) -> str:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


@given(reply=st.text(st.characters(exclude_categories=())))  # lone surrogates too
def test_any_reply_is_written_as_messaging_response_writes_it(reply: str) -> None:
    assert twiml(Outcome(1, text(reply), "en")) == messaging_response(reply)


def test_markup_in_a_reply_is_escaped() -> None:
    reply = 'wattdesk: <b>&</b> "quotes" > 5\r\n【wattdesk】账单 ¥1,234.56'
    assert twiml(Outcome(1, text(reply), "zh-CN")) == messaging_response(reply)
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in twiml(Outcome(1, text(reply), "zh-CN"))


def test_silence_answers_an_empty_response_and_a_repeat_what_it_was_answered_before() -> None:
    empty = messaging_response(None)
    assert twiml(Outcome(1, None, "en")) == empty
    assert twiml(Outcome(1, text(""), "en")) == empty
    assert twiml(Outcome(1, None, "en", duplicate=True)) == empty  # silent the first time
    repeat = Outcome(1, stored_reply("answered before\nReply 1 for BILL", "en"), "en",
                     duplicate=True)  # fmt: skip
    assert twiml(repeat) == messaging_response("answered before\nReply 1 for BILL")
