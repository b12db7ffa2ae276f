"""Approving a reading plan and telling the customers (docs/readings.md): the approval and one
notice per customer and change (its accounts moving from one reading day to another) go in
the same transaction. Idempotent by dedupe key: a second call adds nothing. A customer with no
reachable contact gets a cancelled outbox row with the reason, as for bill notices."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.clock import Clock
from billing_core.customers.tables import Account, Contact, Customer
from billing_core.db.fast import bulk_insert
from billing_core.dedupe_keys import reading_day_notice_key, reading_plan_purpose
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import render, short_day
from billing_core.outbox.model import AUTOMATED, CANCELLED, OUTBOX_COLUMNS, outbox_row
from billing_core.outbox.service import CHANNEL_PREFERENCE, OUTBOX
from billing_core.readings.plans_changes import review_plan
from billing_core.readings.tables import ReadingDayChange, ReadingPlan
from billing_core.staff.tables import StaffUser

TEMPLATE = "reading_day_change"


def approve_and_notify(
    *, session: Session, clock: Clock, plan_id: int, reviewer: StaffUser, note: str = ""
) -> ReadingPlan:
    """Approve the plan (`review_plan`: four eyes) and put its notices in the outbox."""
    plan = review_plan(
        session=session, clock=clock, plan_id=plan_id, reviewer=reviewer, approve=True, note=note
    )
    plan.notices = enqueue_reading_day_notices(session=session, clock=clock, plan=plan)
    session.add(plan)
    return plan


def enqueue_reading_day_notices(*, session: Session, clock: Clock, plan: ReadingPlan) -> int:
    """One message per customer and (old day, new day, first new reading) of the plan, on the
    customer's preferred reachable channel; returns how many were written for sending."""
    assert plan.id is not None
    changes = select(ReadingDayChange.account_id).where(  # type: ignore[call-overload]
        ReadingDayChange.plan_id == plan.id
    )
    groups: dict[tuple[int, int, int, date, date], list[str]] = defaultdict(list)
    languages: dict[int, str] = {}
    for customer_id, language, number, old, new, last_old, first_new in session.execute(
        select(
            col(Account.customer_id),
            col(Customer.language),
            col(Account.number),
            col(ReadingDayChange.old_day),
            col(ReadingDayChange.new_day),
            col(ReadingDayChange.last_old_reading_on),
            col(ReadingDayChange.first_new_reading_on),
        )
        .join(Account, col(Account.id) == col(ReadingDayChange.account_id))
        .join(Customer, col(Customer.id) == col(Account.customer_id))
        .where(col(ReadingDayChange.plan_id) == plan.id)
        .order_by(col(Account.customer_id), col(Account.number))
    ):
        groups[(customer_id, old, new, last_old, first_new)].append(number)
        languages[customer_id] = language
    contacts: dict[int, dict[str, str]] = defaultdict(dict)
    for customer_id, channel, address in session.execute(
        select(col(Contact.customer_id), col(Contact.channel), col(Contact.address))
        .where(
            col(Contact.customer_id).in_(
                select(col(Account.customer_id)).where(col(Account.id).in_(changes))
            ),
            col(Contact.verified).is_(True),
            col(Contact.notify).is_(True),
            col(Contact.opted_out).is_(False),
            col(Contact.unreachable_at).is_(None),
        )
        .order_by(col(Contact.id))
    ):
        contacts[customer_id].setdefault(channel, address)
    now = clock.now()
    purpose = reading_plan_purpose(plan.id)
    rows = []
    sent = 0
    for (customer_id, old, new, last_old, first_new), numbers in groups.items():
        language = languages[customer_id]
        key = reading_day_notice_key(plan.id, customer_id, old, new)
        found = contacts.get(customer_id, {})
        channel = next((c for c in CHANNEL_PREFERENCE if c in found), None)
        if channel is None:
            rows.append(
                outbox_row(
                    dedupe_key=key,
                    channel="none",
                    recipient="",
                    template=TEMPLATE,
                    language=language,
                    body="",
                    segments=0,
                    kind=AUTOMATED,
                    purpose=purpose,
                    not_before=now,
                    created_at=now,
                    customer_id=customer_id,
                    status=CANCELLED,
                    reason="no verified contact that takes notices",
                )
            )
            continue
        body = reading_day_text(
            language,
            numbers,
            old=old,
            new=new,
            effective=plan.effective_on,
            last_old=last_old,
            first_new=first_new,
        )
        segments = count_segments(body).parts if channel == "sms" else 1
        rows.append(
            outbox_row(
                dedupe_key=key,
                channel=channel,
                recipient=found[channel],
                template=TEMPLATE,
                language=language,
                body=body,
                segments=segments,
                kind=AUTOMATED,
                purpose=purpose,
                not_before=now,
                created_at=now,
                customer_id=customer_id,
            )
        )
        sent += 1
    bulk_insert(
        session.connection(), OUTBOX, OUTBOX_COLUMNS, rows, on_conflict_do_nothing=("dedupe_key",)
    )
    return sent


def reading_day_text(
    language: str,
    numbers: list[str],
    *,
    old: int,
    new: int,
    effective: date,
    last_old: date,
    first_new: date,
) -> str:
    """The notice: the first account (the others as "+N", to stay within two SMS segments),
    the old and the new day, the effective date, and the first reading on the new day with
    the days its one longer or shorter period covers."""
    accounts = numbers[0] + (f"+{len(numbers) - 1}" if len(numbers) > 1 else "")
    return render(
        TEMPLATE,
        language,
        effective=short_day(effective, language),
        accounts=accounts,
        old=old,
        new=new,
        first=short_day(first_new, language),
        days=(first_new - last_old).days,
    )
