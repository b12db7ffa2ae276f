"""No message waits for a channel that cannot carry it (SQLite and PostgreSQL): a message on a
channel the deployment does not deliver goes by the customer's next verified channel, with the
reason on the row, or is undeliverable, with the reason; never `pending` for ever. A seeded
population's notices all reach a terminal state after one dispatcher pass without Telegram."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from bench.fakes.twilio_api import FakeTwilioApi
from billing_core.bills.backfill import post_missing_charges
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.run import run_bills
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.notices.service import enqueue_bill_notices
from billing_core.outbox.fallback import reroute_stranded
from billing_core.outbox.model import UNDELIVERABLE
from billing_core.outbox.service import AUTOMATED, REPLY, Recipient, enqueue_message
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.service import PaymentContext
from billing_core.seed.service import seed_population
from billing_core.tariffs.catalog import TariffCatalog
from billing_core.transcripts.tables import Conversation, ConversationMessage
from scheduler.dispatcher import Dispatcher
from sms.transport import OfflineTransport, TwilioTransport
from tests.factories import make_contact, make_customer
from tests.integration.outbox.helpers import SHANGHAI, dispatch, row


def put_telegram(
    session: Session, clock: FixedClock, chat: str, key: str, customer_id: int | None
) -> None:
    enqueue_message(
        session=session, clock=clock, dedupe_key=key, recipient=Recipient("telegram", chat),
        template="bill_notice", language="zh-CN", body="您的电费账单已出，请及时缴费。" * 5,
        kind=AUTOMATED, customer_id=customer_id,
    )  # fmt: skip


def test_without_telegram_a_telegram_message_goes_by_the_customers_sms_number(
    session: Session, clock: FixedClock, twilio: TwilioTransport, fake_twilio: FakeTwilioApi
) -> None:
    customer = make_customer(session, at=clock.now())
    make_contact(session, customer=customer, at=clock.now(), channel="telegram", address="9001")
    opted_out = make_contact(session, customer=customer, at=clock.now(), opted_out=True)
    phone = make_contact(session, customer=customer, at=clock.now())
    put_telegram(session, clock, "9001", "fb:moved", customer.id)
    assert reroute_stranded(session=session, clock=clock, deliverable={"sms"}) == (1, 0, 1)
    message = row(session, "fb:moved")
    assert (message.channel, message.recipient) == ("sms", phone.address)  # not the STOPped one
    assert phone.address != opted_out.address
    assert message.status == "pending" and message.segments == 2  # 75 Chinese characters
    assert message.error_detail == "sent by sms: telegram not configured"
    assert dispatch(session, clock, twilio) == ["sent"]
    assert [m.body for m in fake_twilio.sent_to(phone.address)] == [message.body]
    assert row(session, "fb:moved").error_detail == "sent by sms: telegram not configured"


def test_with_no_other_channel_left_the_message_is_undeliverable_with_the_reason(
    session: Session, clock: FixedClock
) -> None:
    customer = make_customer(session, at=clock.now())
    make_contact(session, customer=customer, at=clock.now(), channel="telegram", address="9002")
    make_contact(session, customer=customer, at=clock.now(), notify=False)  # takes no notices
    conversation = Conversation(
        channel="telegram", address="9002", language="zh-CN", created_at=clock.now(),
        last_message_at=clock.now(),
    )  # fmt: skip
    session.add(conversation)
    session.flush()
    put_telegram(session, clock, "9002", "fb:dead", customer.id)
    dead = row(session, "fb:dead")
    line = ConversationMessage(
        conversation_id=conversation.id or 0, direction="out", author="system",
        channel="telegram", body=dead.body, status="pending", outbox_message_id=dead.id,
        created_at=clock.now(),
    )  # fmt: skip
    session.add(line)
    session.flush()
    assert reroute_stranded(session=session, clock=clock, deliverable={"sms"}) == (0, 1, 1)
    dead = row(session, "fb:dead")
    assert dead.status == UNDELIVERABLE and dead.channel == "telegram"
    assert dead.error_detail == "undeliverable: telegram not configured; no other verified channel"
    session.refresh(line)
    assert line.status == UNDELIVERABLE  # staff reading the conversation see it
    assert reroute_stranded(session=session, clock=clock, deliverable={"sms"}).looked_at == 0


def test_a_reply_goes_by_sms_even_to_a_number_that_takes_no_notices(
    session: Session, clock: FixedClock
) -> None:
    customer = make_customer(session, at=clock.now())
    phone = make_contact(session, customer=customer, at=clock.now(), notify=False)
    enqueue_message(
        session=session, clock=clock, dedupe_key="fb:reply", recipient=Recipient("telegram", "9"),
        template="reply", language="en", body="Your balance is CNY 0.00", kind=REPLY,
        customer_id=customer.id,
    )  # fmt: skip
    assert reroute_stranded(session=session, clock=clock, deliverable={"sms"}).rerouted == 1
    assert row(session, "fb:reply").recipient == phone.address


def test_a_dispatcher_without_telegram_leaves_telegram_to_the_deployments_other_dispatcher(
    fresh_engine: Engine, clock: FixedClock
) -> None:
    """Which channels are delivered is the deployment's (its settings), not one dispatcher's:
    an SMS-only dispatcher beside a Telegram one must not take Telegram's messages."""
    with session_scope(fresh_engine) as session:
        customer = make_customer(session, at=clock.now())
        make_contact(session, customer=customer, at=clock.now(), channel="telegram", address="91")
        make_contact(session, customer=customer, at=clock.now())
        put_telegram(session, clock, "91", "fb:other", customer.id)

    def status() -> tuple[str, str]:
        with session_scope(fresh_engine) as session:
            message = row(session, "fb:other")
            return message.channel, message.status

    sms_only = Dispatcher(
        engine=fresh_engine, clock=clock, transports=[OfflineTransport()], tz=SHANGHAI,
        rate_per_second=None, deliverable={"sms", "telegram"},
    )  # fmt: skip
    assert sms_only.drain().claimed == 0
    assert status() == ("telegram", "pending")  # the Telegram dispatcher's to send
    alone = Dispatcher(
        engine=fresh_engine, clock=clock, transports=[OfflineTransport()], tz=SHANGHAI,
        rate_per_second=None,
    )  # fmt: skip
    assert alone.drain().results == {"rerouted": 1, "delivered": 1}
    assert status() == ("sms", "delivered")


# 09:30 in Shanghai, 20:30 in New York: the seeded customers' allowed hours are open.
SEED_CLOCK = FixedClock(datetime(2026, 11, 26, 1, 30, tzinfo=UTC))


def test_a_seeded_populations_notices_are_all_terminal_after_one_pass_without_telegram(
    fresh_engine: Engine,
) -> None:
    clock = SEED_CLOCK
    with session_scope(fresh_engine) as session:
        seed_population(session=session, customers=200, months=3, seed=1,
                        until=date(2026, 11, 26), clock=clock)  # fmt: skip
    tariffs = TariffCatalog.load()
    thresholds = ReviewThresholds.from_policy(load_review_policy())
    today = clock.now().astimezone(SHANGHAI).date()
    for back in range(31, -1, -1):
        run_bills(engine=fresh_engine, clock=clock, run_date=today - timedelta(days=back),
                  tz=SHANGHAI, tariffs=tariffs, thresholds=thresholds)  # fmt: skip
    context = PaymentContext(
        tz=SHANGHAI, currency="CNY", public_base_url="https://desk.example.com", secret_key="k"
    )
    with session_scope(fresh_engine) as session:
        post_missing_charges(session=session, clock=clock, tz=SHANGHAI)
        enqueue_bill_notices(session=session, clock=clock, tz=SHANGHAI, payments_context=context)
    with session_scope(fresh_engine) as session:
        telegram_ids = set(
            session.exec(
                select(col(OutboxMessage.id)).where(
                    col(OutboxMessage.channel) == "telegram",
                    col(OutboxMessage.status) == "pending",
                )
            ).all()
        )
    assert len(telegram_ids) >= 10  # the seed gives some customers a verified Telegram chat

    report = Dispatcher(
        engine=fresh_engine, clock=clock, transports=[OfflineTransport()], tz=SHANGHAI,
        rate_per_second=None, batch=50,
    ).drain()  # fmt: skip

    with session_scope(fresh_engine) as session:
        statuses = dict(
            session.exec(  # type: ignore[call-overload]
                select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
            ).all()
        )
        ours = session.exec(
            select(OutboxMessage).where(col(OutboxMessage.id).in_(telegram_ids))
        ).all()
    assert "pending" not in statuses and "sending" not in statuses, statuses
    moved = [m for m in ours if m.status == "delivered"]
    dead = [m for m in ours if m.status == UNDELIVERABLE]
    assert len(moved) + len(dead) == len(telegram_ids)
    assert moved and all(
        m.channel == "sms" and m.error_detail == "sent by sms: telegram not configured"
        for m in moved
    )
    assert dead and all(
        m.error_detail.startswith("undeliverable: telegram not configured;") for m in dead
    )
    assert report.results["rerouted"] == len(moved)
    assert report.results[UNDELIVERABLE] == len(dead)
