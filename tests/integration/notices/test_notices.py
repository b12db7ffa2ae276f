"""Bill notices and due-date reminders into the outbox: once per bill, with a pay link, the
reason recorded when one cannot be sent, and reminders cancelled by the payment."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Customer
from billing_core.events.service import bill_issued_event, record_events
from billing_core.notices.policy import load_notices_policy
from billing_core.notices.service import (
    bill_notice_key,
    due_reminder_key,
    enqueue_bill_notices,
    enqueue_due_reminders,
)
from billing_core.outbox.claims import OPTED_OUT_REASON
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.service import PaymentContext, accept_payment, find_pay_link
from tests.factories import make_account, make_bill, make_charge, make_contact, make_customer

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONTEXT = PaymentContext(
    tz=SHANGHAI,
    currency="CNY",
    public_base_url="https://d.example",
    secret_key="notice-test-secret",
)
TODAY = date(2026, 11, 26)  # the clock fixture's local date


def customer_with_contact(session: Session, clock: FixedClock, **fields: object) -> Account:
    customer = make_customer(session, at=clock.now(), language="en", **fields)
    make_contact(session, customer=customer, at=clock.now())
    return make_account(session, customer=customer)


def issue(
    session: Session,
    clock: FixedClock,
    account: Account,
    *,
    month: int = 10,
    total: str = "123.45",
    due: date = date(2026, 12, 10),
) -> int:
    bill = make_bill(
        session,
        account=account,
        period_start=date(2026, month, 1),
        total=Decimal(total),
        due_date=due,
        at=clock.now(),
    )
    assert bill.id is not None
    make_charge(session, bill=bill, on=clock.now().astimezone(SHANGHAI).date(), at=clock.now())
    record_events(
        session=session,
        clock=clock,
        events=[
            bill_issued_event(
                bill_id=bill.id,
                account_id=account.id or 0,
                total=bill.total,
                currency="CNY",
                due_date=due,
                period_start=bill.period_start,
                period_end=bill.period_end,
            )
        ],
    )
    return bill.id


def notices(session: Session, clock: FixedClock) -> int:
    run = enqueue_bill_notices(session=session, clock=clock, tz=SHANGHAI, payments_context=CONTEXT)
    return run.enqueued


def reminders(session: Session, clock: FixedClock, on: date = TODAY) -> int:
    run = enqueue_due_reminders(
        session=session, clock=clock, tz=SHANGHAI, payments_context=CONTEXT, on=on, days_before=3
    )
    return run.enqueued


def outbox(session: Session, key: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.dedupe_key) == key)))


def test_an_issued_bill_gets_one_notice_with_a_pay_link_however_often_the_job_runs(
    session: Session, clock: FixedClock
) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account)
    assert notices(session, clock) == 1
    assert notices(session, clock) == 0
    [notice] = outbox(session, bill_notice_key(bill_id))
    assert (notice.status, notice.kind, notice.template) == ("pending", "automated", "bill_notice")
    assert notice.purpose == f"notice:bill:{bill_id}" and notice.customer_id is not None
    assert account.number in notice.body and "123.45" in notice.body and "Dec" in notice.body
    token = notice.body.split("/p/")[1].split()[0]
    link = find_pay_link(session=session, clock=clock, token=token)
    assert link is not None and link.bill_id == bill_id
    assert notice.segments <= 2  # docs/domain.md §3: a bill notice fits in 2 segments
    # A chat app (Telegram) shows the same link as a button.
    [[button]] = json.loads(notice.payload or "{}")["buttons"]
    assert button["url"].endswith("/p/" + token) and button["url"] in notice.body
    assert button["text"] in ("Pay", "缴费")


def test_a_chinese_notice_fits_in_two_segments(session: Session, clock: FixedClock) -> None:
    account = customer_with_contact(session, clock)
    session.get(Customer, account.customer_id).language = "zh-CN"  # type: ignore[union-attr]
    bill_id = issue(session, clock, account, total="1234.56")
    notices(session, clock)
    [notice] = outbox(session, bill_notice_key(bill_id))
    assert notice.language == "zh-CN" and "1,234.56" in notice.body and notice.segments <= 2


def test_a_customer_without_a_usable_contact_gets_a_recorded_reason_not_a_message(
    session: Session, clock: FixedClock
) -> None:
    customer = make_customer(session, at=clock.now())
    make_contact(session, customer=customer, at=clock.now(), verified=False)
    account = make_account(session, customer=customer)
    bill_id = issue(session, clock, account)
    assert notices(session, clock) == 0
    [record] = outbox(session, bill_notice_key(bill_id))
    assert record.status == "cancelled"
    assert record.cancelled_reason == "no verified contact that takes notices"
    assert notices(session, clock) == 0 and len(outbox(session, bill_notice_key(bill_id))) == 1


def test_an_opted_out_customer_gets_the_opt_out_recorded(
    session: Session, clock: FixedClock
) -> None:
    customer = make_customer(session, at=clock.now())
    contact = make_contact(session, customer=customer, at=clock.now(), opted_out=True)
    account = make_account(session, customer=customer)
    bill_id = issue(session, clock, account)
    assert notices(session, clock) == 0
    [record] = outbox(session, bill_notice_key(bill_id))
    assert (record.status, record.cancelled_reason) == ("cancelled", OPTED_OUT_REASON)
    assert record.recipient == contact.address


def test_a_bill_cancelled_before_its_notice_gets_none(session: Session, clock: FixedClock) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account)
    from billing_core.bills.tables import Bill

    bill = session.get(Bill, bill_id)
    assert bill is not None
    bill.status = "cancelled"
    session.add(bill)
    session.flush()
    assert notices(session, clock) == 0
    [record] = outbox(session, bill_notice_key(bill_id))
    assert record.cancelled_reason == f"bill {bill_id} is cancelled"


def test_events_older_than_the_notice_age_are_left(session: Session, clock: FixedClock) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account)
    clock.advance(timedelta(days=8))
    assert notices(session, clock) == 0
    assert outbox(session, bill_notice_key(bill_id)) == []


def test_due_reminder_goes_three_days_before_the_due_date_once(
    session: Session, clock: FixedClock
) -> None:
    account = customer_with_contact(session, clock)
    due_in_3 = issue(session, clock, account, month=8, due=TODAY + timedelta(days=3))
    due_in_2 = issue(session, clock, account, month=9, due=TODAY + timedelta(days=2))
    due_in_4 = issue(session, clock, account, month=10, due=TODAY + timedelta(days=4))
    assert reminders(session, clock) == 1
    assert reminders(session, clock) == 0
    [reminder] = outbox(session, due_reminder_key(due_in_3))
    assert (reminder.kind, reminder.template) == ("automated", "due_reminder")
    assert reminder.purpose == f"reminder:bill:{due_in_3}" and "/p/" in reminder.body
    assert "123.45" in reminder.body
    assert outbox(session, due_reminder_key(due_in_2)) == []
    assert outbox(session, due_reminder_key(due_in_4)) == []
    assert reminders(session, clock, on=TODAY + timedelta(days=1)) == 1  # the next one's day


def test_no_reminder_for_a_bill_already_paid(session: Session, clock: FixedClock) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account, due=TODAY + timedelta(days=3))
    accept_payment(
        session=session,
        clock=clock,
        context=CONTEXT,
        account_id=account.id or 0,
        amount=Decimal("123.45"),
        channel="counter",
        provider_reference="c-1",
        received_at=clock.now(),
        bill_id=bill_id,
    )
    assert reminders(session, clock) == 0
    assert outbox(session, due_reminder_key(bill_id)) == []


def test_paying_the_bill_cancels_its_waiting_reminder(session: Session, clock: FixedClock) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account, due=TODAY + timedelta(days=3))
    assert reminders(session, clock) == 1
    recorded = accept_payment(
        session=session,
        clock=clock,
        context=CONTEXT,
        account_id=account.id or 0,
        amount=Decimal("123.45"),
        channel="counter",
        provider_reference="c-2",
        received_at=clock.now(),
        bill_id=bill_id,
    )
    [reminder] = outbox(session, due_reminder_key(bill_id))
    assert reminder.status == "cancelled"
    assert reminder.cancelled_reason == f"paid (payment {recorded.payment.id})"


def test_the_shipped_policy_reminds_three_days_before() -> None:
    policy = load_notices_policy()
    assert policy.due_reminder_days_before == 3 and policy.bill_notice_max_age_days == 7


@pytest.mark.parametrize("days", [0, 31])
def test_a_policy_outside_its_bounds_is_refused(days: int, tmp_path: object) -> None:
    from pathlib import Path

    from billing_core.policies import PolicyError

    directory = Path(str(tmp_path))
    (directory / "notices.yaml").write_text(
        f"version: 1\neffective_from: 2025-01-01\ndue_reminder_days_before: {days}\n"
    )
    with pytest.raises(PolicyError, match="due_reminder_days_before"):
        load_notices_policy(directory)


def test_notices_come_in_chunks_from_a_cursor(session: Session, clock: FixedClock) -> None:
    accounts = [customer_with_contact(session, clock) for _ in range(3)]
    bills = [issue(session, clock, account) for account in accounts]
    first = enqueue_bill_notices(
        session=session, clock=clock, tz=SHANGHAI, payments_context=CONTEXT, limit=2
    )
    assert (first.enqueued, first.looked_at) == (2, 2)
    rest = enqueue_bill_notices(
        session=session,
        clock=clock,
        tz=SHANGHAI,
        payments_context=CONTEXT,
        after_event_id=first.cursor,
        limit=2,
    )
    assert (rest.enqueued, rest.looked_at) == (1, 1)
    assert all(outbox(session, bill_notice_key(bill_id)) for bill_id in bills)
