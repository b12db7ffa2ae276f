"""Canned replies in the conversations policy: each in both languages, short enough for an
agent's message, codes unique; the shipped file's load."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from billing_core.conversations.policy import (
    MAX_CANNED_TEXT,
    ConversationsPolicy,
    load_conversations_policy,
)
from billing_core.customers.model import Language


def policy(*replies: dict[str, Any]) -> ConversationsPolicy:
    return ConversationsPolicy.model_validate(
        {"version": 1, "effective_from": date(2025, 1, 1), "canned_replies": list(replies)}
    )


def reply(code: str = "greeting", **text: str) -> dict[str, Any]:
    return {"code": code, "title": "Greeting", "text": text or {"zh-CN": "您好", "en": "Hello"}}


def test_the_shipped_replies_are_in_both_languages() -> None:
    shipped = load_conversations_policy().canned_replies
    assert len(shipped) >= 3
    for canned in shipped:
        assert set(canned.text) == set(Language)
        assert all(0 < len(text) <= MAX_CANNED_TEXT for text in canned.text.values())


def test_a_reply_in_one_language_only_is_refused() -> None:
    with pytest.raises(ValidationError, match="no text in en"):
        policy(reply(**{"zh-CN": "您好"}))


def test_codes_are_unique_and_plain() -> None:
    with pytest.raises(ValidationError, match="repeated: greeting"):
        policy(reply(), reply())
    with pytest.raises(ValidationError, match="code"):
        policy(reply(code="Not A Code"))
    assert [r.code for r in policy(reply(), reply("closing")).canned_replies] == [
        "greeting",
        "closing",
    ]


def test_an_unknown_key_or_an_overlong_text_is_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        policy({**reply(), "colour": "blue"})
    with pytest.raises(ValidationError):
        policy(reply(**{"zh-CN": "长" * (MAX_CANNED_TEXT + 1), "en": "Hello"}))
