"""The arrears ladder's cases on SQLite and PostgreSQL: the daily run opens a case and takes
each step once (a rerun adds nothing), through the call task, the formal notice and the work
order; a payment in full stops it at once (pending messages cancelled, a reconnection raised
after a disconnection); an arrangement and a dispute stop it; a missed instalment resumes it;
an approval outside the humane window is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from billing_core.arrears import arrangements, disputes, orders
from billing_core.arrears.cases import (
    CASE,
    ORDER,
    RECONNECT,
    STEP,
    TASK,
    LadderChunk,
    run_ladder_chunk,
)
from billing_core.arrears.rules import ArrearsRules, load_arrears_rules
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Customer, CustomerSensitivity
from billing_core.errors import Conflict
from billing_core.notices.service import enqueue_due_reminders
from billing_core.outbox.service import OUTBOX
from billing_core.payments.service import PaymentContext, accept_payment, issue_balance_links
from billing_core.policies import DEFAULT_POLICY_DIR
from tests.factories import (
    make_account,
    make_bill,
    make_charge,
    make_contact,
    make_customer,
    make_staff,
)

TZ = ZoneInfo("Asia/Shanghai")
DUE = date(2026, 11, 2)  # a Monday
RULES = load_arrears_rules(DEFAULT_POLICY_DIR, country="CN", tz=TZ)


def local(day: date, at: time = time(8, 0)) -> datetime:
    return datetime.combine(day, at, tzinfo=TZ).astimezone(UTC)


def context(rules: ArrearsRules | None = RULES) -> PaymentContext:
    return PaymentContext(
        tz=TZ,
        currency="CNY",
        public_base_url="https://pay.example.cn",
        secret_key="k" * 32,
        arrears=rules,
    )


def run(session: Session, now: datetime, chunk: int = 2000) -> LadderChunk:
    clock = FixedClock(now)
    total, cursor = LadderChunk(), 0
    while True:
        part = run_ladder_chunk(
            session=session,
            clock=clock,
            rules=RULES,
            currency="CNY",
            after_account_id=cursor,
            limit=chunk,
            pay_links=lambda s, ids: issue_balance_links(
                session=s, clock=clock, context=context(), account_ids=ids
            ),
        )
        total.add(part)
        cursor = part.cursor
        if not part.more:
            return total


@dataclass
class Debtor:
    account: Account
    customer: Customer


def debtor(
    session: Session, *, amount: str = "180.00", history: bool = True, sensitive: str = ""
) -> Debtor:
    """A residential customer with an SMS contact and one unpaid bill due DUE; with
    `history`, a case closed 3 months ago (so the standard ladder, not the lenient one)."""
    at = local(DUE - timedelta(days=60))
    customer = make_customer(session, at=at, language="en")
    make_contact(session, customer=customer, at=at)
    account = make_account(session, customer=customer, number=f"7{uuid.uuid4().int % 10**9:09d}")
    bill = make_bill(
        session,
        account=account,
        period_start=DUE - timedelta(days=45),
        total=Decimal(amount),
        due_date=DUE,
        at=at,
    )
    make_charge(session, bill=bill, on=DUE - timedelta(days=15), at=at)
    # The due-date reminder three days before (the ladder's step 1, sent by the notices job).
    enqueue_due_reminders(
        session=session,
        clock=FixedClock(local(DUE - timedelta(days=3))),
        tz=TZ,
        payments_context=context(),
        on=DUE - timedelta(days=3),
    )
    if history:
        session.execute(
            CASE.insert().values(
                account_id=account.id,
                status="closed",
                stage="stop",
                ladder="standard",
                oldest_due=DUE - timedelta(days=120),
                amount_owed=Decimal("90.00"),
                opened_at=local(DUE - timedelta(days=110)),
                closed_at=local(DUE - timedelta(days=90)),
                closed_reason="paid in full",
            )
        )
    if sensitive:
        session.add(
            CustomerSensitivity(
                customer_id=customer.id or 0, kind=sensitive, valid_from=DUE - timedelta(days=365)
            )
        )
        session.flush()
    return Debtor(account, customer)


def steps_of(session: Session, account: Account) -> list[tuple[str, bool, str]]:
    return [
        (r.step, r.taken, r.reason)
        for r in session.execute(
            select(STEP.c.step, STEP.c.taken, STEP.c.reason)
            .join(CASE, CASE.c.id == STEP.c.case_id)
            .where(CASE.c.account_id == account.id)
            .order_by(STEP.c.id)
        )
    ]


def messages(session: Session, account: Account) -> list[tuple[str, str]]:
    return [
        (r.template, r.status)
        for r in session.execute(
            select(OUTBOX.c.template, OUTBOX.c.status)
            .where(OUTBOX.c.account_id == account.id)
            .order_by(OUTBOX.c.id)
        )
    ]


def days(session: Session, first: date, last: date) -> None:
    day = first
    while day <= last:
        run(session, local(day, time(7, 30)))
        day += timedelta(days=1)


def pay(session: Session, account: Account, amount: str, now: datetime) -> None:
    accept_payment(
        session=session,
        clock=FixedClock(now),
        context=context(),
        account_id=account.id or 0,
        amount=Decimal(amount),
        channel="counter",
        provider_reference=f"C-{uuid.uuid4()}",
        received_at=now,
    )


def count(session: Session, table: object, *where: object) -> int:
    return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def test_the_run_opens_a_case_sends_the_overdue_notice_once_and_a_rerun_adds_nothing(
    session: Session,
) -> None:
    d = debtor(session)
    first = run(session, local(DUE + timedelta(days=1), time(6, 0)))
    assert first.opened == 1 and first.messages == 1
    assert steps_of(session, d.account) == [
        ("reminder_friendly", True, "due"),
        ("overdue_notice", True, "due"),
    ]
    row = session.execute(
        select(OUTBOX).where(
            OUTBOX.c.account_id == d.account.id, OUTBOX.c.template == "arrears_overdue"
        )
    ).one()
    assert row.template == "arrears_overdue" and "180.00" in row.body
    assert "https://pay.example.cn/p/" in row.body
    assert row.not_before == local(DUE + timedelta(days=1), time(8, 0))  # message hours
    again = run(session, local(DUE + timedelta(days=1), time(9, 0)))
    assert (again.opened, again.messages, again.tasks) == (0, 0, 0)
    assert len(steps_of(session, d.account)) == 2
    assert count(session, OUTBOX, OUTBOX.c.account_id == d.account.id) == 2


def test_the_standard_ladder_runs_to_a_proposed_work_order_inside_the_humane_window(
    session: Session,
) -> None:
    d = debtor(session)
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=31))
    taken = [s for s, t, _ in steps_of(session, d.account) if t]
    assert taken == [
        "reminder_friendly",
        "overdue_notice",
        "second_reminder_with_arrangement_offer",
        "call_task",
        "formal_disconnection_notice",
        "disconnection_work_order",
    ]
    assert [t for t, _ in messages(session, d.account)] == [
        "due_reminder",
        "arrears_overdue",
        "arrears_arrangement_offer",
        "arrears_formal_notice",
    ]
    assert count(session, TASK, TASK.c.account_id == d.account.id, TASK.c.kind == "call") == 1
    order = session.execute(select(ORDER).where(ORDER.c.account_id == d.account.id)).one()
    assert order.status == "proposed"
    planned = order.planned_at.astimezone(TZ)
    assert RULES.calendar(planned).is_working_day(planned.date())
    assert time(9) <= planned.time() < time(11, 30) or time(14, 30) <= planned.time() < time(17)


def test_a_sensitive_customer_is_routed_to_a_person_never_to_a_work_order(
    session: Session,
) -> None:
    d = debtor(session, sensitive="infant")
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=35))
    assert count(session, ORDER, ORDER.c.account_id == d.account.id) == 0
    assert ("formal_disconnection_notice", False, "sensitive_customer") in steps_of(
        session, d.account
    )
    assert count(session, TASK, TASK.c.account_id == d.account.id, TASK.c.kind == "review") == 1


def proposed(session: Session, d: Debtor) -> int:
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=31))
    return int(
        session.execute(select(ORDER.c.id).where(ORDER.c.account_id == d.account.id)).scalar_one()
    )


def test_an_approval_outside_the_humane_window_is_refused_naming_why(session: Session) -> None:
    d = debtor(session)
    order_id = proposed(session, d)
    boss = make_staff(session, role="collections", at=local(DUE))
    clock = FixedClock(local(DUE + timedelta(days=32), time(10, 0)))
    saturday = date(2026, 12, 12)
    for at, words in (
        (local(saturday, time(10, 0)), "not a working day"),
        (local(date(2026, 12, 9), time(12, 0)), "outside the disconnection hours"),
        (local(date(2026, 12, 9), time(17, 30)), "outside the disconnection hours"),
    ):
        with pytest.raises(Conflict, match=words):
            orders.approve_order(
                session=session, clock=clock, rules=RULES, actor=boss, order_id=order_id, at=at
            )
    approved = orders.approve_order(
        session=session,
        clock=clock,
        rules=RULES,
        actor=boss,
        order_id=order_id,
        at=local(date(2026, 12, 9), time(9, 30)),
    )
    assert approved["status"] == "approved"


def test_a_care_flag_recorded_mid_case_withdraws_the_pending_order_and_sends_it_to_a_person(
    session: Session,
) -> None:
    from billing_core.audit.tables import AuditEntry

    d = debtor(session)
    order_id = proposed(session, d)
    now = local(DUE + timedelta(days=32), time(10, 0))
    flagged = orders.flag_sensitive(
        session=session, clock=FixedClock(now), actor="staff:wang", customer_id=d.customer.id or 0,
        kind="medical_equipment", note="her father uses a home oxygen concentrator",
        today=now.astimezone(TZ).date(),
    )  # fmt: skip
    assert (flagged.withdrawn, flagged.overdue) == ((order_id,), ())
    order = session.execute(select(ORDER).where(ORDER.c.id == order_id)).one()
    assert order.status == "cancelled" and "medical_equipment" in order.decision_reason
    actions = set(session.execute(select(AuditEntry.action).where(
        AuditEntry.actor == "staff:wang")).scalars())  # fmt: skip
    assert actions == {"sensitivity.add", "disconnection.withdraw"}
    # the next days' runs put nothing forward again: a person decides
    days(session, DUE + timedelta(days=33), DUE + timedelta(days=40))
    assert count(session, ORDER, ORDER.c.account_id == d.account.id,
                 ORDER.c.status != "cancelled") == 0  # fmt: skip
    task = session.execute(
        select(TASK.c.status, TASK.c.detail).where(
            TASK.c.account_id == d.account.id, TASK.c.kind == "review"
        )
    ).one()  # one, not one a day
    assert task.status == "open" and f"order {order_id} withdrawn" in task.detail
    assert "home oxygen concentrator" in task.detail


def test_a_care_flag_after_the_approved_time_leaves_the_order_and_says_so(
    session: Session,
) -> None:
    d = debtor(session)
    order_id = proposed(session, d)
    boss = make_staff(session, role="collections", at=local(DUE))
    approved_for = local(date(2026, 12, 9), time(9, 30))
    orders.approve_order(session=session, clock=FixedClock(local(date(2026, 12, 8), time(10))),
                         rules=RULES, actor=boss, order_id=order_id, at=approved_for)  # fmt: skip
    later = approved_for + timedelta(hours=1)  # the crew may have cut supply already
    flagged = orders.flag_sensitive(
        session=session, clock=FixedClock(later), actor="staff:li", customer_id=d.customer.id or 0,
        kind="elderly_alone", note="lives alone, 88", today=later.astimezone(TZ).date(),
    )  # fmt: skip
    assert (flagged.withdrawn, flagged.overdue) == ((), (order_id,))
    status = session.execute(select(ORDER.c.status).where(ORDER.c.id == order_id)).scalar_one()
    assert status == "approved"
    task = session.execute(select(TASK.c.kind, TASK.c.detail).where(
        TASK.c.account_id == d.account.id, TASK.c.reason == "sensitive_customer",
    )).one()  # fmt: skip
    assert task.kind == "review" and "reach the crew now" in task.detail


def test_payment_in_full_stops_the_ladder_at_once_and_raises_a_reconnection_after_a_cut(
    session: Session,
) -> None:
    d = debtor(session)
    order_id = proposed(session, d)
    boss = make_staff(session, role="collections", at=local(DUE))
    approve_at = local(date(2026, 12, 9), time(9, 30))
    clock = FixedClock(local(DUE + timedelta(days=32), time(10, 0)))
    orders.approve_order(
        session=session, clock=clock, rules=RULES, actor=boss, order_id=order_id, at=approve_at
    )
    run(session, local(date(2026, 12, 8), time(7, 30)))  # the final notice is queued
    assert messages(session, d.account)[-1] == ("arrears_final_notice", "pending")
    cut = FixedClock(approve_at + timedelta(minutes=20))
    orders.record_executed(
        session=session,
        clock=cut,
        actor=boss,
        order_id=order_id,
        at=approve_at + timedelta(minutes=10),
    )
    paid_at = local(date(2026, 12, 9), time(11, 0))
    pay(session, d.account, "180.00", paid_at)
    case = session.execute(
        select(CASE).where(CASE.c.account_id == d.account.id, CASE.c.opened_at > local(DUE))
    ).one()
    assert (case.status, case.closed_reason) == ("closed", "paid in full")
    reconnection = session.execute(select(RECONNECT).where(RECONNECT.c.case_id == case.id)).one()
    assert reconnection.disconnection_order_id == order_id
    assert reconnection.target_at == local(date(2026, 12, 9), time(17, 0))  # same working day
    assert steps_of(session, d.account)[-1] == ("stop", True, "paid_in_full")
    assert run(session, paid_at + timedelta(hours=1)).steps == 0  # nothing more


def test_payment_cancels_pending_ladder_messages_and_a_partial_payment_does_not(
    session: Session,
) -> None:
    d = debtor(session)
    run(session, local(DUE + timedelta(days=1), time(6, 0)))
    pay(session, d.account, "50.00", local(DUE + timedelta(days=1), time(6, 30)))
    assert messages(session, d.account)[1] == ("arrears_overdue", "pending")  # partial: goes on
    pay(session, d.account, "130.00", local(DUE + timedelta(days=1), time(7, 0)))
    assert messages(session, d.account)[1] == ("arrears_overdue", "cancelled")
    assert steps_of(session, d.account)[-1] == ("stop", True, "paid_in_full")


def test_an_arrangement_stops_the_ladder_and_a_missed_instalment_resumes_it(
    session: Session,
) -> None:
    d = debtor(session)
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=8))  # overdue + second reminder
    boss = make_staff(session, role="collections", at=local(DUE))
    agreed = local(DUE + timedelta(days=8), time(10, 0))
    arrangements.create_arrangement(
        session=session,
        clock=FixedClock(agreed),
        rules=RULES,
        actor=boss,
        account_id=d.account.id or 0,
        instalments=[
            (DUE + timedelta(days=15), Decimal("90.00")),
            (DUE + timedelta(days=45), Decimal("90.00")),
        ],
    )
    assert steps_of(session, d.account)[-1] == ("stop", True, "arrangement_active")
    ladder = [s for t, s in messages(session, d.account) if t.startswith("arrears_")]
    assert ladder == ["cancelled", "cancelled"]  # the pending reminders, with the reason
    days(session, DUE + timedelta(days=9), DUE + timedelta(days=18))
    assert count(session, TASK, TASK.c.account_id == d.account.id) == 0  # paused: no call task
    # The first instalment (day 15) is not paid: missed after 3 grace days, the ladder resumes.
    report = run(session, local(DUE + timedelta(days=19), time(7, 30)))
    assert report.missed_instalments == 1
    case = session.execute(
        select(CASE).where(CASE.c.account_id == d.account.id, CASE.c.status == "open")
    ).one()
    assert case.resumed_on == DUE + timedelta(days=19)
    days(session, DUE + timedelta(days=20), DUE + timedelta(days=35))
    assert count(session, TASK, TASK.c.account_id == d.account.id, TASK.c.kind == "call") == 1


def test_a_dispute_stops_the_ladder_until_staff_close_it(session: Session) -> None:
    d = debtor(session)
    run(session, local(DUE + timedelta(days=1), time(6, 0)))
    opened = disputes.open_dispute(
        session=session,
        clock=FixedClock(local(DUE + timedelta(days=1), time(7, 0))),
        rules=RULES,
        account_id=d.account.id or 0,
        body="the reading is wrong",
        source="customer",
        opened_by="sms:+8613800000000",
    )
    assert messages(session, d.account)[-1] == ("arrears_overdue", "cancelled")
    days(session, DUE + timedelta(days=2), DUE + timedelta(days=20))
    assert [s for s, t, _ in steps_of(session, d.account) if t] == [
        "reminder_friendly",
        "overdue_notice",
        "stop",
    ]
    boss = make_staff(session, role="collections", at=local(DUE))
    disputes.close_dispute(
        session=session,
        clock=FixedClock(local(DUE + timedelta(days=20))),
        rules=RULES,
        actor=boss,
        dispute_id=opened["id"],
        reason="reading checked: it is right",
    )
    days(session, DUE + timedelta(days=21), DUE + timedelta(days=29))
    taken = [s for s, t, _ in steps_of(session, d.account) if t]
    assert taken[-1] == "second_reminder_with_arrangement_offer"
