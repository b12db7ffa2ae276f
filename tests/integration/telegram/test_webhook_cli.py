"""`wattdesk telegram set-webhook` and `wattdesk telegram poll` with the real aiogram Bot
against the fake Bot API on loopback (bench/fakes/telegram_api.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from bench.fakes.telegram_api import TOKEN, FakeTelegramApi
from billing_core.db import create_db_engine
from tests.integration.telegram.conftest import (
    SECRET,
    button_update,
    contact_update,
    message_update,
    new_customer,
    new_user_id,
    press,
)

PUBLIC = "https://desk.example.org"


@pytest.fixture
def fake() -> Iterator[FakeTelegramApi]:
    api = FakeTelegramApi().start()
    yield api
    api.stop()


@pytest.fixture
def bot_env(cli_database: str, fake: FakeTelegramApi, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("WATTDESK_TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WATTDESK_TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WATTDESK_TELEGRAM_API_BASE", fake.url)
    monkeypatch.setenv("WATTDESK_PUBLIC_BASE_URL", PUBLIC)
    return cli_database


def test_set_webhook_registers_the_url_the_secret_and_the_update_types(
    bot_env: str, fake: FakeTelegramApi, cli_env: CliRunner
) -> None:
    result = cli_env.invoke(app, ["telegram", "set-webhook"])
    assert result.exit_code == 0, result.output
    assert fake.webhook["url"] == f"{PUBLIC}/telegram/webhook"
    assert fake.webhook["secret_token"] == SECRET
    assert fake.webhook["allowed_updates"] == ["message", "callback_query"]


@pytest.mark.parametrize(
    "missing", ["WATTDESK_TELEGRAM_BOT_TOKEN", "WATTDESK_TELEGRAM_WEBHOOK_SECRET"]
)
def test_set_webhook_needs_a_token_and_a_secret(
    bot_env: str,
    fake: FakeTelegramApi,
    cli_env: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    missing: str,
) -> None:
    monkeypatch.setenv(missing, "")
    result = cli_env.invoke(app, ["telegram", "set-webhook"])
    assert result.exit_code == 2 and missing in result.output
    assert fake.calls_to("setWebhook") == []


def test_poll_answers_updates_as_the_webhook_does_with_the_bot(
    bot_env: str, fake: FakeTelegramApi, cli_env: CliRunner
) -> None:
    engine: Engine = create_db_engine(bot_env)
    try:
        someone = new_customer(engine)
    finally:
        engine.dispose()
    user_id = new_user_id()
    fake.webhook = {"url": "https://old.example.org/telegram/webhook"}
    for update in (
        message_update(user_id, "/start"),
        contact_update(user_id, someone.phone.lstrip("+"), owner=user_id),
        button_update(user_id, press("BILL")),
    ):
        fake.push_update(update)

    result = cli_env.invoke(app, ["telegram", "poll", "--updates", "3", "--timeout", "1"])

    assert result.exit_code == 0, result.output
    assert fake.webhook == {}  # polling removed it: Telegram refuses getUpdates beside one
    welcome, linked, bill = fake.sent(user_id)
    assert welcome.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert someone.accounts[0][-4:] in linked.params["text"]
    assert "123.45" in bill.params["text"]
    [[pay], *_] = bill.params["reply_markup"]["inline_keyboard"]
    assert "/p/" in pay["url"]
    assert len(fake.calls_to("answerCallbackQuery")) == 1  # the button's spinner stops
    # Confirmed before it stopped: a restart would not see them again.
    _, info = fake.call("getWebhookInfo", {}, {})
    assert info["result"]["pending_update_count"] == 0
