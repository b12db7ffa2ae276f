"""Group notices (docs/messages.md): a group with `consolidated_notice` and a contact customer
gets one notice listing each account's amount and the total, to the contact, instead of a
notice per account; once, however often the job runs; a summary when the list would not fit
two SMS segments; and a group without a contact, or not consolidating, is notified per
account as before."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, col, select

from billing_core.bills.tables import Bill
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Customer, CustomerGroup
from billing_core.messages.segments import count_segments
from billing_core.notices.service import GROUP_SETTLE, bill_notice_key, enqueue_bill_notices
from billing_core.outbox.tables import OutboxMessage
from tests.factories import make_account, make_contact, make_customer
from tests.integration.notices.test_notices import (
    CONTEXT,
    SHANGHAI,
    issue,
    notices,
    outbox,
)

LATER = GROUP_SETTLE + timedelta(minutes=1)


def group_of(
    session: Session,
    clock: FixedClock,
    accounts: int,
    *,
    consolidated: bool = True,
    with_contact: bool = True,
    contact_phone: str = "+12025550100",
) -> tuple[CustomerGroup, list[Account]]:
    """A group of `accounts` accounts, each its own customer with an SMS contact, and a contact
    customer (English) for the group's notices."""
    group = CustomerGroup(
        code=f"G{accounts}", name="Hongda Group", consolidated_notice=consolidated
    )
    session.add(group)
    session.flush()
    members = []
    for n in range(accounts):
        customer = make_customer(session, at=clock.now(), group_id=group.id)
        make_contact(session, customer=customer, at=clock.now(), address=f"+861380000{n:04d}")
        members.append(make_account(session, customer=customer))
    if with_contact:
        contact = make_customer(session, at=clock.now(), name="Finance office", language="en")
        make_contact(session, customer=contact, at=clock.now(), address=contact_phone)
        group.contact_customer_id = contact.id
    session.flush()
    return group, members


def sent(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(
        session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.status) == "pending")
            .order_by(col(OutboxMessage.id))
        )
    )


def test_a_group_gets_one_notice_listing_each_account_and_the_total_once(
    session: Session, clock: FixedClock
) -> None:
    group, accounts = group_of(session, clock, 3)
    bills = [
        issue(session, clock, a, total=t)
        for a, t in zip(accounts, ("100.00", "20.50", "3.25"), strict=True)
    ]
    assert notices(session, clock) == 0  # the bill run may still be issuing the group's bills
    assert sent(session) == []
    clock.advance(LATER)
    assert notices(session, clock) == 1
    assert notices(session, clock) == 0  # a rerun lists nothing twice
    [notice] = sent(session)
    assert (notice.template, notice.recipient, notice.language) == (
        "group_notice",
        "+12025550100",
        "en",
    )
    assert notice.dedupe_key == f"group_notice:group:{group.id}:bill:{bills[0]}"
    assert notice.account_id is None and notice.segments <= 2
    for account, amount in zip(accounts, ("CNY 100.00", "CNY 20.50", "CNY 3.25"), strict=True):
        assert f"{account.number} {amount}" in notice.body
    assert "Total CNY 123.75, due Dec 10, 2026" in notice.body
    for bill_id in bills:  # each account's own notice: recorded as not sent, naming the group's
        [own] = outbox(session, bill_notice_key(bill_id))
        assert (
            own.status == "cancelled"
            and own.cancelled_reason == f"in group notice {notice.dedupe_key}"
        )


def test_a_bill_issued_after_the_group_notice_gets_a_group_notice_of_its_own(
    session: Session, clock: FixedClock
) -> None:
    _, accounts = group_of(session, clock, 2)
    issue(session, clock, accounts[0])
    clock.advance(LATER)
    assert notices(session, clock) == 1
    late = issue(session, clock, accounts[1], total="50.00")  # approved from review later
    clock.advance(LATER)
    assert notices(session, clock) == 1
    first, second = sent(session)
    assert accounts[1].number not in first.body
    assert (
        f"{accounts[1].number} CNY 50.00" in second.body and accounts[0].number not in second.body
    )
    assert second.dedupe_key.endswith(f":bill:{late}")


def test_a_long_list_becomes_a_summary_within_two_segments(
    session: Session, clock: FixedClock
) -> None:
    _, accounts = group_of(session, clock, 12)
    for account in accounts:
        issue(session, clock, account, total="1234.56")
    clock.advance(LATER)
    assert notices(session, clock) == 1
    [notice] = sent(session)
    assert notice.template == "group_notice_summary"
    assert "12 bills for Hongda Group total CNY 14,814.72" in notice.body
    assert count_segments(notice.body).parts <= 2 and notice.segments <= 2


def test_a_chinese_contact_gets_the_notice_in_chinese(session: Session, clock: FixedClock) -> None:
    group, accounts = group_of(session, clock, 2)
    contact = session.get(Customer, group.contact_customer_id)
    assert contact is not None
    contact.language = "zh-CN"
    for account in accounts:
        issue(session, clock, account, total="88.80", due=date(2026, 12, 12))
    clock.advance(LATER)
    assert notices(session, clock) == 1
    [notice] = sent(session)
    assert notice.language == "zh-CN" and "合计¥177.60，请于2026年12月12日前缴纳" in notice.body
    assert notice.segments <= 2


def test_a_group_without_a_contact_or_not_consolidating_is_notified_per_account(
    session: Session, clock: FixedClock
) -> None:
    _, without_contact = group_of(session, clock, 2, with_contact=False)
    _, separate = group_of(session, clock, 1, consolidated=False, contact_phone="+12025550199")
    for account in [*without_contact, *separate]:
        issue(session, clock, account)
    assert notices(session, clock) == 3  # at once: no group to wait for
    assert {m.template for m in sent(session)} == {"bill_notice"}
    assert "+12025550199" not in {m.recipient for m in sent(session)}


def test_an_unreachable_group_contact_is_recorded_and_no_account_is_notified_twice(
    session: Session, clock: FixedClock
) -> None:
    group, accounts = group_of(session, clock, 2, with_contact=False)
    contact = make_customer(session, at=clock.now(), language="en")
    make_contact(session, customer=contact, at=clock.now(), verified=False)
    group.contact_customer_id = contact.id
    session.flush()
    first = issue(session, clock, accounts[0])
    issue(session, clock, accounts[1])
    clock.advance(LATER)
    assert notices(session, clock) == 0
    assert notices(session, clock) == 0
    assert sent(session) == []
    [record] = outbox(session, f"group_notice:group:{group.id}:bill:{first}")
    assert record.status == "cancelled"
    assert record.cancelled_reason == "no verified contact that takes notices"


def test_chunked_runs_and_a_cancelled_bill_make_one_notice_without_it(
    session: Session, clock: FixedClock
) -> None:
    _, accounts = group_of(session, clock, 3)
    bills = [issue(session, clock, account) for account in accounts]
    cancelled = session.get(Bill, bills[1])
    assert cancelled is not None
    cancelled.status = "cancelled"
    session.flush()
    clock.advance(LATER)
    total, cursor = 0, 0
    while True:  # as the scheduler's job runs: a chunk (here one event) per call
        run = enqueue_bill_notices(
            session=session, clock=clock, tz=SHANGHAI, payments_context=CONTEXT,
            after_event_id=cursor, limit=1,
        )  # fmt: skip
        total, cursor = total + run.enqueued, run.cursor
        if run.looked_at < 1:
            break
    assert total == 1
    [notice] = sent(session)
    assert accounts[0].number in notice.body and accounts[2].number in notice.body
    assert accounts[1].number not in notice.body and "Total CNY 246.90" in notice.body
    [own] = outbox(session, bill_notice_key(bills[1]))
    assert own.cancelled_reason == f"bill {bills[1]} is cancelled"
