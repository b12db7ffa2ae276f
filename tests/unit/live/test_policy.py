"""The live-events policy file: loaded, bounded, unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing_core.live.policy import load_live_policy
from billing_core.policies import PolicyError


def test_the_shipped_policy_loads() -> None:
    policy = load_live_policy()
    assert policy.keep_days == 7 and policy.delete_chunk == 5000


@pytest.mark.parametrize("line", ["keep_days: 0", "delete_chunk: 10", "keep_for: 3"])
def test_a_bad_policy_is_refused(tmp_path: Path, line: str) -> None:
    (tmp_path / "live.yaml").write_text(f"version: 1\neffective_from: 2025-01-01\n{line}\n")
    with pytest.raises(PolicyError):
        load_live_policy(tmp_path)
