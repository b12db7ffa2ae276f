"""What a stop does to the work left for people, on SQLite and PostgreSQL: a payment in full,
an arrangement or a dispute closes the case's open call tasks with the reason (noted on the
stop in the case's history); a call task already done is left as it was."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import Session

from billing_core.arrears import arrangements, disputes, orders
from billing_core.arrears.cases import CASE, STEP, TASK
from billing_core.clock import FixedClock
from tests.factories import make_staff
from tests.integration.arrears.test_cases import DUE, RULES, Debtor, days, debtor, local, pay


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
