"""Start-up refuses bad settings with a message naming the variable; `config show` masks."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from api.cli import app


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WATTDESK_TIMEZONE", "Asia/Atlantis"), ("WATTDESK_DATABASE_URL", "oracle://x@y/z")],
)
def test_bad_setting_stops_start_up_naming_the_variable(
    variable: str, value: str, tmp_path: object
) -> None:
    result = run_cli("config", "show", env={"PATH": "/usr/bin:/bin", variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert "Traceback" not in result.stderr


def test_config_show_masks_secrets(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from api.cli import common

    monkeypatch.setenv("WATTDESK_SECRET_KEY", "very-secret-value-9")
    monkeypatch.setenv("WATTDESK_DATABASE_URL", "postgresql+psycopg://u:pgpass99@h/db")
    common.settings.cache_clear()
    try:
        result = cli_env.invoke(app, ["config", "show", "--json"])
    finally:
        common.settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "very-secret-value-9" not in result.output
    assert "pgpass99" not in result.output
    assert "WATTDESK" not in result.output or "********" in result.output
    assert '"timezone": "Asia/Shanghai"' in result.output
