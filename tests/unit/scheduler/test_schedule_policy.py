"""policies/schedule.yaml and policies/outbox.yaml: the shipped files load to the built-in
defaults (the times the code had), and unknown or bad keys are refused with their path."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, load_payment_terms_policy
from billing_core.outbox.policy import DEFAULT_OUTBOX_POLICY, load_outbox_policy
from billing_core.policies import PolicyError
from scheduler.policy import DEFAULT_SCHEDULE, load_schedule_policy

HEAD = "version: 1\neffective_from: 2025-01-01\n"


def test_the_shipped_timetable_keeps_the_old_times() -> None:
    policy = load_schedule_policy()
    assert policy == DEFAULT_SCHEDULE
    jobs = policy.jobs
    assert (jobs.due_reminders.at, jobs.late_fees.at, jobs.live_retention.at) == (
        time(8, 0), time(0, 30), time(3, 15),
    )  # fmt: skip
    assert jobs.bill_notices.every_minutes == jobs.queue_timeouts.every_minutes == 1
    assert jobs.bill_run.at == time(22, 0) and policy.bill_run.catch_up_days == 7


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("jobs:\n  bill_runs: {at: '22:00'}\n", "jobs.bill_runs"),  # a misspelt job
        ("jobs:\n  bill_run: {at: '22:00', when: daily}\n", "jobs.bill_run.when"),
        ("jobs:\n  bill_run: {at: '25:00'}\n", "jobs.bill_run.at"),
        ("jobs:\n  bill_notices: {every_minutes: 0}\n", "jobs.bill_notices.every_minutes"),
        ("bill_run:\n  catch_up_days: 40\n", "bill_run.catch_up_days"),
        ("quiet_hours: 8-21\n", "quiet_hours"),
    ],
)
def test_the_timetable_refuses_unknown_and_bad_keys(tmp_path: Path, body: str, named: str) -> None:
    (tmp_path / "schedule.yaml").write_text(HEAD + body, encoding="utf-8")
    with pytest.raises(PolicyError, match=named.replace(".", r"\.")):
        load_schedule_policy(tmp_path)


def test_a_changed_time_is_read(tmp_path: Path) -> None:
    (tmp_path / "schedule.yaml").write_text(
        HEAD + "jobs:\n  bill_run: {at: '23:15', misfire_grace_minutes: 30}\n", encoding="utf-8"
    )
    policy = load_schedule_policy(tmp_path)
    assert policy.jobs.bill_run.at == time(23, 15)
    assert policy.jobs.bill_run.misfire_grace_minutes == 30
    assert policy.jobs.due_reminders == DEFAULT_SCHEDULE.jobs.due_reminders  # the rest kept


def test_the_outbox_policy_refuses_unknown_keys(tmp_path: Path) -> None:
    assert load_outbox_policy() == DEFAULT_OUTBOX_POLICY
    (tmp_path / "outbox.yaml").write_text(
        HEAD + "send_window:\n  allowed_from: '08:00'\n  allowed_till: '21:00'\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError, match=r"send_window\.allowed_till"):
        load_outbox_policy(tmp_path)


def test_the_payment_terms_policy_loads_and_refuses_unknown_kinds(tmp_path: Path) -> None:
    assert load_payment_terms_policy() == DEFAULT_PAYMENT_TERMS
    (tmp_path / "payment_terms.yaml").write_text(
        HEAD + "days_by_customer_kind:\n  residential: 20\n  industrial: 30\n", encoding="utf-8"
    )
    with pytest.raises(PolicyError, match=r"days_by_customer_kind\.industrial"):
        load_payment_terms_policy(tmp_path)
    (tmp_path / "payment_terms.yaml").write_text(
        HEAD + "days_by_customer_kind:\n  residential: 120\n", encoding="utf-8"
    )
    with pytest.raises(PolicyError, match=r"days_by_customer_kind\.residential"):
        load_payment_terms_policy(tmp_path)
