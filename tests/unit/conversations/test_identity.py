"""Phone numbers in E.164 and the conversations policy file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.conversations.identity import mask_address, normalise_phone
from billing_core.conversations.policy import (
    DEFAULT_CONVERSATIONS_POLICY,
    load_conversations_policy,
)
from billing_core.policies import PolicyError


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+8613800000001", "CN", "+8613800000001"),
        ("+86 138 0000 0001", "CN", "+8613800000001"),
        ("13800000001", "CN", "+8613800000001"),
        ("１３８０００００００１", "CN", "+8613800000001"),  # full-width digits
        ("(202) 555-0142", "US", "+12025550142"),
        ("+1 202-555-0142", "CN", "+12025550142"),
        ("+86138000000001", "CN", None),  # one digit too many
        ("hello", "CN", None),
        ("", "CN", None),
        ("1" * 200, "CN", None),
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, region: str, expected: str | None) -> None:
    assert normalise_phone(raw, region) == expected


@given(st.text(), st.sampled_from(["CN", "US", "GB", "ZZ", ""]))
def test_normalise_phone_never_raises(raw: str, region: str) -> None:
    result = normalise_phone(raw, region)
    assert result is None or result.startswith("+")


def test_a_sender_is_named_to_others_by_four_digits() -> None:
    assert mask_address("sms", "+12025550142") == "...0142"
    assert mask_address("telegram", "123456789") == "telegram ...6789"


def test_the_policy_file_holds_the_documented_defaults() -> None:
    policy = load_conversations_policy()
    assert policy.code_ttl_minutes == 10
    assert policy.code_max_attempts == 5
    assert policy.unrecognised_before_handoff == 2
    assert policy.usage_periods == 6
    # Canned replies are the utility's words, not a default: the file has some, the model none.
    assert policy.model_dump(exclude={"version", "effective_from", "canned_replies"}) == (
        DEFAULT_CONVERSATIONS_POLICY.model_dump(
            exclude={"version", "effective_from", "canned_replies"}
        )
    )
    assert policy.canned_replies and DEFAULT_CONVERSATIONS_POLICY.canned_replies == ()


def test_a_policy_with_an_unknown_key_or_unsafe_value_is_refused(tmp_path: Path) -> None:
    (tmp_path / "conversations.yaml").write_text(
        "version: 1\neffective_from: 2025-01-01\ncode_ttl_minutes: 600\ncode_tll: 3\n"
    )
    with pytest.raises(PolicyError, match="code_ttl_minutes") as raised:
        load_conversations_policy(tmp_path)
    assert "code_tll" in str(raised.value)
