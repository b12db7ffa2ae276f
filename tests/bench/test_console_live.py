"""`wattdesk bench console-live`, run short: it seeds, serves, streams and measures, and with a
few clients at a low rate no event is lost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app


def test_a_short_run_loses_no_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTDESK_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["bench", "console-live", "--seconds", "1", "--rate", "20",
                                      "--clients", "3", "--customers", "40"])  # fmt: skip
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "events lost: 0 of 60" in output
    found = re.search(r"\(60 deliveries\): p50 ([\d.]+) ms, p99 ([\d.]+) ms", output)
    assert found is not None, output
    assert 0 < float(found.group(2)) < 2000
    assert "webhook, no stream open: 20 at 20/s" in output
