"""Production refuses unsafe settings: a missing, short or published secret key stops start-up
(`load_settings`, `create_app`, `wattdesk serve`) naming WATTDESK_SECRET_KEY; `wattdesk config
check` lists every unsafe production setting; the production landing page shows no database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine

from api.app import create_app
from billing_core.settings import (
    DEMO_TWILIO_AUTH_TOKEN,
    DEVELOPMENT_SECRET_KEY,
    MIN_SECRET_KEY_LENGTH,
    Environment,
    Settings,
    SettingsError,
    load_settings,
)

GOOD_KEY = "Jx3-production-secret-key-of-48-characters-0123"
# Production settings that are safe but for what a test changes.
SAFE = {
    "WATTDESK_ENV": "production",
    "WATTDESK_SECRET_KEY": GOOD_KEY,
    "WATTDESK_PAYMENT_PROVIDER": "stripe",
    "WATTDESK_STRIPE_API_KEY": "sk_live_x",
    "WATTDESK_STRIPE_WEBHOOK_SECRET": "whsec_x",
    "WATTDESK_TWILIO_ACCOUNT_SID": "AC1",
    "WATTDESK_TWILIO_AUTH_TOKEN": "a-real-token",
    "WATTDESK_TWILIO_FROM": "+15005550006",
    "WATTDESK_PUBLIC_BASE_URL": "https://desk.example.com",
}
UNSAFE_KEYS = {
    "missing": "",
    "the development default": DEVELOPMENT_SECRET_KEY,
    "the demo token": DEMO_TWILIO_AUTH_TOKEN,
    "short": "x" * (MIN_SECRET_KEY_LENGTH - 1),
}


def safe_fields(**changes: str) -> dict[str, str]:
    fields = {name.removeprefix("WATTDESK_").lower(): value for name, value in SAFE.items()}
    return {**fields, **changes}


def test_production_with_safe_settings_starts() -> None:
    assert load_settings(_env_file=None, **safe_fields()).env == Environment.production
    assert len(GOOD_KEY) >= MIN_SECRET_KEY_LENGTH


@pytest.mark.parametrize("key", UNSAFE_KEYS.values(), ids=UNSAFE_KEYS.keys())
def test_production_refuses_an_unsafe_secret_key_naming_the_variable(key: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(_env_file=None, **safe_fields(secret_key=key))
    message = str(refused.value)
    assert "WATTDESK_SECRET_KEY" in message
    assert f"at least {MIN_SECRET_KEY_LENGTH} random characters" in message
    if key:
        assert key not in message  # the message never repeats a secret


def test_development_keeps_its_default_key() -> None:
    settings = load_settings(_env_file=None)
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY


def test_create_app_refuses_a_copied_production_settings_with_the_default_key(
    settings: Settings, engine: Engine
) -> None:
    # model_copy skips the validators: create_app asks again.
    production = load_settings(_env_file=None, **safe_fields()).model_copy(
        update={"secret_key": SecretStr(DEVELOPMENT_SECRET_KEY), "data_dir": settings.data_dir}
    )
    with pytest.raises(SettingsError, match="WATTDESK_SECRET_KEY"):
        create_app(production, engine=engine, configure_logs=False)


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        # no .env is read from cwd; the repository on the path for `-m api.cli`
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "COLUMNS": "200", **env},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_wattdesk_serve_in_production_with_the_default_key_exits_naming_it(
    tmp_path: Path,
) -> None:
    env = {**SAFE, "WATTDESK_DATA_DIR": str(tmp_path), "PYTHONPATH": str(Path.cwd())}
    del env["WATTDESK_SECRET_KEY"]  # unset: the development default
    with socket.socket() as probe:  # a free port, in case it started after all
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("serve", "--port", str(port), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "WATTDESK_SECRET_KEY" in result.stderr
    assert "the published development value" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_config_check_lists_every_unsafe_production_setting_and_exits_1(
    tmp_path: Path,
) -> None:
    env = {
        **SAFE,
        "WATTDESK_SECRET_KEY": DEVELOPMENT_SECRET_KEY,
        "WATTDESK_PAYMENT_PROVIDER": "sandbox",
        "WATTDESK_TWILIO_AUTH_TOKEN": DEMO_TWILIO_AUTH_TOKEN,
        "WATTDESK_PUBLIC_BASE_URL": "http://desk.example.com",
        "WATTDESK_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(Path.cwd()),
    }
    result = run_cli("config", "check", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    unsafe = [line for line in result.stdout.splitlines() if line.startswith("unsafe: ")]
    named = {line.removeprefix("unsafe: ").split(":")[0] for line in unsafe}
    assert named == {
        "WATTDESK_SECRET_KEY",
        "WATTDESK_PAYMENT_PROVIDER",
        "WATTDESK_TWILIO_AUTH_TOKEN",
        "WATTDESK_PUBLIC_BASE_URL",
    }
    assert DEMO_TWILIO_AUTH_TOKEN not in result.stdout
    assert DEVELOPMENT_SECRET_KEY not in result.stdout


def test_config_check_judges_development_settings_by_production_rules(tmp_path: Path) -> None:
    env = {"WATTDESK_DATA_DIR": str(tmp_path), "PYTHONPATH": str(Path.cwd())}
    result = run_cli("config", "check", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "unsafe: WATTDESK_SECRET_KEY" in result.stdout


def test_config_check_passes_safe_production_settings(tmp_path: Path) -> None:
    env = {**SAFE, "WATTDESK_DATA_DIR": str(tmp_path), "PYTHONPATH": str(Path.cwd())}
    result = run_cli("config", "check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "unsafe:" not in result.stdout
    assert "no unsafe production settings" in result.stdout


def test_the_production_landing_page_shows_no_database(settings: Settings, engine: Engine) -> None:
    shown = engine.url.render_as_string(hide_password=True)
    with TestClient(create_app(settings, engine=engine, configure_logs=False)) as client:
        assert shown in client.get("/").text  # development: which database this is
    production = load_settings(_env_file=None, **safe_fields())
    app = create_app(production, engine=engine, configure_logs=False)
    with TestClient(app) as client:
        page = client.get("/").text
    assert "production" in page
    assert shown not in page
    for fragment in (engine.url.drivername, str(engine.url.database), "sqlite", "postgresql"):
        assert fragment not in page
    assert "<th>database</th>" not in page
