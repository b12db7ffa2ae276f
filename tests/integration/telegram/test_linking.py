"""Linking a chat to accounts, identity before data: a shared contact links only when it is
the sender's own phone and a customer's verified number; otherwise the account number and a
one-time code sent by SMS to the phone on file. /unlink; a chat on several accounts chooses."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from billing_core.audit.tables import AuditEntry
from billing_core.customers.tables import Contact
from billing_core.db import session_scope
from billing_core.outbox.tables import OutboxMessage
from tests.integration.telegram.conftest import (
    answer,
    button_update,
    contact_update,
    link,
    message_update,
    new_customer,
    new_user_id,
    press,
)


def telegram_contacts(engine: Engine, user_id: int) -> list[Contact]:
    with session_scope(engine) as session:
        contacts = session.scalars(
            select(Contact).where(
                col(Contact.channel) == "telegram", col(Contact.address) == str(user_id)
            )
        ).all()
        session.expunge_all()
        return list(contacts)


def audit_actions(engine: Engine, user_id: int) -> list[str]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(col(AuditEntry.action))
                .where(col(AuditEntry.actor) == f"telegram:{user_id}")
                .order_by(col(AuditEntry.id))
            )
        )


def test_start_asks_an_unlinked_chat_to_share_its_phone(client: TestClient) -> None:
    welcome = answer(client, message_update(new_user_id(), "/start"))
    assert welcome.sent and welcome.asks_for_phone
    assert "LINK" in welcome.text


def test_sharing_ones_own_verified_phone_links_the_chat(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    linked = link(client, user_id, someone)

    [contact] = telegram_contacts(tg_engine, user_id)
    assert contact.customer_id == someone.customer_id and contact.verified
    assert audit_actions(tg_engine, user_id) == ["contact.add"]
    assert {"BILL", "PAY", "USAGE", "HISTORY", "SETTINGS"} <= set(linked.commands())
    assert "123.45" in answer(client, button_update(user_id, press("BILL"))).text


def test_a_phone_written_with_a_plus_links_too(client: TestClient, tg_engine: Engine) -> None:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    answer(client, contact_update(user_id, someone.phone, owner=user_id))
    assert [c.verified for c in telegram_contacts(tg_engine, user_id)] == [True]


def test_someone_elses_contact_links_nothing(client: TestClient, tg_engine: Engine) -> None:
    """A contact picked from the address book: its user id is not the sender's, or absent."""
    someone = new_customer(tg_engine)
    for owner in (new_user_id(), None):
        user_id = new_user_id()
        refused = answer(client, contact_update(user_id, someone.phone.lstrip("+"), owner=owner))
        assert refused.sent and refused.asks_for_phone
        assert someone.accounts[0] not in refused.everything()
        assert telegram_contacts(tg_engine, user_id) == []
        assert "123.45" not in answer(client, message_update(user_id, "/bill")).everything()


def test_an_unverified_or_unknown_phone_links_nothing(
    client: TestClient, tg_engine: Engine
) -> None:
    unverified = new_customer(tg_engine, verified=False)
    for phone in (unverified.phone, "+8613912345678", "12", "not a phone"):
        user_id = new_user_id()
        refused = answer(client, contact_update(user_id, phone.lstrip("+"), owner=user_id))
        assert refused.sent and refused.asks_for_phone
        assert unverified.accounts[0] not in refused.everything()
        assert telegram_contacts(tg_engine, user_id) == []


def _code_sent_to(engine: Engine, phone: str) -> str:
    with session_scope(engine) as session:
        body = session.scalars(
            select(col(OutboxMessage.body))
            .where(col(OutboxMessage.recipient) == phone, col(OutboxMessage.channel) == "sms",
                   col(OutboxMessage.template) == "link_code")
            .order_by(col(OutboxMessage.id).desc())
        ).first()  # fmt: skip
    assert body is not None
    found = re.search(r"(?<!\d)\d{6}(?!\d)", body)
    assert found is not None, body
    return found.group(0)


def test_the_account_number_and_a_code_by_sms_link_the_chat(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    sent = answer(client, message_update(user_id, f"LINK {someone.accounts[0]}"))
    assert sent.sent and "123.45" not in sent.everything()
    assert telegram_contacts(tg_engine, user_id) == []
    code = _code_sent_to(tg_engine, someone.phone)

    wrong = answer(client, message_update(user_id, "000000" if code != "000000" else "111111"))
    assert telegram_contacts(tg_engine, user_id) == [] and "123.45" not in wrong.everything()
    answer(client, message_update(user_id, code))
    assert [c.verified for c in telegram_contacts(tg_engine, user_id)] == [True]
    assert "123.45" in answer(client, button_update(user_id, press("BILL"))).text


def test_unlink_removes_the_link_and_every_account_with_it(
    client: TestClient, tg_engine: Engine
) -> None:
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    link(client, user_id, someone)
    unlinked = answer(client, message_update(user_id, "/unlink"))

    assert unlinked.sent and unlinked.asks_for_phone
    assert [c.verified for c in telegram_contacts(tg_engine, user_id)] == [False]
    assert audit_actions(tg_engine, user_id) == ["contact.add", "contact.unlink"]
    after = answer(client, button_update(user_id, press("BILL")))
    assert "123.45" not in after.everything() and someone.accounts[0] not in after.everything()
    # Linking again works, and is audited again.
    link(client, user_id, someone)
    assert audit_actions(tg_engine, user_id)[-1] == "contact.verify"


def test_a_chat_on_several_accounts_chooses_one(client: TestClient, tg_engine: Engine) -> None:
    someone = new_customer(tg_engine, accounts=2)
    first, second = someone.accounts
    user_id = new_user_id()
    linked = answer(client, contact_update(user_id, someone.phone, owner=user_id))
    assert linked.sent and "ACCOUNT 0" in linked.commands()  # the menu offers the switch
    assert first[-4:] in linked.text  # it works on the first account until told

    choose = answer(client, button_update(user_id, press("ACCOUNT 0")))
    assert choose.commands()[:2] == ["ACCOUNT 1", "ACCOUNT 2"]
    menu = answer(client, button_update(user_id, press("ACCOUNT 2")))
    assert second[-4:] in menu.text
    bill = answer(client, button_update(user_id, press("BILL")))
    assert second in bill.text and first not in bill.text
    assert second in answer(client, button_update(user_id, press("BILL 2"))).text
    assert first in answer(client, button_update(user_id, press("BILL 1"))).text


def telegram_contact(user_id: int) -> Any:
    return select(Contact).where(
        col(Contact.channel) == "telegram", col(Contact.address) == str(user_id)
    )


def test_a_user_who_blocked_the_bot_and_writes_again_is_reachable_again(
    client: TestClient, tg_engine: Engine
) -> None:
    """The transport marks a chat unreachable on "bot was blocked by the user"; the user's
    next message says otherwise, and notices go to the chat again."""
    someone = new_customer(tg_engine)
    user_id = new_user_id()
    link(client, user_id, someone)
    with session_scope(tg_engine) as session:
        contact = session.scalars(telegram_contact(user_id)).one()
        contact.unreachable_at = contact.verified_at
        contact.unreachable_reason = "Forbidden: bot was blocked by the user"

    assert answer(client, message_update(user_id, "/bill")).sent

    with session_scope(tg_engine) as session:
        contact = session.scalars(telegram_contact(user_id)).one()
        assert contact.unreachable_at is None and contact.unreachable_reason is None
