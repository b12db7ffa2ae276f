"""Where conversations change, a live event is published in the same transaction, on SQLite
and PostgreSQL: an SMS and the bot's answer, the hand-over to the queue, an agent's message,
and the delivery status the outbox records for it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from billing_core.clock import FixedClock
from billing_core.conversations.agents import send_agent_message, take_over
from billing_core.conversations.model import InboundMessage
from billing_core.conversations.service import conversation_context, receive_message
from billing_core.live import service as live
from billing_core.outbox.claims import claim_batch
from billing_core.outbox.dispatch import record_delivery_report, record_result
from billing_core.outbox.transport import Outcome, Report, SendResult
from billing_core.settings import Settings
from billing_core.transcripts.tables import ConversationMessage

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def test_each_change_publishes_its_event(session: Session, settings: Settings) -> None:
    clock = FixedClock(NOW)
    start = live.latest_id(session)
    inbound = InboundMessage("sms", "+8613800007070", "人工", "SM-live-1", NOW)
    outcome = receive_message(session=session, clock=clock, context=conversation_context(settings),
                              inbound=inbound)  # fmt: skip
    cid = outcome.conversation_id
    events = live.events_after(session, after_id=start)
    assert [e.kind for e in events] == ["message.in", "message.out", "conversation.state"]
    assert {e.conversation_id for e in events} == {cid}
    customer_line = session.get(ConversationMessage, events[0].payload["message_id"])
    assert customer_line is not None and customer_line.body == "人工"
    assert customer_line.direction == "in"
    bot_line = session.get(ConversationMessage, events[1].payload["message_id"])
    assert bot_line is not None and bot_line.author == "bot"
    assert events[1].payload["body"] == bot_line.body[: live.BODY_CHARS]
    assert events[2].payload == {"conversation_id": cid, "state": "queued", "agent": None}

    # a repeat of the same message changes nothing and publishes nothing
    receive_message(session=session, clock=clock, context=conversation_context(settings),
                    inbound=inbound)  # fmt: skip
    assert live.latest_id(session) == events[-1].id

    mark = live.latest_id(session)
    take_over(session=session, clock=clock, conversation_id=cid, agent="wang")
    line = send_agent_message(session=session, clock=clock, conversation_id=cid, agent="wang",
                              body="您好")  # fmt: skip
    events = live.events_after(session, after_id=mark)
    assert [e.kind for e in events] == ["conversation.state", "message.out"]
    assert events[0].payload["agent"] == "wang"
    assert events[1].payload == {
        "message_id": line.id, "author": "agent", "channel": "sms", "body": "您好",
        "state": "agent", "agent": "wang",
    }  # fmt: skip

    mark = live.latest_id(session)
    claimed = [
        c for c in claim_batch(session=session, clock=clock, limit=50, tz=settings.tz)
        if c.id == line.outbox_message_id
    ]  # fmt: skip
    assert claimed
    record_result(session=session, clock=clock, message=claimed[0],
                  result=SendResult(Outcome.sent, provider_id="SM-out-live"))  # fmt: skip
    record_delivery_report(session=session, clock=clock, provider_id="SM-out-live",
                           report=Report.delivered)  # fmt: skip
    events = live.events_after(session, after_id=mark)
    assert [(e.kind, e.payload["status"]) for e in events] == [
        ("message.status", "sent"),
        ("message.status", "delivered"),
    ]
    assert all(e.payload["message_id"] == line.id and e.conversation_id == cid for e in events)
