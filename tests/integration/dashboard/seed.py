"""A small, known population for the dashboard's figures: outbox messages over the last
weeks, a queue, answered waits, bills paid in terms or late, arrears of every age, and a
delivery alert. The expected figures are worked out by hand in test_dashboard.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session

from billing_core.clock import FixedClock
from billing_core.health.model import ProbeResult, ProbeStatus
from billing_core.health.policy import load_health_policy
from billing_core.health.service import record_delivery_tally, record_probe_results, watch_delivery
from billing_core.ledger.model import EntryKind
from billing_core.outbox.tables import OutboxMessage
from billing_core.staff.service import add_staff
from billing_core.transcripts.tables import Conversation, ConversationMessage
from tests.factories import make_account, make_bill, make_charge, make_customer, make_entry

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 on 26 November in Shanghai
ADMIN, PASSWORD = "dash-admin", "a-long-enough-password-for-tests"


def _message(session: Session, key: str, channel: str, status: str, at: datetime,
             not_before: datetime | None = None) -> None:  # fmt: skip
    session.add(
        OutboxMessage(
            dedupe_key=key, channel=channel, recipient="+8613800000000", template="test",
            language="en", body="hello", not_before=not_before or at, status=status,
            created_at=at,
        )
    )  # fmt: skip


def seed_dashboard(session: Session, *, clock: FixedClock | None = None) -> None:
    now = NOW
    clock = clock or FixedClock(now)
    # Messages: today (26 Nov local) 2 delivered SMS and 1 failed; yesterday a Telegram one
    # sent; 20 days ago one delivered (before the 14 days); a due SMS waiting 2 hours and one
    # not due until tomorrow.
    _message(session, "d1", "sms", "delivered", now - timedelta(hours=1))
    _message(session, "d2", "sms", "delivered", now - timedelta(minutes=5))
    _message(session, "d3", "sms", "failed", now - timedelta(minutes=30))
    _message(session, "d4", "telegram", "sent", now - timedelta(days=1))
    _message(session, "d5", "sms", "delivered", now - timedelta(days=20))
    _message(session, "p1", "sms", "pending", now - timedelta(hours=2))
    _message(session, "p2", "sms", "pending", now - timedelta(minutes=1), now + timedelta(days=1))

    # The queue: two conversations waiting 10 and 30 minutes; two past asks answered by a
    # person after 5 and 15 minutes.
    for index, waited in enumerate((10, 30)):
        session.add(
            Conversation(
                channel="sms", address=f"+861390000000{index}", language="zh-CN", state="queued",
                queued_at=now - timedelta(minutes=waited), created_at=now - timedelta(days=1),
                last_message_at=now - timedelta(minutes=waited),
            )
        )  # fmt: skip
    answered = Conversation(
        channel="telegram", address="5001", language="en", state="agent",
        agent_username=ADMIN, created_at=now - timedelta(days=3), last_message_at=now,
    )  # fmt: skip
    session.add(answered)
    session.flush()
    for asked, wait in ((now - timedelta(hours=1), 5), (now - timedelta(days=2), 15)):
        session.add(
            ConversationMessage(
                conversation_id=answered.id or 0, direction="in", author="customer",
                channel="telegram", body="人工", intent="agent", created_at=asked,
            )
        )  # fmt: skip
        session.add(
            ConversationMessage(
                conversation_id=answered.id or 0, direction="out", author="agent",
                channel="telegram", body="Hello, this is Li.", status="sent",
                agent_username=ADMIN, created_at=asked + timedelta(minutes=wait),
            )
        )  # fmt: skip

    # Bills and the ledger.
    def account(number: str):  # type: ignore[no-untyped-def]
        return make_account(session, customer=make_customer(session, at=now), number=number)

    def bill(acct, total: str, issued: date, due: date, status: str = "issued"):  # type: ignore[no-untyped-def]
        made = make_bill(
            session, account=acct, period_start=issued.replace(day=1) - timedelta(days=28),
            total=Decimal(total), due_date=due, at=now, status=status,
        )  # fmt: skip
        return made, make_charge(session, bill=made, on=issued, at=now)

    a = account("9100000001")  # paid in full before its due date
    bill(a, "100.00", date(2026, 9, 25), date(2026, 10, 10))
    make_entry(session, account=a, kind=EntryKind.payment.value, amount=Decimal("-100.00"),
               on=date(2026, 10, 5), at=now)  # fmt: skip
    b = account("9100000002")  # 20 paid after its due date: 30 open, 37 days late
    bill(b, "50.00", date(2026, 10, 5), date(2026, 10, 20))
    make_entry(session, account=b, kind=EntryKind.payment.value, amount=Decimal("-20.00"),
               on=date(2026, 10, 25), at=now)  # fmt: skip
    c = account("9100000003")  # unpaid, 16 days late, with a late fee on it
    c_bill, _ = bill(c, "80.00", date(2026, 10, 26), date(2026, 11, 10))
    make_entry(session, account=c, kind=EntryKind.late_fee.value, amount=Decimal("1.00"),
               on=date(2026, 11, 20), at=now, bill_id=c_bill.id)  # fmt: skip
    d = account("9100000004")  # not due yet
    bill(d, "60.00", date(2026, 11, 20), date(2026, 12, 5))
    e = account("9100000005")  # cancelled, its charge reversed: nothing open, not billed
    _, e_charge = bill(e, "40.00", date(2026, 6, 15), date(2026, 7, 1), status="cancelled")
    make_entry(session, account=e, kind=EntryKind.charge_reversal.value,
               amount=Decimal("-40.00"), on=date(2026, 6, 20), at=now,
               related_entry_id=e_charge.id)  # fmt: skip
    f = account("9100000006")  # unpaid for 117 days
    bill(f, "70.00", date(2026, 7, 15), date(2026, 8, 1))

    # Sends in the watch's window: 100 SMS, 10 failed (10 %): the watch raises an alert.
    record_delivery_tally(
        session=session, started_at=now - timedelta(minutes=6), ended_at=now - timedelta(minutes=5),
        tallies={"sms": (100, 10), "telegram": (30, 0)},
    )  # fmt: skip
    watch_delivery(session=session, clock=clock, policy=load_health_policy())
    record_probe_results(session=session, clock=clock, results=[
        ProbeResult("sms", "twilio", ProbeStatus.ok, 182.4, "account active"),
        ProbeResult("telegram", "telegram", ProbeStatus.ok, 95.0, "@wattdesk_bot"),
        ProbeResult("payments", "sandbox", ProbeStatus.ok, 0.0, "the sandbox answers"),
    ])  # fmt: skip
    add_staff(session=session, clock=clock, username=ADMIN, role="admin", password=PASSWORD,
              actor="test")  # fmt: skip
    session.flush()
