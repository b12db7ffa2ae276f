"""`wattdesk bench writer-unit` at a short size: it seeds its database, runs the my-bill unit
of work in each setting (units a transaction x checkpoint interval), and prints CPU a unit
against the first setting, with how many answers carried a pay link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app


def test_the_writer_unit_bench_runs_short_and_reports_each_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTDESK_DATA_DIR", str(tmp_path))
    args = ["writer-unit", "--units", "100", "--rounds", "2", "--customers", "40",
            "--batch", "1", "--batch", "4", "--every", "16", "--every", "0"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    lines = re.findall(
        r"(\d+) a transaction, checkpoint (every \d+|SQLite's own): ([\d,]+) µs CPU a unit "
        r"\(rounds ([\d,]+), ([\d,]+)\); ×([\d.]+) of the first; ([\d,]+) of 200 answers",
        text,
    )
    assert [(b, e) for b, e, *_ in lines] == [
        ("1", "every 16"), ("1", "SQLite's own"), ("4", "every 16"), ("4", "SQLite's own")
    ], text  # fmt: skip
    assert float(lines[0][5]) == 1.0
    assert all(int(line[2].replace(",", "")) > 0 for line in lines)
    # every linked chat has an issued bill with something due: each answer offers a pay link
    assert all(int(line[6]) > 0 for line in lines), text


def test_the_writer_unit_bench_refuses_a_batch_it_cannot_run() -> None:
    result = CliRunner().invoke(app, ["writer-unit", "--batch", "0"])
    assert result.exit_code == 2
    assert "--batch is 1 to 64" in " ".join(result.output.split())
