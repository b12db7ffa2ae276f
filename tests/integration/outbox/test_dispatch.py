"""The outbox dispatcher on SQLite and PostgreSQL, sending with the real twilio client to a fake
Twilio API on loopback: provider ids, retries, permanent failures, opt-outs, quiet hours,
crashes, and concurrent dispatchers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from bench.fakes.twilio_api import FakeTwilioApi
from billing_core.clock import FixedClock
from billing_core.customers.tables import Contact
from billing_core.db import session_scope
from billing_core.events.service import bill_issued_event, record_events
from billing_core.notices.service import bill_notice_key, enqueue_bill_notices
from billing_core.outbox.claims import LEASE, OPTED_OUT_REASON, claim_batch
from billing_core.outbox.retry import RetryPolicy
from billing_core.outbox.service import REPLY
from billing_core.outbox.tables import OptOut, OutboxMessage
from billing_core.payments.service import PaymentContext
from billing_core.transcripts.tables import Conversation, ConversationMessage
from scheduler.dispatcher import Dispatcher
from sms.transport import TwilioTransport
from tests.factories import make_account, make_bill, make_contact, make_customer
from tests.integration.outbox.helpers import CALLBACK, FROM, SHANGHAI, dispatch, put, row


def test_sent_message_stores_the_twilio_message_sid(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    put(session, clock, "+8613600000001", "t:sent", kind=REPLY, body="您的电费已出账")
    assert dispatch(session, clock, twilio) == ["sent"]
    message = row(session, "t:sent")
    [received] = fake_twilio.sent_to("+8613600000001")
    assert message.provider_id == received.sid and received.sid.startswith("SM")
    assert message.status == "sent" and message.attempts == 1 and message.sent_at == clock.now()
    assert received.body == "您的电费已出账"
    assert received.params["From"] == FROM and received.params["StatusCallback"] == CALLBACK


@pytest.mark.parametrize(("status", "code"), [(500, None), (503, None), (429, 20429), (400, 30003)])
def test_transient_failure_is_retried_later_with_backoff_then_sent(
    session: Session,
    clock: FixedClock,
    twilio: TwilioTransport,
    fake_twilio: FakeTwilioApi,
    status: int,
    code: int | None,
) -> None:
    to = f"+86139{status:03d}{code or 0:05d}"
    fake_twilio.fail_next(to, status, code)
    put(session, clock, to, f"t:transient:{status}:{code}", kind=REPLY)
    assert dispatch(session, clock, twilio) == ["pending"]
    message = row(session, f"t:transient:{status}:{code}")
    assert message.error_code == str(code or status)
    assert message.next_attempt_at == clock.now() + timedelta(seconds=30)  # base, no jitter
    assert dispatch(session, clock, twilio) == []  # not before its retry time
    clock.advance(timedelta(seconds=30))
    assert dispatch(session, clock, twilio) == ["sent"]
    message = row(session, f"t:transient:{status}:{code}")
    assert message.attempts == 2 and message.provider_id
    assert len(fake_twilio.sent_to(to)) == 1


def test_backoff_grows_and_gives_up_after_max_attempts(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    to = "+8613900000777"
    fake_twilio.fail_next(to, 500, times=3)
    put(session, clock, to, "t:giveup", kind=REPLY)
    retry = RetryPolicy(max_attempts=3)
    waits = []
    for _ in range(3):
        dispatch(session, clock, twilio, retry=retry)
        message = row(session, "t:giveup")
        if message.next_attempt_at:
            waits.append(message.next_attempt_at - clock.now())
            clock.current = message.next_attempt_at
    assert waits == [timedelta(seconds=30), timedelta(seconds=60)]
    assert message.status == "failed" and message.attempts == 3 and message.error_code == "500"


def test_permanent_failure_is_recorded_with_its_code(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    fake_twilio.fail_next("+8613900000211", 400, 21211)
    put(session, clock, "+8613900000211", "t:invalid", kind=REPLY)
    assert dispatch(session, clock, twilio) == ["failed"]
    message = row(session, "t:invalid")
    assert message.error_code == "21211" and "not a valid phone number" in message.error_detail
    clock.advance(timedelta(hours=1))
    assert dispatch(session, clock, twilio) == []


def test_twilio_21610_fails_the_message_and_opts_the_number_out(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    customer = make_customer(session, at=clock.now())
    contact = make_contact(session, customer=customer, at=clock.now())
    fake_twilio.fail_next(contact.address, 400, 21610)
    put(session, clock, contact.address, "t:21610", customer_id=customer.id)
    assert dispatch(session, clock, twilio) == ["failed"]
    assert row(session, "t:21610").error_code == "21610"
    opt_out = session.exec(select(OptOut).where(col(OptOut.address) == contact.address)).one()
    assert opt_out.source == "provider 21610"
    session.refresh(contact)
    assert contact.opted_out and contact.opted_out_at == clock.now()
    put(session, clock, contact.address, "t:21610:next", customer_id=customer.id)
    assert dispatch(session, clock, twilio) == []
    assert row(session, "t:21610:next").cancelled_reason == OPTED_OUT_REASON
    assert fake_twilio.sent_to(contact.address) == []


def test_message_to_an_opted_out_number_is_cancelled_with_the_reason(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    session.add(
        OptOut(channel="sms", address="+8613900000100", source="keyword", created_at=clock.now())
    )
    put(session, clock, "+8613900000100", "t:optout:notice")
    put(session, clock, "+8613900000100", "t:optout:reply", kind=REPLY)
    assert dispatch(session, clock, twilio) == []
    for key in ("t:optout:notice", "t:optout:reply"):
        message = row(session, key)
        assert (message.status, message.cancelled_reason) == ("cancelled", OPTED_OUT_REASON)
        assert message.attempts == 0
    assert fake_twilio.sent_to("+8613900000100") == []


def _stop(session: Session, contact: Contact, at: datetime) -> None:
    """What the conversation layer does on STOP."""
    session.add(OptOut(channel="sms", address=contact.address, source="keyword", created_at=at))
    contact.opted_out, contact.opted_out_at = True, at
    session.add(contact)
    session.flush()


def _start(session: Session, contact: Contact) -> None:
    session.execute(delete(OptOut).where(col(OptOut.address) == contact.address))
    contact.opted_out, contact.opted_out_at = False, None
    session.add(contact)
    session.flush()


def test_stop_then_bill_notice_is_not_sent_with_the_reason_and_start_sends_again(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    context = PaymentContext(
        tz=SHANGHAI, currency="CNY", public_base_url="https://d.example", secret_key="k"
    )
    customer = make_customer(session, at=clock.now(), language="en")
    account = make_account(session, customer=customer)
    contact = make_contact(session, customer=customer, at=clock.now())

    def issue(month: int) -> int:
        bill = make_bill(
            session,
            account=account,
            period_start=date(2026, month, 1),
            total=Decimal("88.00"),
            due_date=date(2026, 12, 20),
            at=clock.now(),
        )
        assert bill.id is not None
        record_events(
            session=session,
            clock=clock,
            events=[
                bill_issued_event(
                    bill_id=bill.id,
                    account_id=account.id or 0,
                    total=bill.total,
                    currency="CNY",
                    due_date=date(2026, 12, 20),
                    period_start=bill.period_start,
                    period_end=bill.period_end,
                )
            ],
        )
        enqueue_bill_notices(session=session, clock=clock, tz=SHANGHAI, payments_context=context)
        return bill.id

    # A notice waiting in the outbox when STOP arrives is cancelled when its turn comes.
    waiting = issue(8)
    _stop(session, contact, clock.now())
    # A notice for a bill issued after STOP is recorded, not sent.
    after_stop = issue(9)
    assert dispatch(session, clock, twilio) == []
    for bill_id in (waiting, after_stop):
        notice = row(session, bill_notice_key(bill_id))
        assert (notice.status, notice.cancelled_reason) == ("cancelled", OPTED_OUT_REASON)
    assert fake_twilio.sent_to(contact.address) == []

    _start(session, contact)
    after_start = issue(10)
    assert dispatch(session, clock, twilio) == ["sent"]
    [received] = fake_twilio.sent_to(contact.address)
    assert row(session, bill_notice_key(after_start)).provider_id == received.sid
    assert "88.00" in received.body and "/p/" in received.body


def test_automated_message_at_23_local_waits_until_08_and_a_reply_goes_at_once(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    clock.current = datetime(2026, 11, 26, 23, 0, tzinfo=SHANGHAI).astimezone(UTC)
    customer = make_customer(session, at=clock.now())
    contact = make_contact(session, customer=customer, at=clock.now())
    put(session, clock, contact.address, "t:night:notice", customer_id=customer.id)
    put(session, clock, contact.address, "t:night:reply", kind=REPLY, customer_id=customer.id)
    assert dispatch(session, clock, twilio) == ["sent"]
    assert row(session, "t:night:reply").status == "sent"
    notice = row(session, "t:night:notice")
    morning = datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)
    assert (notice.status, notice.not_before, notice.attempts) == ("pending", morning, 0)
    clock.current = morning - timedelta(seconds=1)
    assert dispatch(session, clock, twilio) == []
    clock.current = morning.astimezone(UTC)
    assert dispatch(session, clock, twilio) == ["sent"]
    assert len(fake_twilio.sent_to(contact.address)) == 2


def test_quiet_hours_follow_the_contact_and_the_customer_time_zone(
    session: Session, clock: FixedClock, twilio: TwilioTransport
) -> None:
    # 02:00 UTC is 10:00 in Shanghai but 21:00 the day before in New York.
    customer = make_customer(session, at=clock.now(), timezone="America/New_York")
    contact = make_contact(
        session,
        customer=customer,
        at=clock.now(),
        allowed_from=time(9, 0),
        allowed_until=time(20, 0),
    )
    put(session, clock, contact.address, "t:ny", customer_id=customer.id)
    assert dispatch(session, clock, twilio) == []
    assert row(session, "t:ny").not_before == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def test_crash_before_recording_is_reclaimed_after_the_lease_and_sent_once(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    put(session, clock, "+8613900000300", "t:crash", kind=REPLY)
    [claimed] = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)
    assert claimed.attempts == 1  # ... and the dispatcher dies here, before sending
    assert row(session, "t:crash").status == "sending"
    clock.advance(LEASE - timedelta(seconds=1))
    assert dispatch(session, clock, twilio) == []  # still leased
    clock.advance(timedelta(seconds=1))
    assert dispatch(session, clock, twilio) == ["sent"]
    message = row(session, "t:crash")
    assert message.attempts == 2
    assert len(fake_twilio.sent_to("+8613900000300")) == 1


def test_a_message_with_a_provider_id_is_never_sent_again(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    put(session, clock, "+8613900000301", "t:known", kind=REPLY)
    [claimed] = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI)
    # The provider accepted it and its id reached the row, but not the final status.
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == claimed.id)
        .values(provider_id="SMknown000")
    )
    clock.advance(LEASE * 3)
    assert dispatch(session, clock, twilio) == []
    message = row(session, "t:known")
    assert (message.status, message.provider_id) == ("sent", "SMknown000")
    assert fake_twilio.sent_to("+8613900000301") == []


def test_an_automated_message_shows_in_the_recipients_conversation(
    session: Session, clock: FixedClock, twilio: TwilioTransport
) -> None:
    session.add(
        Conversation(
            channel="sms",
            address="+8613900000400",
            language="en",
            created_at=clock.now(),
            last_message_at=clock.now(),
        )
    )
    put(session, clock, "+8613900000400", "t:conv")
    put(session, clock, "+8613900000401", "t:noconv")
    assert dispatch(session, clock, twilio) == ["sent", "sent"]
    outbox_id = row(session, "t:conv").id
    [line] = session.exec(
        select(ConversationMessage).where(col(ConversationMessage.outbox_message_id) == outbox_id)
    ).all()
    assert (line.direction, line.author, line.status) == ("out", "system", "sent")
    assert line.provider_message_id == row(session, "t:conv").provider_id
    assert (
        session.exec(
            select(Conversation).where(col(Conversation.address) == "+8613900000401")
        ).first()
        is None
    )


def test_a_one_time_code_reaches_the_phone_but_not_the_conversation_staff_read(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    session.add(
        Conversation(
            channel="sms",
            address="+8613900000402",
            language="en",
            created_at=clock.now(),
            last_message_at=clock.now(),
        )
    )
    body = "wattdesk: your code is 482913, valid 10 minutes."
    put(session, clock, "+8613900000402", "t:code", body=body, template="link_code", kind=REPLY)
    assert dispatch(session, clock, twilio) == ["sent"]
    assert any(m.body == body for m in fake_twilio.messages)  # the phone gets the code
    [line] = session.exec(
        select(ConversationMessage).where(
            col(ConversationMessage.outbox_message_id) == row(session, "t:code").id
        )
    ).all()
    assert "482913" not in line.body and "******" in line.body


def test_dispatchers_in_parallel_never_send_the_same_message(
    fresh_engine: Engine, fake_twilio: FakeTwilioApi
) -> None:
    """Two dispatchers (as two processes would), each with three sending threads, over
    one outbox: every message is sent exactly once. On PostgreSQL the claims skip each
    other's locked rows; on SQLite the single writer serialises them."""
    clock = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    count = 300
    with session_scope(fresh_engine) as session:
        for i in range(count):
            put(
                session,
                clock,
                f"+8613700{i:06d}",
                f"t:parallel:{i}",
                kind=REPLY,
                body=f"parallel {fresh_engine.dialect.name} {i}",
            )

    def dispatcher() -> Dispatcher:
        transport = TwilioTransport(
            account_sid=fake_twilio.account_sid,
            auth_token=fake_twilio.auth_token,
            from_=FROM,
            api_base=fake_twilio.url,
        )
        return Dispatcher(
            engine=fresh_engine,
            clock=clock,
            transports=[transport],
            tz=SHANGHAI,
            batch=7,
            rate_per_second=None,
            senders=3,
        )

    import threading

    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(dispatcher().drain())) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.results["sent"] for r in reports) == count
    with session_scope(fresh_engine) as session:
        statuses = session.exec(select(OutboxMessage.status)).all()
    assert statuses == ["sent"] * count
    ours = [
        m
        for m in fake_twilio.messages
        if m.body.startswith(f"parallel {fresh_engine.dialect.name} ")
    ]
    assert len(ours) == count and len({m.body for m in ours}) == count
