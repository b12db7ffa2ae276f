"""`POST /telegram/webhook` on SQLite and PostgreSQL: only Telegram's requests (the secret
token) are answered, a redelivered update is answered once, and nothing an update can carry
makes it fail with a 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from bot.webhook import WEBHOOK_PATH
from tests.integration.telegram.conftest import (
    CLOCK,
    answer,
    button_update,
    link,
    message_update,
    new_customer,
    new_user_id,
    next_update_id,
    post,
    press,
    stored_for,
    telegram_settings,
    transcript,
)


@pytest.mark.parametrize("secret", [None, "", "wrong", "s3cret-"])
def test_without_the_secret_token_nothing_is_stored(
    client: TestClient, tg_engine: Engine, secret: str | None
) -> None:
    user_id = new_user_id()
    update = message_update(user_id, "/start")
    response = post(client, update, secret=secret)
    assert response.status_code == 401
    assert stored_for(tg_engine, update["update_id"]) == 0
    assert transcript(tg_engine, user_id) == []


def test_with_no_secret_configured_every_update_is_refused(
    tg_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = telegram_settings(tmp_path_factory, telegram_webhook_secret="")
    app = create_app(settings, engine=tg_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as unprotected:
        for secret in (None, ""):
            update = message_update(new_user_id(), "/start")
            assert post(unprotected, update, secret=secret).status_code == 401
            assert stored_for(tg_engine, update["update_id"]) == 0


def test_without_a_token_there_is_no_webhook(
    tg_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = telegram_settings(tmp_path_factory, telegram_bot_token="")
    app = create_app(settings, engine=tg_engine, clock=CLOCK, configure_logs=False)
    with TestClient(app) as off:
        assert post(off, message_update(new_user_id(), "/start")).status_code == 404


def test_a_redelivered_update_is_stored_and_answered_once(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    link(client, user_id, someone)
    update = button_update(user_id, press("BILL"))
    first = answer(client, update)
    before = transcript(tg_engine, user_id)
    second = answer(client, update)

    assert first.sent and "123.45" in first.text
    assert stored_for(tg_engine, update["update_id"]) == 1
    assert transcript(tg_engine, user_id) == before  # nothing new: one answer stored
    # Answered again with the words stored the first time (its response may have been lost):
    # the pay link in words, the buttons not kept.
    assert second.sent and second.text.startswith(first.text), (first.body, second.body)
    assert first.url_buttons()[0] in second.text and not second.url_buttons()


def test_a_redelivered_text_is_answered_once(client: TestClient, tg_engine: Engine) -> None:
    user_id = new_user_id()
    update = message_update(user_id, "你好")
    answer(client, update)
    answer(client, update)
    lines = transcript(tg_engine, user_id)
    assert [d for d, _, _ in lines].count("in") == 1
    assert [d for d, _, _ in lines].count("out") <= 1


@pytest.mark.parametrize(
    "body",
    [
        b"{}",  # no update_id
        b'{"update_id": "x"}',
        b'{"update_id": 5, "message": {"text": 12}}',
        b'{"update_id": 6, "message": {"message_id": 1, "date": 0, "chat": 7}}',
        b'{"update_id": 7, "callback_query": {"id": 1}}',
        b'{"update_id": 8, "edited_message": null, "poll": []}',
    ],
)
def test_an_authentic_update_we_cannot_read_is_acknowledged_not_retried(
    client: TestClient, body: bytes
) -> None:
    response = client.post(
        WEBHOOK_PATH, content=body,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": _secret()},
    )  # fmt: skip
    assert response.status_code == 200 and response.json() == {}


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_no_json_object_is_a_bad_request(client: TestClient, body: bytes) -> None:
    response = client.post(
        WEBHOOK_PATH, content=body,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": _secret()},
    )  # fmt: skip
    assert response.status_code == 400


def test_an_oversized_body_is_refused(client: TestClient) -> None:
    body = b'{"update_id": 1, "message": {"text": "' + b"a" * (2 * 1024 * 1024) + b'"}}'
    response = client.post(
        WEBHOOK_PATH, content=body,
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": _secret()},
    )  # fmt: skip
    assert response.status_code == 413


def test_updates_of_other_kinds_are_acknowledged_and_not_stored(
    client: TestClient, tg_engine: Engine
) -> None:
    user_id = new_user_id()
    sticker = message_update(user_id)  # a message with no text: a sticker, a photo
    sticker["message"]["sticker"] = {
        "file_id": "f", "file_unique_id": "u", "type": "regular", "width": 1, "height": 1,
        "is_animated": False, "is_video": False,
    }  # fmt: skip
    edited = {
        "update_id": next_update_id(),
        "edited_message": message_update(user_id, "x")["message"],
    }
    for update in (sticker, edited):
        assert answer(client, update).body == {}
        assert stored_for(tg_engine, update["update_id"]) == 0


def test_a_group_chat_is_not_served(client: TestClient, tg_engine: Engine) -> None:
    """A chat is linked through its user: a group would show a member's bill to everyone."""
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    link(client, user_id, someone)
    for text in ("/bill", "账单"):
        update = message_update(user_id, text, chat_type="group")
        assert answer(client, update).body == {}
        assert stored_for(tg_engine, update["update_id"]) == 0


def _secret() -> str:
    from tests.integration.telegram.conftest import SECRET

    return SECRET
