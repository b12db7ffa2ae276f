"""The arrears ladder's rules, one example each, on the real Chinese calendar (2025–2026) and
the shipped policy (policies/arrears.yaml)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing_core.arrears.model import (
    Arrangement,
    ArrearsState,
    DailyForecast,
    OverdueCharge,
    Reason,
    Step,
    StepDecision,
    disconnection_blockers,
    ladder_kind,
    next_disconnection_slot,
    next_steps,
    reconnection_target,
    recorded,
)
from billing_core.arrears.policy import LadderPolicy, load_arrears_policy, load_ladder_policy_file
from billing_core.calendar import WorkingCalendar
from billing_core.policies import DEFAULT_POLICY_DIR, PolicyError

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_arrears_policy()
CAL = WorkingCalendar.for_country("CN", [2025, 2026])
DUE = date(2025, 3, 10)  # a Monday, no holiday or sensitive period near it
D = Decimal


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


def standard_state(**changes: object) -> ArrearsState:
    """An account with a bad history (arrears this year, not the first): the standard ladder."""
    state = ArrearsState(
        account_id=1,
        customer_kind="residential",
        charges=(OverdueCharge(bill_id=7, due_date=DUE, amount=D("320.00")),),
        total_owed=D("320.00"),
        arrears_in_last_12_months=True,
        past_arrears_episodes=2,
    )
    return replace(state, **changes)  # type: ignore[arg-type]


def run(
    state: ArrearsState,
    first: date,
    last: date,
    *,
    policy: LadderPolicy = POLICY,
    hour: int = 10,
    forecast: dict[date, DailyForecast] | None = None,
) -> tuple[ArrearsState, list[tuple[date, StepDecision]]]:
    """The ladder once a day from `first` to `last`, every decision recorded."""
    log = []
    day = first
    while day <= last:
        now = at(day, hour)
        decisions = next_steps(
            state, policy=policy, calendar=CAL, tz=TZ, now=now, forecast=forecast
        )
        log += [(day, d) for d in decisions]
        state = recorded(state, decisions, now)
        day += timedelta(days=1)
    return state, log


def taken(log: list[tuple[date, StepDecision]]) -> list[tuple[date, Step]]:
    return [(day, d.step) for day, d in log if d.taken]


def test_the_standard_ladder_runs_its_steps_on_their_days_once_each() -> None:
    state, log = run(standard_state(), DUE - timedelta(days=5), DUE + timedelta(days=60))
    assert taken(log) == [
        (DUE - timedelta(days=3), Step.reminder_friendly),
        (DUE + timedelta(days=1), Step.overdue_notice),
        (DUE + timedelta(days=7), Step.second_reminder_with_arrangement_offer),
        (DUE + timedelta(days=15), Step.call_task),
        (DUE + timedelta(days=30), Step.formal_disconnection_notice),
        (DUE + timedelta(days=30), Step.disconnection_work_order),
    ]
    notice = next(d for _, d in log if d.step == Step.formal_disconnection_notice)
    # 7 days after the notice (9 April 2025 is a Wednesday) at the first window's opening
    assert notice.planned_disconnection_at == at(date(2025, 4, 16), 9)
    assert notice.channel == "sms"
    # Idempotent: the same state and time answer nothing new once recorded.
    assert next_steps(state, policy=POLICY, calendar=CAL, tz=TZ, now=at(DUE + timedelta(60))) == []


def test_a_message_due_at_night_waits_for_the_message_hours() -> None:
    decisions = next_steps(
        standard_state(), policy=POLICY, calendar=CAL, tz=TZ, now=at(DUE + timedelta(1), 22, 30)
    )
    assert [d.step for d in decisions] == [Step.overdue_notice]
    assert decisions[0].earliest_at == at(DUE + timedelta(2), 8)


def test_an_account_entering_the_ladder_late_gets_its_steps_spaced() -> None:
    # No history at +20: the overdue notice first, the next one two days later, …
    _, log = run(standard_state(), DUE + timedelta(days=20), DUE + timedelta(days=27))
    assert taken(log) == [
        (DUE + timedelta(days=20), Step.overdue_notice),
        (DUE + timedelta(days=22), Step.second_reminder_with_arrangement_offer),
        (DUE + timedelta(days=24), Step.call_task),
    ]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"arrears_in_last_12_months": False}, "no arrears in the last 12 months"),
        ({"past_arrears_episodes": 0}, "a first arrears"),
        ({"total_owed": D("49.99")}, "owes less than 50.00"),
    ],
)
def test_leniency_runs_a_longer_ladder_without_disconnection(
    changes: dict[str, object], why: str
) -> None:
    state = standard_state(**changes)
    assert ladder_kind(state, POLICY)[1] == why
    _, log = run(state, DUE - timedelta(days=5), DUE + timedelta(days=120))
    assert taken(log) == [
        (DUE - timedelta(days=3), Step.reminder_friendly),
        (DUE + timedelta(days=3), Step.overdue_notice),
        (DUE + timedelta(days=14), Step.second_reminder_with_arrangement_offer),
        (DUE + timedelta(days=30), Step.call_task),
        (DUE + timedelta(days=60), Step.review_task),
    ]
    assert all(d.lenient for _, d in log)


@pytest.mark.parametrize("kind", ["medical_equipment", "elderly_alone", "hardship", "infant"])
def test_a_sensitive_customer_goes_to_a_person_instead_of_a_formal_notice(kind: str) -> None:
    _, log = run(standard_state(sensitivities=frozenset({kind})), DUE, DUE + timedelta(days=90))
    steps = [(d.step, d.taken, d.reason) for _, d in log]
    assert (Step.formal_disconnection_notice, False, Reason.sensitive_customer) in steps
    assert (Step.review_task, True, Reason.sensitive_customer) in steps
    assert not any(
        s in (Step.formal_disconnection_notice, Step.disconnection_work_order) and t
        for s, t, _ in steps
    )
    # reported once, not every day
    assert sum(1 for s, _, _ in steps if s == Step.review_task) == 1


def test_no_formal_notice_in_a_sensitive_period_and_the_plan_avoids_it() -> None:
    # The gaokao 2025 (5–10 June) starts on day +30 of a bill due 6 May.
    due = date(2025, 5, 6)
    state = standard_state(charges=(OverdueCharge(7, due, D("320.00")),))
    _, log = run(state, due, due + timedelta(days=45))
    skipped = [(day, d.reason) for day, d in log if d.step == Step.formal_disconnection_notice]
    assert skipped[0] == (date(2025, 6, 5), Reason.sensitive_period)
    notice = next(
        (day, d) for day, d in log if d.step == Step.formal_disconnection_notice and d.taken
    )
    assert notice[0] == date(2025, 6, 11)
    assert notice[1].planned_disconnection_at == at(date(2025, 6, 18), 9)


def test_the_plan_skips_weekends_holidays_the_day_before_and_extreme_heat() -> None:
    earliest = at(date(2025, 9, 26), 12)  # Friday at midday
    # Friday's afternoon window is open; but the next Tuesday 30 Sept is the day before the
    # National Day holidays; the make-up Sunday 28 Sept is a working day.
    assert next_disconnection_slot(earliest, policy=POLICY, calendar=CAL, tz=TZ) == at(
        date(2025, 9, 26), 14, 30
    )
    after = at(date(2025, 9, 26), 17)
    assert next_disconnection_slot(after, policy=POLICY, calendar=CAL, tz=TZ) == at(
        date(2025, 9, 28), 9
    )
    assert disconnection_blockers(
        at(date(2025, 9, 30), 10), policy=POLICY, calendar=CAL, tz=TZ
    ) == [Reason.day_before_holiday]
    hot = {date(2025, 9, 28): DailyForecast(D(26), D(36))}
    assert next_disconnection_slot(after, policy=POLICY, calendar=CAL, tz=TZ, forecast=hot) == at(
        date(2025, 9, 29), 9
    )
    assert Reason.outside_hours in disconnection_blockers(
        at(date(2025, 9, 29), 12), policy=POLICY, calendar=CAL, tz=TZ
    )


def test_an_approved_time_gets_a_final_notice_half_an_hour_before() -> None:
    state, _ = run(standard_state(), DUE - timedelta(days=5), DUE + timedelta(days=31))
    approved = at(date(2025, 4, 16), 9)
    state = replace(state, approved_disconnection_at=approved)
    decisions = next_steps(state, policy=POLICY, calendar=CAL, tz=TZ, now=at(date(2025, 4, 14)))
    assert [(d.step, d.earliest_at) for d in decisions] == [
        (Step.final_notice, approved - timedelta(minutes=30))
    ]


@pytest.mark.parametrize(
    ("approved", "blocker"),
    [
        (at(date(2025, 4, 16), 12), "outside_hours"),  # midday
        (at(date(2025, 4, 19), 10), "not_working_day"),  # Saturday
        (at(date(2025, 4, 11), 10), "notice_too_recent"),  # 2 days after the notice
    ],
)
def test_an_approval_breaking_a_rule_goes_back_to_a_person(
    approved: datetime, blocker: str
) -> None:
    state, _ = run(standard_state(), DUE - timedelta(days=5), DUE + timedelta(days=31))
    state = replace(state, approved_disconnection_at=approved)
    decisions = next_steps(state, policy=POLICY, calendar=CAL, tz=TZ, now=at(date(2025, 4, 10)))
    assert [(d.step, d.reason) for d in decisions] == [
        (Step.review_task, Reason.approval_not_allowed)
    ]
    assert blocker in decisions[0].text


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"paid_in_full_at": at(DUE + timedelta(days=20))}, Reason.paid_in_full),
        ({"arrangement": Arrangement(date(2025, 4, 1), D("100.00"))}, Reason.arrangement_active),
        ({"open_dispute": True}, Reason.dispute_open),
    ],
)
def test_payment_arrangement_or_dispute_stops_the_ladder_at_once(
    changes: dict[str, object], reason: Reason
) -> None:
    state, _ = run(standard_state(), DUE - timedelta(days=5), DUE + timedelta(days=8))
    state = replace(state, **changes)  # type: ignore[arg-type]
    state, log = run(state, DUE + timedelta(days=9), DUE + timedelta(days=90))
    assert [(d.step, d.reason) for _, d in log] == [(Step.stop, reason)]


def test_a_payment_after_disconnection_raises_a_reconnection_for_the_same_working_day() -> None:
    cut = at(date(2025, 4, 16), 9)
    state = standard_state(
        history=(),
        approved_disconnection_at=cut,
        disconnected_at=cut,
        paid_in_full_at=at(date(2025, 4, 16), 15),
    )
    decisions = next_steps(state, policy=POLICY, calendar=CAL, tz=TZ, now=at(date(2025, 4, 16), 15))
    assert [(d.step, d.reason) for d in decisions] == [
        (Step.stop, Reason.paid_in_full),
        (Step.reconnection_order, Reason.reconnect_after_payment),
    ]
    assert decisions[1].target_at == at(date(2025, 4, 16), 17)
    # Paid after hours on a Friday: the target is Monday's end of the working day.
    assert reconnection_target(at(date(2025, 4, 18), 18), policy=POLICY, calendar=CAL, tz=TZ) == at(
        date(2025, 4, 21), 17
    )
    state = recorded(state, decisions, at(date(2025, 4, 16), 15))
    assert next_steps(state, policy=POLICY, calendar=CAL, tz=TZ, now=at(date(2025, 4, 17))) == []


def test_a_missed_instalment_resumes_the_ladder_from_the_miss() -> None:
    state, _ = run(standard_state(), DUE - timedelta(days=5), DUE + timedelta(days=16))
    missed_on = DUE + timedelta(days=40)
    state = replace(
        state,
        arrangement=Arrangement(missed_on, D("100.00"), missed=True),
        resumed_on=missed_on,
    )
    _, log = run(state, missed_on, missed_on + timedelta(days=31))
    assert taken(log)[0] == (missed_on + timedelta(days=30), Step.formal_disconnection_notice)


def test_a_reminder_no_channel_can_carry_goes_to_a_person_and_blocks_the_formal_notice() -> None:
    _, log = run(standard_state(channels=()), DUE, DUE + timedelta(days=60))
    steps = [(d.step, d.taken, d.reason) for _, d in log]
    assert (Step.overdue_notice, False, Reason.no_channel) in steps
    assert (Step.review_task, True, Reason.no_channel) in steps
    assert (Step.call_task, True, Reason.due) in steps
    assert (Step.formal_disconnection_notice, False, Reason.earlier_step_missing) in steps
    assert not any(s == Step.disconnection_work_order for s, _, _ in steps)


def test_the_policy_refuses_unknown_keys_and_relaxed_rules_outside_simulation(
    tmp_path: Path,
) -> None:
    text = (DEFAULT_POLICY_DIR / "arrears.yaml").read_text(encoding="utf-8")
    (tmp_path / "arrears.yaml").write_text(text + "\nsurprise: 1\n", encoding="utf-8")
    with pytest.raises(PolicyError, match="surprise"):
        load_arrears_policy(tmp_path)
    relaxed = text.replace("working_days_only: true", "working_days_only: false")
    (tmp_path / "arrears.yaml").write_text(relaxed, encoding="utf-8")
    with pytest.raises(PolicyError, match="simulation_only"):
        load_arrears_policy(tmp_path)
    lenient_cut = text.replace(
        "    - {step: review_task, days: 60}",
        "    - {step: formal_disconnection_notice, days: 60}",
    )
    (tmp_path / "arrears.yaml").write_text(lenient_cut, encoding="utf-8")
    with pytest.raises(PolicyError, match="no disconnection step"):
        load_arrears_policy(tmp_path)


def test_the_naive_policy_loads_only_as_a_simulation(tmp_path: Path) -> None:
    naive = load_ladder_policy_file(DEFAULT_POLICY_DIR / "arrears_naive.yaml")
    assert naive.simulation_only
    text = (DEFAULT_POLICY_DIR / "arrears_naive.yaml").read_text(encoding="utf-8")
    (tmp_path / "arrears.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match="simulation-only"):
        load_arrears_policy(tmp_path)
