"""Applying a rolling reading plan on both databases (docs/readings.md): 120 accounts read on
one day (the 20th) in 40 books of 3 are proposed a level plan for December 2026, approved by a
second reviewer (a notice per customer in the outbox), applied on 1 December, and billed over
the transition: every account once, from its November reading to its first reading on the
new day, blocks prorated by the period's days (checked by hand for two of them)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.run import run_bills, shutdown_workers
from billing_core.bills.tables import Bill
from billing_core.calendar import WorkingCalendar
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Customer
from billing_core.db import session_scope
from billing_core.errors import Conflict, InvalidInput, PermissionDenied
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.notices.reading_days import approve_and_notify
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.service import PaymentContext
from billing_core.readings.plans import PlanStatus
from billing_core.readings.plans_changes import (
    apply_plan,
    plan_changes,
    propose_plan,
    review_plan,
)
from billing_core.readings.plans_policy import load_reading_plan_policy
from billing_core.readings.plans_service import due_account_count, missed_readings
from billing_core.readings.tables import Meter, ReadingBook, ReadingDayChange
from billing_core.staff.tables import StaffUser
from billing_core.tariffs.catalog import TariffCatalog
from scheduler.jobs import JobContext, run_reading_plans
from tests.factories import (
    make_account,
    make_book,
    make_contact,
    make_customer,
    make_meter,
    make_reading,
    make_staff,
    make_tariff_assignment,
)

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 9, 1, tzinfo=UTC)
MONTH = date(2026, 12, 1)
PROPOSED_ON = date(2026, 9, 30)  # 1 December is 2 months ahead
POLICY = load_reading_plan_policy()
TARIFFS = TariffCatalog.load()
THRESHOLDS = ReviewThresholds.from_policy(load_review_policy())
# kWh from the November reading to the first on the new day, by new day (the others: 300)
USAGE = {1: 600, 7: 100}


def job_context(engine: Engine, at: datetime) -> JobContext:
    return JobContext(
        engine=engine, clock=FixedClock(at), tz=TZ,
        payments_context=PaymentContext(tz=TZ, currency="CNY", public_base_url="https://d.test",
                                        secret_key="k"),
        notices_policy=load_notices_policy(), late_fee_policy=load_late_fee_policy(),
    )  # fmt: skip


def clock_on(day: date) -> FixedClock:
    return FixedClock(datetime.combine(day, time(1, 0), tzinfo=TZ).astimezone(UTC))


def read_at(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=TZ).astimezone(UTC)


def build(session: Session) -> tuple[StaffUser, StaffUser]:
    """40 books of 3 accounts, all read on the 20th, read on 20 October and 20 November; every
    customer but the last has a verified SMS contact."""
    for b in range(40):
        book = make_book(session, code=f"P{b:02d}", name=f"book {b}", reading_day=20)
        for a in range(3):
            customer = make_customer(session, at=AT, language="en" if a == 1 else "zh-CN")
            if (b, a) != (39, 2):
                make_contact(session, customer=customer, at=AT)
            account = make_account(
                session, customer=customer, reading_day=20, reading_book_id=book.id
            )
            make_tariff_assignment(session, account=account, tariff_code="guangdong-residential")
            meter = make_meter(session, account=account)
            make_reading(session, meter=meter, read_at=read_at(date(2026, 10, 20)), total=1000)
            make_reading(session, meter=meter, read_at=read_at(date(2026, 11, 20)), total=1250)
    proposer = make_staff(session, role="reviewer", at=AT, username="planner")
    reviewer = make_staff(session, role="reviewer", at=AT, username="checker")
    return proposer, reviewer


def bill_run(engine: Engine, day: date):  # type: ignore[no-untyped-def]
    return run_bills(
        engine=engine, clock=clock_on(day), run_date=day, tz=TZ, tariffs=TARIFFS,
        thresholds=THRESHOLDS,
    )  # fmt: skip


def loads(session: Session) -> Counter[int]:
    return Counter(session.exec(select(Account.reading_day)).scalars())


@pytest.fixture
def engine(fresh_engine: Engine) -> Engine:
    yield fresh_engine
    shutdown_workers()


def test_a_plan_is_proposed_approved_applied_and_billed_over_its_transition(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        proposer, reviewer = build(session)
    last_on_old_day = bill_run(engine, date(2026, 11, 20))
    assert last_on_old_day.issued + last_on_old_day.in_review == 120
    calendar = WorkingCalendar.for_country("CN", [2026])

    with session_scope(engine) as session:
        proposer = session.get(StaffUser, proposer.id)
        with pytest.raises(InvalidInput, match=r"effective: .*2 months' notice"):
            propose_plan(
                session=session, clock=clock_on(PROPOSED_ON), calendar=calendar, policy=POLICY,
                month=MONTH, proposer=proposer, today=date(2026, 10, 2),
            )  # fmt: skip
        plan = propose_plan(
            session=session, clock=clock_on(PROPOSED_ON), calendar=calendar, policy=POLICY,
            month=MONTH, proposer=proposer, today=PROPOSED_ON,
        )  # fmt: skip
        plan_id = plan.id
        assert plan_id is not None
        # Before: all 120 accounts on Sunday 20 December, besides December's 20 working days
        # up to the 28th: 21 days, 120 / (120 / 21) − 1 = 2000 %
        assert plan.detail["before"]["max_load"] == 120
        assert plan.detail["before"]["days"] == 21
        assert plan.detail["before"]["imbalance"] == pytest.approx(20.0)
        assert plan.detail["after"]["max_load"] == 6
        assert plan.detail["after"]["imbalance"] <= POLICY.tolerance
        changes = plan_changes(session=session, plan_id=plan_id)
        assert len(changes) == plan.accounts == 120  # the 20th is a Sunday: every one moves

    with session_scope(engine) as session:
        proposer = session.get(StaffUser, proposer.id)
        with pytest.raises(PermissionDenied, match="four eyes"):
            review_plan(
                session=session, clock=clock_on(PROPOSED_ON), plan_id=plan_id,
                reviewer=proposer, approve=True,
            )  # fmt: skip
    with session_scope(engine) as session:
        reviewer = session.get(StaffUser, reviewer.id)
        plan = approve_and_notify(
            session=session, clock=clock_on(date(2026, 10, 1)), plan_id=plan_id, reviewer=reviewer
        )
        assert plan.status == PlanStatus.approved and plan.notices == 119
        with pytest.raises(Conflict):
            approve_and_notify(
                session=session, clock=clock_on(date(2026, 10, 1)), plan_id=plan_id,
                reviewer=reviewer,
            )  # fmt: skip
    with session_scope(engine) as session:
        rows = (
            session.exec(
                select(OutboxMessage).where(OutboxMessage.template == "reading_day_change")
            )
            .scalars()
            .all()
        )
        assert len(rows) == 120  # one per customer: 119 to send, 1 recorded as not sent
        assert sum(row.status == "cancelled" for row in rows) == 1
        sent = [row for row in rows if row.status == "pending"]
        assert all(row.segments <= 2 for row in sent)
        english = next(row for row in sent if row.language == "en")
        assert "instead of day 20" in english.body and "from 1 Dec" in english.body
        chinese = next(row for row in sent if row.language == "zh-CN")
        assert "由每月20日调整为" in chinese.body and "自12月1日起" in chinese.body

        with pytest.raises(Conflict, match="cannot be applied before"):
            apply_plan(
                session=session, clock=clock_on(date(2026, 11, 30)), plan_id=plan_id,
                today=date(2026, 11, 30), actor="test",
            )  # fmt: skip
    # The scheduler's daily job applies it on its effective date (local time), once.
    the_night_before = datetime.combine(date(2026, 11, 30), time(23, 0), tzinfo=TZ)
    assert run_reading_plans(job_context(engine, the_night_before)) == 0
    assert run_reading_plans(job_context(engine, datetime.combine(MONTH, time(0, 10), TZ))) == 1
    assert run_reading_plans(job_context(engine, datetime.combine(MONTH, time(9, 0), TZ))) == 0
    with session_scope(engine) as session:  # and by hand, nothing changes
        plan = apply_plan(
            session=session, clock=clock_on(MONTH), plan_id=plan_id, today=MONTH, actor="t"
        )
        assert plan.status == PlanStatus.applied

    with session_scope(engine) as session:
        # 1 December is too soon for the day-1 accounts (first read 1 January): not due, not
        # missed; the day-7 ones are first read on 7 December
        assert due_account_count(session=session, on=date(2026, 12, 1)) == 0
        assert due_account_count(session=session, on=date(2026, 12, 7)) == 6
        assert missed_readings(session=session, on=date(2026, 12, 1), tz=TZ) == []
        # The next cycle: December's working days up to the 28th, 6 accounts each
        by_day = loads(session)
        working = [d.day for d in calendar.working_days(MONTH, date(2026, 12, 28))]
        assert sorted(by_day) == working and set(by_day.values()) == {6}
        mean = sum(by_day.values()) / len(working)
        assert max(by_day.values()) / mean - 1 <= POLICY.tolerance
        assert (
            session.exec(
                select(ReadingBook.reading_day).where(ReadingBook.code == "P00")
            ).scalar_one()
            == 1
        )
        # First readings on the new days
        changes = {c.account_id: c for c in plan_changes(session=session, plan_id=plan_id)}
        for change in changes.values():
            meter = session.exec(
                select(Meter).where(Meter.account_id == change.account_id)
            ).scalar_one()
            kwh = USAGE.get(change.new_day, 300)
            make_reading(
                session, meter=meter, read_at=read_at(change.first_new_reading_on),
                total=1250 + kwh,
            )  # fmt: skip

    # Every bill run from the old day to the last first reading: none lists a changed account
    # as missed, and each changed account is billed once.
    missed: list[tuple[date, str]] = []
    day = date(2026, 11, 21)
    while day <= date(2027, 1, 4):  # days 1–4: 11–14 days would be too short, so January
        if day.day <= 28:
            summary = bill_run(engine, day)
            missed += [(day, number) for number, _why in summary.missed]
        day += timedelta(days=1)
    with session_scope(engine) as session:
        numbers = dict(session.exec(select(Account.id, Account.number)).all())
        first_new = {numbers[a]: c.first_new_reading_on for a, c in changes.items()}
        # (the accounts read in December are due again in January: not read here, missed)
        assert [(on, n) for on, n in missed if n in first_new and on <= first_new[n]] == []
        for account_id, change in changes.items():
            bills = (
                session.exec(
                    select(Bill).where(
                        Bill.account_id == account_id, Bill.period_start >= date(2026, 11, 20)
                    )
                )
                .scalars()
                .all()
            )
            assert len(bills) == 1, (account_id, change)
            bill = bills[0]
            assert bill.period_start == date(2026, 11, 20)
            assert bill.period_end == change.first_new_reading_on - timedelta(days=1)
            assert bill.kwh == USAGE.get(change.new_day, 300)
            if change.new_day == 1:
                # 20 Nov → 1 Jan (1 Dec is too soon): 42 days of a 30-day month, 1.4 ×
                # the non-summer blocks (200 / 400 kWh): 280 × 0.59 + 280 × 0.64 + 40 × 0.89
                assert change.first_new_reading_on == date(2027, 1, 1)
                assert bill.total == Decimal("165.20") + Decimal("179.20") + Decimal("35.60")
            if change.new_day == 7:
                # 20 Nov → 7 Dec: 17 days, 17/30 of the blocks (113.3 kWh): 100 × 0.59
                assert bill.total == Decimal("59.00")
        assert session.exec(select(func.count()).select_from(ReadingDayChange)).scalar_one() == 120
        assert session.exec(select(func.count()).select_from(Customer)).scalar_one() == 120
