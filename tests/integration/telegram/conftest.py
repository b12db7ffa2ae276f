"""The Telegram tests' fixtures. The webhook's: the real app on SQLite and PostgreSQL, Update
JSON posted as Telegram posts it (with the secret token), and the data a chat may or may not
see. The transport's: the fake Telegram Bot API on loopback, the real transport (aiogram)
pointed at it, and the fake Twilio API for the SMS a message falls back to."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import col

from api.app import create_app
from bench.fakes.telegram_api import TOKEN as FAKE_API_TOKEN
from bench.fakes.telegram_api import FakeTelegramApi
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import Settings, load_settings
from billing_core.transcripts.tables import Conversation, ConversationMessage
from bot.transport import TelegramTransport
from bot.webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.conftest import migrated_database
from tests.factories import (
    make_account,
    make_bill,
    make_charge,
    make_contact,
    make_customer,
    make_meter,
    make_reading,
    make_tariff_assignment,
)
from tests.integration.outbox.helpers import fake_twilio, twilio

CLOCK = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # 10:00 in Asia/Shanghai
TOKEN = "123456:TEST-bot-token"
SECRET = "s3cret-" + "x" * 32
# Nothing listens on the discard port: the best-effort answers to button presses fail at once.
CLOSED_API = "http://127.0.0.1:9"
PAY_URL = re.compile(r"^http://127\.0\.0\.1:8000/p/[A-Za-z0-9_-]{22,}$")
DUE = Decimal("123.45")
EARLIER = Decimal("50.00")

_update_ids = itertools.count(random.randrange(10**8, 10**9))


def next_update_id() -> int:
    return next(_update_ids)


def new_user_id() -> int:
    return random.randrange(10**9, 2 * 10**9)


def telegram_settings(tmp_path_factory: pytest.TempPathFactory, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": SECRET,
        "telegram_api_base": CLOSED_API,
        **overrides,
    }
    return load_settings(data_dir=tmp_path_factory.mktemp("tg"), _env_file=None, **values)


@pytest.fixture(scope="module")
def tg_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("tg-db")) as engine:
        yield engine


@pytest.fixture(scope="module")
def client(tg_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(
        telegram_settings(tmp_path_factory), engine=tg_engine, clock=CLOCK, configure_logs=False
    )
    with TestClient(app) as test_client:
        yield test_client


# --- customers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Someone:
    customer_id: int
    phone: str  # E.164, a verified SMS contact
    accounts: tuple[str, ...]  # account numbers


def new_customer(
    engine: Engine,
    *,
    accounts: int = 1,
    months: int = 1,
    language: str = "zh-CN",
    verified: bool = True,
    household_size: int = 1,
    meter_reading: Decimal | None = None,
) -> Someone:
    """A customer with a phone on file (verified unless told) and `accounts` accounts on the
    Beijing tariff, each with `months` monthly bills whose charges are posted, none paid: the
    latest is DUE, due 2026-12-05; each earlier one EARLIER, past due. With `meter_reading`,
    the first account has a meter read that much 30 days ago."""
    at = CLOCK.now() - timedelta(days=400)
    with session_scope(engine) as session:
        customer = make_customer(session, at=at, language=language, household_size=household_size)
        phone = f"+86137{random.randrange(10**8):08d}"
        make_contact(session, customer=customer, at=at, address=phone, verified=verified)
        numbers = []
        for _ in range(accounts):
            account = make_account(session, customer=customer)
            make_tariff_assignment(session, account=account, tariff_code="beijing-residential",
                                   effective_from=date(2024, 1, 1))  # fmt: skip
            numbers.append(account.number)
            if meter_reading is not None and len(numbers) == 1:
                meter = make_meter(session, account=account)
                make_reading(session, meter=meter, read_at=CLOCK.now() - timedelta(days=30),
                             total=meter_reading)  # fmt: skip
            for back in range(months, 0, -1):
                start = date(2026, 11, 10) - timedelta(days=30 * back)
                bill = make_bill(
                    session, account=account, period_start=start,
                    period_end=start + timedelta(days=30), total=DUE if back == 1 else EARLIER,
                    due_date=date(2026, 12, 5) if back == 1 else start + timedelta(days=45),
                    at=at, kwh=Decimal(150 + 20 * back),
                )  # fmt: skip
                make_charge(session, bill=bill, on=start + timedelta(days=31), at=at)
        assert customer.id is not None
        return Someone(customer.id, phone, tuple(numbers))


# --- updates as Telegram sends them --------------------------------------------------------


def _user(user_id: int, language: str = "zh-hans") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Test", "language_code": language}


def _chat(user_id: int, kind: str = "private") -> dict[str, Any]:
    return {"id": user_id, "type": kind, "first_name": "Test"}


def message_update(
    user_id: int,
    text: str | None = None,
    *,
    update_id: int | None = None,
    contact: dict[str, Any] | None = None,
    chat_type: str = "private",
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": random.randrange(1, 10**6), "date": int(CLOCK.now().timestamp()),
        "chat": _chat(user_id if chat_type == "private" else -user_id, chat_type),
        "from": _user(user_id),
    }  # fmt: skip
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    if contact is not None:
        message["contact"] = contact
    return {"update_id": update_id or next_update_id(), "message": message}


def contact_update(user_id: int, phone: str, *, owner: int | None) -> dict[str, Any]:
    """A shared contact: `owner` is the contact's Telegram user id (the sender's own when it
    comes from the share-my-phone button; None for an address-book entry)."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Test"}
    if owner is not None:
        contact["user_id"] = owner
    return message_update(user_id, contact=contact)


def button_update(user_id: int, data: str, *, update_id: int | None = None) -> dict[str, Any]:
    return {
        "update_id": update_id or next_update_id(),
        "callback_query": {
            "id": str(random.randrange(10**12)), "from": _user(user_id), "chat_instance": "1",
            "data": data,
            "message": {"message_id": 1, "date": int(CLOCK.now().timestamp()),
                        "chat": _chat(user_id), "from": {"id": 123456, "is_bot": True,
                                                         "first_name": "wattdesk"},
                        "text": "menu"},
        },
    }  # fmt: skip


def press(command: str) -> str:
    """The callback data of our button for a command ("BILL 2" -> "c:BILL:2")."""
    word, _, arg = command.partition(" ")
    return f"c:{word}:{arg}"


def post(
    client: TestClient, update: dict[str, Any], *, secret: str | None = SECRET
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return client.post(WEBHOOK_PATH, json=update, headers=headers)


@dataclass(frozen=True)
class Answer:
    """The webhook's inline answer: a sendMessage, or nothing."""

    body: dict[str, Any]

    @property
    def sent(self) -> bool:
        return self.body.get("method") == "sendMessage"

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.body.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [button for row in rows for button in row]

    def url_buttons(self) -> list[str]:
        return [b["url"] for b in self.buttons if "url" in b]

    def commands(self) -> list[str]:
        """The callback buttons' commands ("BILL", "NOTIFY 1")."""
        found = []
        for button in self.buttons:
            if "callback_data" in button:
                _, word, arg = button["callback_data"].split(":")
                found.append(f"{word} {arg}".strip())
        return found

    @property
    def asks_for_phone(self) -> bool:
        return any(b.get("request_contact") for b in self.buttons)

    def everything(self) -> str:
        """All a customer would see: the text and every button's words, URL and data."""
        return repr(self.body)


def answer(client: TestClient, update: dict[str, Any]) -> Answer:
    response = post(client, update)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if body:
        event = update.get("message") or update["callback_query"]["message"]
        assert body["chat_id"] == event["chat"]["id"]
    return Answer(body)


def link(client: TestClient, user_id: int, someone: Someone) -> Answer:
    """Link the chat by sharing the user's own phone (as Telegram writes it: no +)."""
    linked = answer(client, contact_update(user_id, someone.phone.lstrip("+"), owner=user_id))
    assert linked.sent and someone.accounts[0][-4:] in linked.text, linked.body
    return linked


# --- what is stored ------------------------------------------------------------------------


def stored_for(engine: Engine, update_id: int) -> int:
    with session_scope(engine) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(ConversationMessage).where(
                    col(ConversationMessage.channel) == "telegram",
                    col(ConversationMessage.provider_message_id) == str(update_id),
                )
            ) or 0
        )  # fmt: skip


def transcript(engine: Engine, user_id: int) -> list[tuple[str, str, str]]:
    """The chat's conversation, oldest first: (direction, author, body)."""
    with session_scope(engine) as session:
        conversation = session.scalars(
            select(Conversation).where(
                col(Conversation.channel) == "telegram", col(Conversation.address) == str(user_id)
            )
        ).first()
        if conversation is None:
            return []
        rows = session.scalars(
            select(ConversationMessage)
            .where(col(ConversationMessage.conversation_id) == conversation.id)
            .order_by(col(ConversationMessage.id))
        ).all()
        return [(row.direction, row.author, row.body) for row in rows]


# --- the transport -----------------------------------------------------------------------

__all__ = ["fake_telegram", "fake_twilio", "telegram", "twilio"]


def draw(chart: dict[str, Any]) -> bytes:
    """A stand-in for the usage chart's renderer: bytes that name what was asked for."""
    return b"\x89PNG\r\n\x1a\n" + json.dumps(chart, sort_keys=True).encode()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegramApi]:
    fake = FakeTelegramApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram(fake_telegram: FakeTelegramApi) -> Iterator[TelegramTransport]:
    transport = TelegramTransport(
        token=FAKE_API_TOKEN, api_base=fake_telegram.url, render_chart=draw
    )
    yield transport
    transport.close()
