"""`wattdesk bench dispatch` through the CLI: the outbox drained by dispatcher processes to the
fake Twilio API in its own process, counted, then the no-outbox baseline (the figures are not
checked: speed is measured by the command, not timed in tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app


@pytest.fixture
def bench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WATTDESK_DATA_DIR", str(tmp_path))
    return CliRunner()


def test_the_outbox_drains_whole_and_the_baseline_and_ratio_are_printed(
    bench_env: CliRunner, tmp_path: Path
) -> None:
    result = bench_env.invoke(app, ["bench", "dispatch", "--messages", "300", "--baseline", "100"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "drained 300 messages with 2 dispatcher process(es)" in text, text
    assert "lost: 0 duplicates: 0 (fake API accepted 300; outbox rows sent with a provider " \
        "id: 300, distinct provider ids 300)" in text, text  # fmt: skip
    assert re.search(r"baseline, the same client with no outbox: 100 messages in [\d.]+ s = "
                     r"[\d,]+ msgs/s; ratio \d+\.\d\d", text), text  # fmt: skip
    assert re.search(r"goal: ≥ 1,000 msgs/s, none lost or twice: (met|NOT met)", text), text
    assert (tmp_path / "bench" / "dispatch-300.sqlite3").exists()


def test_with_a_rate_limit_one_process_paces_and_no_baseline_runs(bench_env: CliRunner) -> None:
    result = bench_env.invoke(app, ["bench", "dispatch", "--messages", "40", "--rate", "400"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "drained 40 messages with 1 dispatcher process(es)" in text, text
    assert "lost: 0 duplicates: 0" in text, text
    assert re.search(r"rate limit R = 400/s: measured [\d,.]+/s between the first and last send",
                     text), text  # fmt: skip
    assert "baseline" not in text
