"""What a stop does to the work left for people, on SQLite and PostgreSQL: a payment in full,
an arrangement or a dispute closes the case's open call tasks with the reason (noted on the
stop in the case's history); a call task already done is left as it was. A customer's request
for an arrangement nobody acts on expires after the collections policy's days: a call task,
and the ladder resumes."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session

from billing_core.arrears import arrangements, disputes, orders
from billing_core.arrears.cases import ARRANGEMENT, CASE, STEP, TASK
from billing_core.clock import FixedClock
from tests.factories import make_staff
from tests.integration.arrears.test_cases import (
    DUE,
    RULES,
    Debtor,
    days,
    debtor,
    local,
    pay,
    run,
    steps_of,
)


def call_tasks(session: Session, d: Debtor) -> list[tuple[str, str, str | None]]:
    return [
        (r.status, r.outcome, r.completed_by)
        for r in session.execute(
            select(TASK.c.status, TASK.c.outcome, TASK.c.completed_by)
            .where(TASK.c.account_id == d.account.id, TASK.c.kind == "call")
            .order_by(TASK.c.id)
        )
    ]


def last_stop(session: Session, d: Debtor) -> tuple[str, str]:
    row = session.execute(
        select(STEP.c.reason, STEP.c.detail)
        .join(CASE, CASE.c.id == STEP.c.case_id)
        .where(CASE.c.account_id == d.account.id, STEP.c.step == "stop")
        .order_by(STEP.c.id.desc())
    ).first()
    assert row is not None
    return row.reason, row.detail


def stop_by(session: Session, d: Debtor, how: str) -> str:
    at = local(DUE + timedelta(days=17), time(10, 0))
    account_id = d.account.id or 0
    if how == "payment":
        pay(session, d.account, "180.00", at)
        return "The ladder stops: paid in full."
    if how == "arrangement":
        arrangements.request_arrangement(
            session=session, clock=FixedClock(at), rules=RULES, account_id=account_id,
            body="can I pay in two parts?",
        )  # fmt: skip
        return "The ladder stops: the customer asked for a payment arrangement."
    disputes.open_dispute(
        session=session, clock=FixedClock(at), rules=RULES, account_id=account_id,
        body="the reading is wrong", source="customer", opened_by="sms:+8613800000000",
    )  # fmt: skip
    return "The ladder stops: a dispute is open."


@pytest.mark.parametrize("how", ["payment", "arrangement", "dispute"])
def test_a_stop_closes_the_open_call_task_with_the_reason(session: Session, how: str) -> None:
    d = debtor(session)
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=16))
    assert call_tasks(session, d) == [("open", "", None)]
    words = stop_by(session, d, how)
    (status, outcome, by), *_ = call_tasks(session, d)
    assert (status, by) == ("closed", "ladder")
    assert outcome == words
    task_id = session.execute(
        select(TASK.c.id).where(TASK.c.account_id == d.account.id)
    ).scalar_one()
    _, detail = last_stop(session, d)
    assert detail.endswith(f" Call task #{task_id} closed.")


def test_a_call_task_already_done_is_left_alone(session: Session) -> None:
    d = debtor(session)
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=16))
    agent = make_staff(session, role="agent", at=local(DUE))
    task_id = session.execute(
        select(TASK.c.id).where(TASK.c.account_id == d.account.id)
    ).scalar_one()
    orders.complete_task(
        session=session,
        clock=FixedClock(local(DUE + timedelta(days=16), time(11, 0))),
        actor=agent,
        task_id=task_id,
        outcome="promised to pay on Friday",
    )
    stop_by(session, d, "payment")
    assert call_tasks(session, d)[0][:2] == ("done", "promised to pay on Friday")
    assert "Call task" not in last_stop(session, d)[1]


def request(session: Session, d: Debtor, on: date) -> int:
    return arrangements.request_arrangement(
        session=session, clock=FixedClock(local(on, time(10, 0))), rules=RULES,
        account_id=d.account.id or 0, body="can I pay in two parts?",
    )  # fmt: skip


def test_a_request_nobody_acts_on_becomes_a_call_task_and_the_ladder_resumes(
    session: Session,
) -> None:
    assert RULES.collections.requested_arrangement_timeout_days == 5
    d = debtor(session)
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=2))
    arrangement_id = request(session, d, DUE + timedelta(days=2))
    days(session, DUE + timedelta(days=3), DUE + timedelta(days=6))
    row = session.execute(select(ARRANGEMENT).where(ARRANGEMENT.c.id == arrangement_id)).one()
    assert row.status == "requested" and call_tasks(session, d) == []
    report = run(session, local(DUE + timedelta(days=7), time(7, 30)))
    assert report.expired_requests == 1
    row = session.execute(select(ARRANGEMENT).where(ARRANGEMENT.c.id == arrangement_id)).one()
    assert row.status == "expired"
    assert row.closed_reason == "not agreed or declined within 5 days: the ladder resumes"
    task = session.execute(select(TASK).where(TASK.c.account_id == d.account.id)).one()
    assert (task.kind, task.status, task.reason) == ("call", "open", "arrangement_request_expired")
    assert f"on {DUE + timedelta(days=2)}" in task.detail
    step = session.execute(
        select(STEP.c.step, STEP.c.reason).where(STEP.c.case_id == task.case_id)
        .order_by(STEP.c.id.desc())
    ).first()  # fmt: skip
    assert step is not None and tuple(step) == (
        "arrangement_request_expired",
        "arrangement_request_expired",
    )
    case = session.execute(select(CASE).where(CASE.c.id == task.case_id)).one()
    assert case.resumed_on == DUE + timedelta(days=7)
    assert run(session, local(DUE + timedelta(days=7), time(9, 0))).expired_requests == 0
    # The ladder goes on, its days counted from the resumption: the offer a week later.
    days(session, DUE + timedelta(days=8), DUE + timedelta(days=14))
    taken = [s for s, t, _ in steps_of(session, d.account) if t]
    assert taken[-1] == "second_reminder_with_arrangement_offer"


def test_a_request_staff_agree_in_time_does_not_expire(session: Session) -> None:
    d = debtor(session)
    days(session, DUE + timedelta(days=1), DUE + timedelta(days=2))
    request(session, d, DUE + timedelta(days=2))
    boss = make_staff(session, role="collections", at=local(DUE))
    arrangements.create_arrangement(
        session=session, clock=FixedClock(local(DUE + timedelta(days=4), time(10, 0))),
        rules=RULES, actor=boss, account_id=d.account.id or 0,
        instalments=[(DUE + timedelta(days=20), Decimal("180.00"))],
    )  # fmt: skip
    days(session, DUE + timedelta(days=5), DUE + timedelta(days=12))
    statuses = session.execute(
        select(ARRANGEMENT.c.status).where(ARRANGEMENT.c.account_id == d.account.id)
    ).scalars()
    assert list(statuses) == ["active"]
    assert call_tasks(session, d) == []
