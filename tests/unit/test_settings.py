from pathlib import Path

import pytest
from pydantic import SecretStr

from billing_core.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_default(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, _env_file=None)
    assert settings.timezone == "Asia/Shanghai"
    assert settings.currency == "CNY"
    assert settings.default_locale == "zh-CN"
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/wattdesk.sqlite3"


def test_unknown_timezone_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTDESK_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert "WATTDESK_TIMEZONE" in str(info.value)
    assert "Mars/Olympus_Mons" in str(info.value)


@pytest.mark.parametrize("url", ["not a url", "mysql://root@localhost/x", "://"])
def test_bad_database_url_is_named_in_the_error(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTDESK_DATABASE_URL", url)
    with pytest.raises(SettingsError, match="WATTDESK_DATABASE_URL"):
        load_settings(_env_file=None)


def test_every_bad_variable_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTDESK_CURRENCY", "yuan")
    monkeypatch.setenv("WATTDESK_ENV", "staging")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert "WATTDESK_CURRENCY" in str(info.value)
    assert "WATTDESK_ENV" in str(info.value)


def test_masked_settings_hide_secrets_and_database_passwords() -> None:
    settings = load_settings(
        secret_key=SecretStr("s3cr3t-value-xyz"),
        database_url="postgresql+psycopg://app:hunter2pass@db.example/wattdesk",
        _env_file=None,
    )
    shown = str(settings.masked())
    assert "s3cr3t-value-xyz" not in shown
    assert "hunter2pass" not in shown
    assert "postgresql+psycopg://app:***@db.example/wattdesk" in shown
    assert set(settings.secret_values()) >= {"s3cr3t-value-xyz", "hunter2pass"}
