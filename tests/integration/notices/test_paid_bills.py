"""A payment cancels every pending message about the bills it settled (issue 19, item 2), on
SQLite and PostgreSQL: the bill notice as well as the reminder, each with the payment named as
the reason; a partial payment cancels nothing and the next message states what is left."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlmodel import Session

from billing_core.clock import FixedClock
from billing_core.customers.tables import Account
from billing_core.dedupe_keys import bill_notice_key, due_reminder_key
from billing_core.payments.service import RecordedPayment, accept_payment
from tests.integration.notices.test_notices import (
    CONTEXT,
    TODAY,
    customer_with_contact,
    issue,
    notices,
    outbox,
    reminders,
)


def pay(
    session: Session, clock: FixedClock, account: Account, amount: str, reference: str
) -> RecordedPayment:
    return accept_payment(
        session=session, clock=clock, context=CONTEXT, account_id=account.id or 0,
        amount=Decimal(amount), channel="counter", provider_reference=reference,
        received_at=clock.now(),
    )  # fmt: skip


def test_paying_a_bill_cancels_its_pending_notice_and_reminder_with_the_reason(
    session: Session, clock: FixedClock
) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account, due=TODAY + timedelta(days=3))
    assert notices(session, clock) == 1
    assert reminders(session, clock) == 1

    recorded = pay(session, clock, account, "123.45", "c-full")

    reason = f"paid (payment {recorded.payment.id})"
    for key in (bill_notice_key(bill_id), due_reminder_key(bill_id)):
        [message] = outbox(session, key)
        assert (message.status, message.cancelled_reason) == ("cancelled", reason), key


def test_a_payment_cancels_only_the_messages_about_the_bills_it_settled(
    session: Session, clock: FixedClock
) -> None:
    account = customer_with_contact(session, clock)
    older = issue(session, clock, account, month=9, total="40.00")
    newer = issue(session, clock, account, month=10, total="60.00")
    assert notices(session, clock) == 2

    pay(session, clock, account, "40.00", "c-older")  # the oldest charge is paid first

    [settled] = outbox(session, bill_notice_key(older))
    [open_one] = outbox(session, bill_notice_key(newer))
    assert settled.status == "cancelled"
    assert (open_one.status, open_one.cancelled_reason) == ("pending", "")


def test_a_partial_payment_cancels_nothing_and_the_reminder_states_what_is_left(
    session: Session, clock: FixedClock
) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account, due=TODAY + timedelta(days=3))
    assert notices(session, clock) == 1

    pay(session, clock, account, "100.00", "c-part")

    [notice] = outbox(session, bill_notice_key(bill_id))
    assert notice.status == "pending"
    assert reminders(session, clock) == 1
    [reminder] = outbox(session, due_reminder_key(bill_id))
    assert "23.45" in reminder.body and "123.45" not in reminder.body


def test_a_bill_paid_before_its_notice_was_written_gets_none_and_the_reason_is_kept(
    session: Session, clock: FixedClock
) -> None:
    account = customer_with_contact(session, clock)
    bill_id = issue(session, clock, account)
    pay(session, clock, account, "123.45", "c-early")  # before the notice job's next minute

    assert notices(session, clock) == 0
    [notice] = outbox(session, bill_notice_key(bill_id))
    assert notice.status == "cancelled"
    assert notice.cancelled_reason == f"bill {bill_id} is paid"
    assert notices(session, clock) == 0  # recorded once: the event is not looked at again
