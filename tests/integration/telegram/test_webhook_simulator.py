"""The simulator plays a Telegram user through the real webhook: a message, a shared
contact and a button press each post an Update; the page shows the inline answer and its
buttons, and the transcript the conversation."""

from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from tests.integration.telegram.conftest import (
    CLOCK,
    new_customer,
    new_user_id,
    telegram_settings,
    transcript,
)


def page_after(client: TestClient, path: str, data: dict[str, str]) -> str:
    sent = client.post(path, data=data, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    page = client.get(sent.headers["location"])
    assert page.status_code == 200 and 'role="alert"' not in page.text, page.text
    return page.text


def test_a_telegram_user_links_and_gets_the_bill_on_the_simulator(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user = str(new_user_id())
    assert client.get("/simulator/telegram").status_code == 200

    welcome = page_after(client, "/simulator/telegram/send", {"user": user, "body": "/start"})
    assert 'class="contact"' in welcome  # the share-my-phone button
    menu = page_after(client, "/simulator/telegram/contact",
                      {"user": user, "phone": someone.phone, "whose": "own"})  # fmt: skip
    assert someone.accounts[0][-4:] in menu and 'value="c:BILL:"' in menu
    bill = page_after(client, "/simulator/telegram/press", {"user": user, "data": "c:BILL:"})
    assert "123.45" in bill
    assert re.search(r'<a href="http://127\.0\.0\.1:8000/p/[^"]+"[^>]*class="url"', bill), bill

    lines = client.get(f"/simulator/telegram/messages?user={user}").text
    assert "123.45" in lines
    assert [d for d, _, _ in transcript(tg_engine, int(user))].count("in") == 3


def test_someone_elses_contact_on_the_simulator_links_nothing(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user = str(new_user_id())
    refused = page_after(client, "/simulator/telegram/contact",
                         {"user": user, "phone": someone.phone, "whose": "other"})  # fmt: skip
    assert someone.accounts[0] not in refused and 'class="contact"' in refused


def test_the_telegram_simulator_is_for_development_only(
    tg_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = telegram_settings(tmp_path_factory)
    app = create_app(settings, engine=tg_engine, clock=CLOCK, configure_logs=False)
    production = settings.model_copy(update={"env": "production"})
    # the routes read the settings each request
    app.state.services = dataclasses.replace(app.state.services, settings=production)
    with TestClient(app) as client:
        assert client.get("/simulator/telegram").status_code == 404
        posted = client.post("/simulator/telegram/send", data={"user": "1", "body": "x"})
        assert posted.status_code == 404
