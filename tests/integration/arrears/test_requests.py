"""The conversation layer's `arrangement` and `dispute` intents open an arrangement request
and a dispute on the account, on SQLite and PostgreSQL: the account's arrears case stops at
once (its pending ladder message cancelled with the reason)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import Session

from billing_core.arrears.cases import ARRANGEMENT, CASE, DISPUTE, STEP
from billing_core.clock import FixedClock
from billing_core.conversations.service import conversation_context
from billing_core.dedupe_keys import arrears_message_key, arrears_purpose
from billing_core.outbox.model import outbox_row
from billing_core.outbox.service import OUTBOX
from billing_core.settings import Settings
from tests.integration.conversations.test_receive import NOW, Chat, customer_with_bill


@pytest.mark.parametrize(
    ("body", "kind", "table", "status", "reason"),
    [
        (
            "能不能晚点交，这个月手头紧",
            "arrangement",
            ARRANGEMENT,
            "requested",
            "arrangement_active",
        ),
        ("我觉得这个月电费算错了", "dispute", DISPUTE, "open", "dispute_open"),
    ],
)
def test_an_arrangement_or_a_dispute_in_a_conversation_stops_the_ladder(
    session: Session,
    settings: Settings,
    body: str,
    kind: str,
    table: object,
    status: str,
    reason: str,
) -> None:
    _, account = customer_with_bill(session, phone="+8613800003004")
    case_id = session.execute(
        CASE.insert()
        .values(account_id=account.id, status="open", stage="overdue_notice", ladder="standard",
                oldest_due=NOW.date(), amount_owed="1234.56", opened_at=NOW, closed_reason="")
        .returning(CASE.c.id)
    ).scalar_one()  # fmt: skip
    key = arrears_message_key(case_id, "second_reminder_with_arrangement_offer")
    session.execute(OUTBOX.insert().values(dict(zip(
        ("dedupe_key", "account_id", "customer_id", "channel", "recipient", "template", "language",
         "body", "segments", "kind", "purpose", "priority", "not_before", "status", "attempts",
         "error_detail", "cancelled_reason", "created_at", "payload"),
        outbox_row(dedupe_key=key, channel="sms", recipient="+8613800003004",
                   template="arrears_arrangement_offer", language="zh-CN", body="…", segments=1,
                   kind="automated", purpose=arrears_purpose(case_id), not_before=NOW,
                   created_at=NOW), strict=True))))  # fmt: skip
    chat = Chat(session, FixedClock(NOW), conversation_context(settings), "+8613800003004")
    assert chat.send(body).intent == kind
    opened = session.execute(select(table).where(table.c.account_id == account.id)).one()  # type: ignore[attr-defined]
    assert opened.status == status and opened.case_id == case_id
    stop = session.execute(select(STEP).where(STEP.c.case_id == case_id)).one()
    assert (stop.step, stop.taken, stop.reason) == ("stop", True, reason)
    message = session.execute(select(OUTBOX).where(OUTBOX.c.dedupe_key == key)).one()
    assert message.status == "cancelled" and "The ladder stops" in message.cancelled_reason
