"""The menus from a linked chat (my bill with its pay-link button, pay, the language, a
person, free text through the SMS recogniser), and that an unlinked chat gets no account's
data from any of them."""

from __future__ import annotations

import json
from datetime import time
from decimal import Decimal
from io import BytesIO

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlmodel import col

from billing_core.audit.tables import AuditEntry
from billing_core.customers.tables import Account, Contact
from billing_core.db import session_scope
from billing_core.outbox.tables import OutboxMessage
from billing_core.readings.tables import Meter, MeterReading
from billing_core.transcripts.tables import Conversation
from bot.chart import render_chart
from tests.integration.telegram.conftest import (
    PAY_URL,
    Someone,
    answer,
    button_update,
    link,
    message_update,
    new_customer,
    new_user_id,
    press,
)


@pytest.fixture
def linked(client: TestClient, tg_engine: Engine) -> tuple[int, Someone]:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    link(client, user_id, someone)
    return user_id, someone


def test_my_bill_shows_the_amount_due_and_a_pay_link_button(
    client: TestClient, linked: tuple[int, Someone]
) -> None:
    user_id, someone = linked
    bill = answer(client, button_update(user_id, press("BILL")))

    assert bill.sent
    assert someone.accounts[0] in bill.text and "123.45" in bill.text
    assert "170度" in bill.text and "待缴" in bill.text  # its kWh and its standing
    [url] = bill.url_buttons()
    assert PAY_URL.match(url), url
    assert url not in bill.text  # the link is a button, not words
    page = client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200 and someone.accounts[0] in page.text
    assert "MENU" in bill.commands()


def test_the_bill_command_and_free_text_answer_the_same(
    client: TestClient, linked: tuple[int, Someone]
) -> None:
    user_id, _ = linked
    for update in (message_update(user_id, "/bill"), message_update(user_id, "电费多少")):
        reply = answer(client, update)
        assert "123.45" in reply.text and len(reply.url_buttons()) == 1, reply.body


def test_pay_is_a_button_to_the_pay_link(client: TestClient, linked: tuple[int, Someone]) -> None:
    user_id, _ = linked
    pay = answer(client, button_update(user_id, press("PAY")))
    assert "123.45" in pay.text
    [url] = pay.url_buttons()
    assert PAY_URL.match(url)


def test_language_choice_changes_the_customers_language(
    client: TestClient, tg_engine: Engine, linked: tuple[int, Someone]
) -> None:
    user_id, _ = linked
    choose = answer(client, button_update(user_id, press("LANG")))
    assert set(choose.commands()) >= {"LANG EN", "LANG ZH"}
    english = answer(client, button_update(user_id, press("LANG EN")))
    assert "English" in english.text
    menu = answer(client, button_update(user_id, press("MENU")))
    assert "My bill" in menu.everything()
    bill = answer(client, button_update(user_id, press("BILL")))
    assert "Pay" in bill.everything() and "status" in bill.text
    answer(client, button_update(user_id, press("LANG ZH")))
    assert "我的账单" in answer(client, button_update(user_id, press("MENU"))).everything()


def test_a_person_is_the_same_queue_as_sms(
    client: TestClient, tg_engine: Engine, linked: tuple[int, Someone]
) -> None:
    user_id, _ = linked
    queued = answer(client, button_update(user_id, press("AGENT")))
    assert queued.sent
    with session_scope(tg_engine) as session:
        state = session.scalar(
            select(col(Conversation.state)).where(
                col(Conversation.channel) == "telegram", col(Conversation.address) == str(user_id)
            )
        )
    assert state == "queued"
    # Still answered while waiting: the buttons are the customer's own.
    assert "123.45" in answer(client, button_update(user_id, press("BILL"))).text


def test_an_unknown_or_forged_button_gets_the_menu(
    client: TestClient, linked: tuple[int, Someone]
) -> None:
    user_id, _ = linked
    for data in ("c:DROP TABLE:", "garbage", "c:BILL:99", "c:NOTIFY:x"):
        reply = answer(client, button_update(user_id, data))
        assert reply.sent, data


# --- an unlinked chat ------------------------------------------------------------------------

EVERY_BUTTON = ("BILL", "BILL 1", "PAY", "USAGE", "USAGE 1", "HISTORY", "HISTORY 1", "READ",
                "SETTINGS", "NOTIFY 1", "HOURS 9-20", "ACCOUNT 1", "ACCOUNT 0", "MENU",
                "WELCOME", "LANG EN", "AGENT")  # fmt: skip
EVERY_TEXT = ("/start", "/bill", "/pay", "/usage", "/history", "/reading", "/settings", "/menu",
              "bill", "账单", "电费多少", "PAY", "USAGE", "读数 12345", "1", "BILL 1")  # fmt: skip


def _state(engine: Engine, customer_id: int) -> tuple[object, ...]:
    """What an unlinked chat might change or cause: the customer's contacts, audit entries,
    and messages for the customer's accounts."""
    with session_scope(engine) as session:
        contacts = session.execute(
            select(Contact.notify, Contact.allowed_from, Contact.allowed_until)
            .where(col(Contact.customer_id) == customer_id)
        ).all()  # fmt: skip
        messages = session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(col(OutboxMessage.customer_id) == customer_id)
        )  # fmt: skip
        audits = session.scalar(select(func.count()).select_from(AuditEntry))
        return (tuple(contacts), messages, audits)


def test_an_unlinked_chat_gets_no_account_data_from_any_menu(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine, months=3)
    before = _state(tg_engine, someone.customer_id)
    user_id = new_user_id()
    updates = [button_update(user_id, press(command)) for command in EVERY_BUTTON]
    updates += [message_update(user_id, text) for text in EVERY_TEXT]
    for update in updates:
        reply = answer(client, update)
        seen = reply.everything()
        for secret in ("123.45", "50.00", "/p/", someone.accounts[0], someone.phone[-4:]):
            assert secret not in seen, (update, reply.body)
        assert not reply.url_buttons()
    with session_scope(tg_engine) as session:
        charts = session.scalar(
            select(func.count()).select_from(OutboxMessage)
            .where(col(OutboxMessage.recipient) == str(user_id))
        )  # fmt: skip
    assert charts == 0
    assert _state(tg_engine, someone.customer_id)[:2] == before[:2]


# --- history, usage, readings, settings ------------------------------------------------------


def test_history_lists_the_last_bills_with_their_standing(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine, months=3)
    user_id = new_user_id()
    link(client, user_id, someone)
    history = answer(client, button_update(user_id, press("HISTORY")))
    lines = history.text.split("\n")[1:]
    assert len(lines) == 3, history.text
    assert "123.45" in lines[0] and "待缴" in lines[0]  # the latest first
    assert all("50.00" in line and "已逾期" in line for line in lines[1:])


def _charts(engine: Engine, user_id: int) -> list[OutboxMessage]:
    with session_scope(engine) as session:
        rows = session.scalars(
            select(OutboxMessage).where(
                col(OutboxMessage.channel) == "telegram",
                col(OutboxMessage.recipient) == str(user_id),
            )
        ).all()
        session.expunge_all()
        return list(rows)


def test_usage_sends_the_chart_through_the_outbox_and_says_so(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine, months=14)
    user_id = new_user_id()
    link(client, user_id, someone)
    update = button_update(user_id, press("USAGE"))
    said = answer(client, update)
    answer(client, update)  # Telegram redelivers it: still one photo

    assert said.sent and "12" in said.text and "170度" in said.text  # the latest period
    [row] = _charts(tg_engine, user_id)
    assert row.kind == "reply" and row.status == "pending" and row.body
    chart = json.loads(row.payload or "")["chart"]
    assert len(chart["periods"]) == len(chart["kwh"]) == 12
    assert chart["limits"] == ["240", "400"]  # the Beijing tariff's monthly blocks
    assert Decimal(chart["kwh"][-1]) == 170
    assert Image.open(BytesIO(render_chart(chart))).format == "PNG"


def test_a_meter_reading_is_stored_as_the_customers_and_the_next_step_told(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine, meter_reading=Decimal("12000"))
    user_id = new_user_id()
    link(client, user_id, someone)
    how = answer(client, button_update(user_id, press("READ")))
    assert "12345" in how.text  # the example to follow
    told = answer(client, message_update(user_id, "读数 12150"))
    assert "12150" in told.text and ("下次出账" in told.text or "核实" in told.text), told.text
    with session_scope(tg_engine) as session:
        stored = session.scalars(
            select(col(MeterReading.total))
            .join(Meter, col(Meter.id) == col(MeterReading.meter_id))
            .join(Account, col(Account.id) == col(Meter.account_id))
            .where(col(Account.number) == someone.accounts[0],
                   col(MeterReading.source) == "customer")
        ).all()  # fmt: skip
    assert stored == [Decimal("12150")]


def _contacts(engine: Engine, customer_id: int) -> list[tuple[str, bool, time, time]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Contact.channel, Contact.notify, Contact.allowed_from, Contact.allowed_until)
            .where(col(Contact.customer_id) == customer_id)
            .order_by(col(Contact.id))
        ).all()  # fmt: skip
    return [(c, n, f, u) for c, n, f, u in rows]


def test_notification_settings_turn_a_channel_off_and_set_the_hours(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    link(client, user_id, someone)
    settings = answer(client, button_update(user_id, press("SETTINGS")))
    assert "短信" in settings.text and "08:00-21:00" in settings.text
    assert {"NOTIFY 1", "NOTIFY 2", "HOURS 9-20", "HOURS 0-0", "LANG", "UNLINK"} <= set(
        settings.commands()
    )
    assert "HOURS 8-21" not in settings.commands()  # the hours in force

    off = answer(client, button_update(user_id, press("NOTIFY 1")))
    assert "已保存" in off.text
    hours = answer(client, button_update(user_id, press("HOURS 9-20")))
    assert "09:00-20:00" in hours.text

    assert _contacts(tg_engine, someone.customer_id) == [
        ("sms", False, time(9), time(20)),
        ("telegram", True, time(9), time(20)),
    ]
    with session_scope(tg_engine) as session:
        actions = session.scalars(
            select(col(AuditEntry.action)).where(col(AuditEntry.actor) == f"telegram:{user_id}")
        ).all()
    assert sorted(actions) == ["contact.add", "contact.hours", "contact.hours", "contact.notify"]
    # Pressed again, the same button turns it back on.
    answer(client, button_update(user_id, press("NOTIFY 1")))
    assert _contacts(tg_engine, someone.customer_id)[0][1] is True
