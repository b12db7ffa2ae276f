"""Bill notices and due-date reminders into the outbox (docs/domain.md §3).

Both are idempotent by their dedupe keys (`bill_notice:bill:{id}`, `due_reminder:bill:{id}`):
a job run twice, or by two processes, puts one message per bill in the outbox. A notice that
cannot be sent (the customer opted out, has no verified contact, the bill was cancelled) is
recorded as a cancelled outbox row with the reason, so staff can see why nothing went and the
event is not looked at again. The notice and the reminder about a bill are cancelled, while they
wait, by the payment that pays it (`billing_core.payments.service.accept_payment`, by their
purposes `notice:bill:{id}` and `reminder:bill:{id}`); a bill paid before its notice is
written gets none (recorded as cancelled, "paid").

Bill notices follow `bill_issued` domain events by dedupe key, not by `consumed_at` (other
consumers may read the same events): each run takes the recent events with no outbox row
yet.

A group with `consolidated_notice` and a contact customer gets one group notice instead of a
notice per account (docs/messages.md): each account's amount and the total, to the contact's
reachable address in the contact's language, once the group's newest bill is `group_settle`
old (the bill run issues a group's accounts in several chunks). Each listed bill's own notice
is recorded as not sent, naming the group notice, so a rerun lists nothing twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, func, literal, select
from sqlmodel import Session

from billing_core.bills.statement import account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.customers.tables import Account, Contact, Customer, CustomerGroup
from billing_core.db.columns import table_of
from billing_core.dedupe_keys import (
    BILL_NOTICE,
    DUE_REMINDER,
    bill_notice_key,
    due_reminder_key,
    event_key,
    group_notice_key,
    group_notice_purpose,
    notice_purpose,
    reminder_purpose,
)
from billing_core.events.service import BILL_ISSUED
from billing_core.events.tables import DomainEvent
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import day, label, money, period, render, short_name
from billing_core.outbox.claims import OPTED_OUT_REASON
from billing_core.outbox.service import (
    AUTOMATED,
    CHANNEL_PREFERENCE,
    NOBODY,
    OUTBOX,
    Recipient,
    enqueue_message,
    reachable_contact,
    record_unsent,
)
from billing_core.payments.service import PaymentContext, create_pay_link

EVENT = table_of(DomainEvent)
BILL = table_of(Bill)
CONTACT = table_of(Contact)
ACCOUNT = table_of(Account)
CUSTOMER = table_of(Customer)
GROUP_SETTLE = timedelta(minutes=15)
# A group notice fits in two SMS segments on every channel (a chat message may fall back to
# SMS): a list that does not fit becomes the summary, the count of accounts and the total.
GROUP_NOTICE_SEGMENTS = 2
EVENT_PREFIX = event_key(BILL_ISSUED, "")  # a bill_issued event's dedupe key: bill_issued:{bill id}


class NoticeRun(NamedTuple):
    """What one call did. Jobs call again from `cursor`, each call its own transaction, until
    a call looks at fewer than its `limit`: a monthly bill run's notices never hold the
    database in one long transaction."""

    enqueued: int  # messages put in the outbox to be sent
    looked_at: int  # events (bills) examined: each now has its outbox row, or needs none
    cursor: int  # the last event (bill) id examined


def enqueue_bill_notices(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    payments_context: PaymentContext,
    after_event_id: int = 0,
    max_age: timedelta = timedelta(days=7),
    limit: int | None = None,
    group_settle: timedelta = GROUP_SETTLE,
) -> NoticeRun:
    """A bill notice, with a fresh pay link, for each `bill_issued` event of the last
    `max_age` after `after_event_id` that has none yet (at most `limit` events). A notice
    that cannot be sent is recorded with its reason instead. The bills of a consolidating
    group wait until its newest is `group_settle` old, then go in one group notice."""
    now = clock.now()
    # The event's dedupe key is bill_issued:{id}; the notice's is bill_notice:bill:{id}.
    notice_key = literal(BILL_NOTICE) + func.substr(EVENT.c.dedupe_key, len(EVENT_PREFIX) + 1)
    events = session.execute(
        select(EVENT.c.id, EVENT.c.payload)
        .where(
            EVENT.c.kind == BILL_ISSUED,
            EVENT.c.id > after_event_id,
            EVENT.c.created_at >= now - max_age,
            ~exists().where(OUTBOX.c.dedupe_key == notice_key),
        )
        .order_by(EVENT.c.id)
        .limit(limit)
    ).all()
    enqueued, cursor = 0, after_event_id
    groups: set[int] = set()  # groups looked at in this call: each once, for all its bills
    for event_id, payload in events:
        enqueued += _bill_notice(
            session, clock, tz, payments_context, payload,
            max_age=max_age, settle=group_settle, groups=groups,
        )  # fmt: skip
        cursor = event_id
    return NoticeRun(enqueued, len(events), cursor)


def _bill_notice(
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    context: PaymentContext,
    payload: dict[str, Any],
    *,
    max_age: timedelta,
    settle: timedelta,
    groups: set[int],
) -> int:
    bill_id = int(payload["bill_id"])
    key = bill_notice_key(bill_id)
    purpose = notice_purpose(bill_id)
    group = _consolidating_group(session, bill_id)
    if group is not None and group.id is not None:
        # The group's notice lists this bill with the others (or leaves it out, with why).
        if group.id in groups:
            return 0
        groups.add(group.id)
        return _group_notice(session, clock, tz, group, max_age=max_age, settle=settle)
    bill = _notifiable(session, clock, tz, bill_id)
    if bill is None:
        return 0
    account = session.get(Account, bill.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    return _send_with_pay_link(
        session, clock, context, key=key, purpose=purpose, template="bill_notice",
        account=account, customer=customer, bill_id=bill_id,
        fields=lambda language: {
            "period": period(bill.period_start, bill.period_end, language),
            "amount": money(bill.total, bill.currency, language),
            "due": day(bill.due_date, language) if bill.due_date else "-",
        },
    )  # fmt: skip


def _notifiable(session: Session, clock: Clock, tz: ZoneInfo, bill_id: int) -> Bill | None:
    """The bill, if it is issued and not paid; otherwise its notice is recorded as not sent,
    with the reason, and None."""
    bill = session.get(Bill, bill_id)
    if bill is None or bill.status != "issued":
        reason = f"bill {bill_id} is {bill.status if bill else 'gone'}"
    elif _paid(session, bill, clock.now().astimezone(tz).date()):
        # Paid before its notice was written (the payment cancels one already waiting).
        reason = f"bill {bill_id} is paid"
    else:
        return bill
    record_unsent(
        session=session,
        clock=clock,
        dedupe_key=bill_notice_key(bill_id),
        template="bill_notice",
        purpose=notice_purpose(bill_id),
        reason=reason,
    )
    return None


def _paid(session: Session, bill: Bill, today: date) -> bool:
    """Nothing open on an issued bill whose charge is in the ledger."""
    statement = account_statement(
        session=session, account_id=bill.account_id, today=today, currency=bill.currency
    )
    line = next((b for b in statement.bills if b.bill_id == bill.id), None)
    return line is not None and line.open_amount <= Decimal(0)


def enqueue_due_reminders(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    payments_context: PaymentContext,
    on: date,
    days_before: int = 3,
    after_bill_id: int = 0,
    limit: int | None = None,
) -> NoticeRun:
    """A reminder, with a fresh pay link, for each issued bill due `days_before` days after
    `on` (a local date) that still has something open on it and no reminder yet (bills after
    `after_bill_id`, at most `limit`). A day the job did not run is not caught up: the
    arrears ladder's later steps follow."""
    due = on + timedelta(days=days_before)
    reminder_key = literal(DUE_REMINDER) + cast(BILL.c.id, String)
    bills = session.execute(
        select(BILL.c.id)
        .where(
            BILL.c.status == "issued",
            BILL.c.due_date == due,
            BILL.c.id > after_bill_id,
            ~exists().where(OUTBOX.c.dedupe_key == reminder_key),
        )
        .order_by(BILL.c.id)
        .limit(limit)
    ).scalars()
    enqueued, looked_at, cursor = 0, 0, after_bill_id
    for bill_id in list(bills):
        enqueued += _due_reminder(session, clock, payments_context, bill_id, on)
        looked_at, cursor = looked_at + 1, bill_id
    return NoticeRun(enqueued, looked_at, cursor)


def _due_reminder(
    session: Session, clock: Clock, context: PaymentContext, bill_id: int, on: date
) -> int:
    bill = session.get(Bill, bill_id)
    assert bill is not None and bill.due_date is not None
    account = session.get(Account, bill.account_id)
    assert account is not None
    statement = account_statement(
        session=session, account_id=account.id or 0, today=on, currency=bill.currency
    )
    open_amount = next((b.open_amount for b in statement.bills if b.bill_id == bill_id), None)
    if open_amount is None or open_amount <= Decimal(0):
        return 0  # paid (or never charged): nothing to remind of
    customer = session.get(Customer, account.customer_id)
    assert customer is not None
    key = due_reminder_key(bill_id)
    purpose = reminder_purpose(bill_id)
    due_date = bill.due_date
    return _send_with_pay_link(
        session, clock, context, key=key, purpose=purpose, template="due_reminder",
        account=account, customer=customer, bill_id=bill_id,
        fields=lambda language: {
            "amount": money(open_amount, bill.currency, language),
            "due": day(due_date, language),
        },
    )  # fmt: skip


def _send_with_pay_link(
    session: Session,
    clock: Clock,
    context: PaymentContext,
    *,
    key: str,
    purpose: str,
    template: str,
    account: Account,
    customer: Customer,
    bill_id: int,
    fields: Callable[[str], dict[str, str]],
) -> int:
    """An automated message about a bill, with a new pay link for it, to the customer's
    reachable number (none: recorded as unreachable); `fields(language)` fills the template
    besides the account and the link. 1 when it was enqueued, else 0."""
    recipient = reachable_contact(session, customer.id or 0)
    if recipient is None:
        _record_unreachable(session, clock, key, template, purpose, account, customer)
        return 0
    language = customer.language
    _, url = create_pay_link(
        session=session, clock=clock, context=context, account_id=account.id or 0, bill_id=bill_id
    )
    body = render(template, language, account=account.number, url=url, **fields(language))
    # A chat app shows the link as a button too (SMS ignores the payload: the text has it).
    buttons = {"buttons": [[{"text": label("menu_pay", language), "url": url}]]}
    enqueue_message(
        session=session,
        clock=clock,
        dedupe_key=key,
        recipient=recipient,
        template=template,
        language=language,
        body=body,
        kind=AUTOMATED,
        purpose=purpose,
        account_id=account.id,
        customer_id=customer.id,
        payload=json.dumps(buttons, ensure_ascii=False),
    )
    return 1


def _record_unreachable(
    session: Session,
    clock: Clock,
    key: str,
    template: str,
    purpose: str,
    account: Account | None,
    customer: Customer,
) -> None:
    """Why a customer cannot be sent a notice: an opted-out contact, or none usable."""
    opted_out = session.execute(
        select(CONTACT.c.channel, CONTACT.c.address)
        .where(
            CONTACT.c.customer_id == customer.id,
            CONTACT.c.verified.is_(True),
            CONTACT.c.notify.is_(True),
            CONTACT.c.opted_out.is_(True),
            CONTACT.c.channel.in_([str(c) for c in CHANNEL_PREFERENCE]),
        )
        .order_by(CONTACT.c.id)
    ).first()
    if opted_out is not None:
        recipient = Recipient(opted_out.channel, opted_out.address)
        reason = OPTED_OUT_REASON
    else:
        recipient = NOBODY
        reason = "no verified contact that takes notices"
    record_unsent(
        session=session,
        clock=clock,
        dedupe_key=key,
        template=template,
        purpose=purpose,
        reason=reason,
        recipient=recipient,
        account_id=account.id if account is not None else None,
        customer_id=customer.id,
        language=customer.language,
    )


# --- group notices ---------------------------------------------------------------------------


def _consolidating_group(session: Session, bill_id: int) -> CustomerGroup | None:
    """The group of the bill's customer, if it wants one notice for all its accounts and
    says to whom; a group without a contact customer gets a notice per account, as any
    customer."""
    group_id = session.execute(
        select(CUSTOMER.c.group_id)
        .select_from(
            BILL.join(ACCOUNT, ACCOUNT.c.id == BILL.c.account_id).join(
                CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id
            )
        )
        .where(BILL.c.id == bill_id)
    ).scalar()
    if group_id is None:
        return None
    group = session.get(CustomerGroup, group_id)
    if group is None or not group.consolidated_notice or group.contact_customer_id is None:
        return None
    return group


def _group_notice(
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    group: CustomerGroup,
    *,
    max_age: timedelta,
    settle: timedelta,
) -> int:
    """One notice listing every bill of the group's accounts issued in the last `max_age`
    with no notice yet, once the newest is `settle` old; 1 when it was enqueued, else 0."""
    now = clock.now()
    bill_key = literal(EVENT_PREFIX) + cast(BILL.c.id, String)
    notice_key = literal(BILL_NOTICE) + cast(BILL.c.id, String)
    pending = session.execute(
        select(BILL.c.id, EVENT.c.created_at)
        .select_from(
            BILL.join(ACCOUNT, ACCOUNT.c.id == BILL.c.account_id)
            .join(CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id)
            .join(EVENT, EVENT.c.dedupe_key == bill_key)
        )
        .where(
            CUSTOMER.c.group_id == group.id,
            EVENT.c.kind == BILL_ISSUED,
            EVENT.c.created_at >= now - max_age,
            ~exists().where(OUTBOX.c.dedupe_key == notice_key),
        )
        .order_by(BILL.c.id)
    ).all()
    if not pending or max(row.created_at for row in pending) > now - settle:
        return 0  # nothing left, or the bill run may still be issuing the group's bills
    listed: list[tuple[Bill, Account]] = []
    for bill_id, _ in pending:
        bill = _notifiable(session, clock, tz, bill_id)
        if bill is not None:
            account = session.get(Account, bill.account_id)
            assert account is not None
            listed.append((bill, account))
    if not listed:
        return 0
    contact = session.get(Customer, group.contact_customer_id)
    assert contact is not None and group.id is not None
    key = group_notice_key(group.id, listed[0][0].id or 0)
    purpose = group_notice_purpose(group.id)
    for bill, account in listed:
        record_unsent(
            session=session, clock=clock, dedupe_key=bill_notice_key(bill.id or 0),
            template="bill_notice", purpose=notice_purpose(bill.id or 0),
            reason=f"in group notice {key}", account_id=account.id,
            customer_id=account.customer_id,
        )  # fmt: skip
    recipient = reachable_contact(session, contact.id or 0)
    template, body = group_notice_body(group.name, listed, contact.language)
    if recipient is None:
        _record_unreachable(session, clock, key, template, purpose, None, contact)
        return 0
    enqueue_message(
        session=session, clock=clock, dedupe_key=key, recipient=recipient, template=template,
        language=contact.language, body=body, kind=AUTOMATED, purpose=purpose,
        customer_id=contact.id,
    )  # fmt: skip
    return 1


def group_notice_body(
    name: str, bills: list[tuple[Bill, Account]], language: str
) -> tuple[str, str]:
    """The group notice's template and text: a line per account (by number) with its amount,
    the total (one per currency) and the earliest due date; the summary (how many accounts
    and the total) when the list does not fit in two SMS segments."""
    totals: dict[str, Decimal] = {}
    for bill, _ in bills:
        totals[bill.currency] = totals.get(bill.currency, Decimal(0)) + bill.total
    dues = [bill.due_date for bill, _ in bills if bill.due_date is not None]
    values = {
        "group": short_name(name),
        "total": " + ".join(money(totals[c], c, language) for c in sorted(totals)),
        "due": day(min(dues), language) if dues else "-",
    }
    lines = sorted(
        (account.number, money(bill.total, bill.currency, language)) for bill, account in bills
    )
    amounts = "\n".join(f"{number} {amount}" for number, amount in lines)
    body = render("group_notice", language, amounts=amounts, **values)
    if count_segments(body).parts <= GROUP_NOTICE_SEGMENTS:
        return "group_notice", body
    summary = render("group_notice_summary", language, count=str(len(bills)), **values)
    return "group_notice_summary", summary
