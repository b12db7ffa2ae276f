"""`wattdesk simulate arrears`: both output forms, determinism by seed, the mixes' checks, and
the issue's goal at a moderate size (the full 10,000-customer figures are in docs/arrears.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from billing_core.arrears.simulate import MIX_DIR, load_mix
from billing_core.policies import PolicyError


def simulate_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["simulate", "arrears", "--json", *args])
    assert result.exit_code == 0, result.output
    answer: dict[str, Any] = json.loads(result.stdout)
    for figures in answer["policies"].values():
        figures.pop("seconds")
    return answer


def test_the_table_compares_the_policies() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "arrears", "--customers", "150", "--months", "2", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "collected_90d" in result.stdout
    assert "humane/naive:" in result.stdout
    assert "naive: " in result.stdout  # the naive ladder's broken rules, by rule


def test_json_has_each_policys_figures_and_a_seed_gives_the_same_answer() -> None:
    first = simulate_json("--customers", "200", "--months", "3", "--seed", "5")
    assert set(first["policies"]) == {"humane", "naive"}
    for figures in first["policies"].values():
        for money in ("billed", "collected_30d", "collected_60d", "collected_90d"):
            assert Decimal(figures[money]) == Decimal(figures[money]).quantize(Decimal("0.01"))
        for count in ("disconnections", "sensitive_disconnections", "violations", "messages"):
            assert isinstance(figures[count], int)
        assert Decimal(figures["collected_90d"]) <= Decimal(figures["billed"])
    assert first == simulate_json("--customers", "200", "--months", "3", "--seed", "5")
    assert first != simulate_json("--customers", "200", "--months", "3", "--seed", "6")


def test_one_policy_by_name_and_a_missing_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    answer = simulate_json("--customers", "20", "--months", "1", "--policy", "naive")
    assert set(answer["policies"]) == {"naive"}
    result = CliRunner().invoke(
        app, ["simulate", "arrears", "--policy", str(tmp_path / "nope.yaml")]
    )
    assert result.exit_code == 2
    assert "nope.yaml" in result.output


def test_the_humane_ladder_meets_the_goal_on_the_default_mix() -> None:
    # 1,500 customers for a year: a few seconds; docs/arrears.md has 10,000 for every mix.
    figures = simulate_json("--customers", "1500", "--months", "12", "--seed", "1")["policies"]
    humane, naive = figures["humane"], figures["naive"]
    assert Decimal(humane["collected_90d"]) >= Decimal("0.98") * Decimal(naive["collected_90d"])
    assert humane["disconnections"] <= 0.2 * naive["disconnections"]
    assert humane["violations"] == 0 and humane["sensitive_disconnections"] == 0
    assert naive["violations"] > 0 and naive["sensitive_disconnections"] > 0


@pytest.mark.parametrize("name", ["default", "hardship", "affluent"])
def test_the_shipped_mixes_load(name: str) -> None:
    assert load_mix(name).name == name


def test_a_mix_whose_shares_do_not_add_up_is_refused(tmp_path: Path) -> None:
    text = (MIX_DIR / "default.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("share: 0.70", "share: 0.60"), encoding="utf-8")
    with pytest.raises(PolicyError, match="add up"):
        load_mix(str(bad))
    bad.write_text(text + "\nextra: 1\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="extra"):
        load_mix(str(bad))
