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
    sizes = re.findall(
        r"([\d,]+) accounts \(([\d,]+) in arrears\): +([\d.]+) s, CPU +([\d.]+) s, "
        r"([\d,]+) accounts/s",
        text,
    )
    assert [s[0] for s in sizes] == ["500", "1,000", "2,000"]
    assert all(int(s[1].replace(",", "")) > 0 for s in sizes)
    assert all(float(s[3]) > 0 and int(s[4].replace(",", "")) > 0 for s in sizes)
    assert "the same day again" in text and "steps 0, messages 0" in text
    ratio = re.search(r"time per account at N vs N/4: ([\d.]+) \(wall\), ([\d.]+) \(CPU\)", text)
    assert ratio is not None and float(ratio[1]) > 0 and float(ratio[2]) > 0, text
    assert "2 for the ladder (arrears_ladder, arrears_ladder_at_start)" in text
    assert re.search(r"goal \(issue 18\): 2,000 accounts in <= 10 s: met .* scheduler jobs "
                     r"independent of N: met", text), text  # fmt: skip
