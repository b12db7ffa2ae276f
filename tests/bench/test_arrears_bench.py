"""`wattdesk bench arrears` at a short size: it builds the accounts, runs the daily ladder,
prints the figures, and the rerun records nothing (idempotent); the ladder's scheduler jobs
do not depend on the number of accounts."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from bench.cli import app


def test_the_arrears_bench_runs_short_and_reports_its_figures(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["arrears", "--accounts", "2000", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    sizes = re.findall(r"([\d,]+) accounts \(([\d,]+) in arrears\): +([\d.]+) s", text)
    assert [s for s, _, _ in sizes] == ["500", "1,000", "2,000"]
    assert all(int(a.replace(",", "")) > 0 for _, a, _ in sizes)
    assert "the same day again" in text and "steps 0, messages 0" in text
    assert "2 for the ladder (arrears_ladder, arrears_ladder_at_start)" in text
