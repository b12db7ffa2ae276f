"""`wattdesk nlu eval` and `wattdesk nlu explain`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_eval_reports_accuracy_confusion_and_misses(tmp_path: Path) -> None:
    data = tmp_path / "some.tsv"
    data.write_text(
        "# a comment\nBILL\tbill\ten\n账单\tbill\tzh\n停电了\toutage\tzh\nhello\tpay\ten\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["nlu", "eval", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["total"] == 4
    assert report["correct"] == 3
    assert report["by_language"] == {"en": 0.5, "zh": 1.0}
    assert report["by_intent"]["zh:outage"] == {"correct": 1, "total": 1}
    assert {"expected": "pay", "got": "unknown", "count": 1} in report["confusion"]
    assert [miss["text"] for miss in report["misses"]] == ["hello"]
    assert report["false_stops"] == 0

    result = runner.invoke(app, ["nlu", "eval", str(data)])
    assert result.exit_code == 0, result.output
    assert "3/4 correct" in result.output
    assert "miss [en] pay -> unknown" in result.output


def test_eval_of_a_missing_file_fails(tmp_path: Path) -> None:
    result = runner.invoke(app, ["nlu", "eval", str(tmp_path / "none.tsv")])
    assert result.exit_code != 0


def test_explain_shows_the_normalised_text_and_the_top_three() -> None:
    result = runner.invoke(app, ["nlu", "explain", "請問電費多少"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "normalised: 请问电费多少"
    assert lines[1].startswith("intent: bill (classifier, score ")
    assert len(lines) == 5 and lines[2].split()[0] == "bill"

    result = runner.invoke(app, ["nlu", "explain", "抄表 12345"])
    assert "intent: self_read (by rule, score 1.00) reading=12345" in result.output
