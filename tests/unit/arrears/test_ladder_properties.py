"""Properties of the arrears ladder over random clocks, calendars (random public holidays and
make-up working days), customers and payment histories, checked by the independent checker
(billing_core/arrears/checker.py) and by plain comparisons here: no disconnection planned or
done outside the allowed windows, for a sensitive or lenient customer, in a sensitive period,
without the notices before it, or after a payment, arrangement or dispute; a payment always
stops the ladder and raises a reconnection when supply is cut."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_core.arrears.checker import (
    Disconnection,
    HardRules,
    disconnection_violations,
    lenient_eligible,
    reconnection_violations,
)
from billing_core.arrears.model import (
    Arrangement,
    ArrearsState,
    OverdueCharge,
    Reason,
    Step,
    next_steps,
    recorded,
)
from billing_core.arrears.policy import load_arrears_policy
from billing_core.calendar import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_arrears_policy()
RULES = HardRules.from_policy(POLICY)
YEARS = frozenset({2025, 2026})
FIRST = date(2025, 1, 1)
REMINDERS = {Step.overdue_notice, Step.second_reminder_with_arrangement_offer, Step.call_task}
PLANNING = {Step.formal_disconnection_notice, Step.disconnection_work_order, Step.final_notice}


@st.composite
def calendars(draw: st.DrawFn) -> WorkingCalendar:
    """Random holidays (some in runs, as a festival's days are) and make-up weekend days."""
    holidays: dict[date, str] = {}
    for _ in range(draw(st.integers(0, 60))):
        start = FIRST + timedelta(days=draw(st.integers(0, 600)))
        for extra in range(draw(st.integers(1, 7))):
            holidays[start + timedelta(days=extra)] = "holiday"
    weekend_days = [
        FIRST + timedelta(days=n)
        for n in draw(st.lists(st.integers(0, 700), max_size=12))
        if (FIRST + timedelta(days=n)).weekday() >= 5
    ]
    return WorkingCalendar(
        country="ZZ",
        years=YEARS,
        public_holidays=MappingProxyType(holidays),
        makeup_working_days=frozenset(d for d in weekend_days if d not in holidays),
        weekend=frozenset({5, 6}),
    )


@st.composite
def states(draw: st.DrawFn) -> ArrearsState:
    due = FIRST + timedelta(days=draw(st.integers(0, 330)))
    # Hypothesis favours small numbers: a small amount (lenient) only when asked for.
    small = draw(st.integers(0, 9)) >= 8
    owed = Decimal(draw(st.integers(100, 4_999) if small else st.integers(5_000, 200_000))) / 100
    return ArrearsState(
        account_id=1,
        customer_kind=draw(st.sampled_from(["residential", "non_residential"])),
        charges=(OverdueCharge(1, due, owed),),
        total_owed=owed,
        # Most draws are customers the standard ladder may plan a disconnection for, so that
        # the planning rules are exercised; the rest are lenient, sensitive or unreachable.
        arrears_in_last_12_months=draw(st.sampled_from([True, True, True, False])),
        past_arrears_episodes=draw(st.sampled_from([1, 2, 3, 0])),
        sensitivities=draw(
            st.sampled_from(
                [frozenset(), frozenset(), frozenset({"moved_house"}), frozenset({"infant"})]
            )
        ),
        channels=draw(st.sampled_from([("sms",), ("sms",), ("telegram", "sms"), ()])),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ArrearsState, WorkingCalendar, dict[str, object]]:
    state = draw(states())
    events = {
        "hour": draw(st.integers(0, 23)),
        "minute": draw(st.sampled_from([0, 17, 30, 59])),
        # a day (after the due date) the customer pays, agrees an arrangement, disputes
        # (None most times: Hypothesis favours small numbers, so a die decides whether)
        "pay": draw(st.integers(-2, 80)) if draw(st.integers(0, 9)) >= 6 else None,
        "arrange": draw(st.integers(0, 80)) if draw(st.integers(0, 9)) >= 8 else None,
        "dispute": draw(st.integers(0, 80)) if draw(st.integers(0, 9)) >= 8 else None,
        # how the approving person moves the proposed time (hours; 0: as proposed)
        "approve_shift": draw(st.sampled_from([0, 0, 0, 2, 3, 5, 24, 48, -1])),
    }
    return state, draw(calendars()), events


def local(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ).astimezone(UTC)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_the_ladder_keeps_every_humane_rule(
    scenario: tuple[ArrearsState, WorkingCalendar, dict[str, object]],
) -> None:
    state, calendar, events = scenario
    hour, minute = int(str(events["hour"])), int(str(events["minute"]))
    due = state.charges[0].due_date
    lenient = lenient_eligible(
        arrears_in_last_12_months=state.arrears_in_last_12_months,
        past_episodes=state.past_arrears_episodes,
        owed=state.total_owed,
        small=Decimal("50"),
    )
    sensitive = bool(state.sensitivities & POLICY.sensitive.customer_kinds)
    taken_at: dict[Step, datetime] = {}
    stopped_since: datetime | None = None
    for offset in range(-4, 110):
        day = due + timedelta(days=offset)
        now = local(day, hour, minute)
        # what the customer did by today
        if events["pay"] is not None and offset >= int(str(events["pay"])):
            state = replace(state, paid_in_full_at=state.paid_in_full_at or now)
        if events["arrange"] is not None and offset >= int(str(events["arrange"])):
            state = replace(state, arrangement=state.arrangement or Arrangement(day, None))
        if events["dispute"] is not None and offset >= int(str(events["dispute"])):
            state = replace(state, open_dispute=True)
        stop_now = (
            state.paid_in_full_at is not None or state.arrangement is not None or state.open_dispute
        )
        # the field crew acts on an approved order at its time, once the final notice went
        approved = state.approved_disconnection_at
        cut = approved is not None and approved <= now and state.disconnected_at is None
        if cut and approved is not None and Step.final_notice in taken_at and not stop_now:
            state = replace(state, disconnected_at=approved)
            CUTS.append(approved)
            broken = disconnection_violations(
                Disconnection(
                    at=approved,
                    customer_kind=state.customer_kind,
                    sensitive=sensitive,
                    lenient_eligible=lenient,
                    reminders_given=len(REMINDERS & taken_at.keys()),
                    formal_notice_at=taken_at.get(Step.formal_disconnection_notice),
                    final_notice_at=taken_at.get(Step.final_notice),
                    stopped=False,
                ),
                rules=RULES,
                calendar=calendar,
                tz=TZ,
            )
            assert broken == [], broken
        decisions = next_steps(state, policy=POLICY, calendar=calendar, tz=TZ, now=now)
        steps = {d.step for d in decisions if d.taken}
        if stop_now:
            stopped_since = stopped_since or now
            assert steps <= {Step.stop, Step.reconnection_order}, decisions
            if state.paid_in_full_at is not None and state.disconnected_at is not None:
                assert (
                    state.disconnected_at < taken_at.get(Step.reconnection_order, FAR)
                    or Step.reconnection_order in steps
                )
        for decision in decisions:
            if not decision.taken:
                continue
            if decision.step in PLANNING:
                assert not sensitive and not lenient, decision
                assert taken_at.keys() >= REMINDERS, decision
                planned = decision.planned_disconnection_at
                assert planned is not None
                notice = taken_at.get(Step.formal_disconnection_notice, now)
                broken = disconnection_violations(
                    Disconnection(
                        at=planned,
                        customer_kind=state.customer_kind,
                        sensitive=False,
                        lenient_eligible=False,
                        reminders_given=3,
                        formal_notice_at=notice,
                        final_notice_at=planned - timedelta(minutes=30),
                        stopped=False,
                    ),
                    rules=RULES,
                    calendar=calendar,
                    tz=TZ,
                )
                assert broken == [], (decision, broken)
            if decision.step == Step.final_notice:
                assert decision.earliest_at is not None
                assert decision.earliest_at >= now
            if decision.step == Step.reconnection_order:
                assert state.paid_in_full_at is not None or state.arrangement is not None
                assert decision.target_at is not None
                if state.paid_in_full_at is not None:
                    assert not reconnection_violations(
                        paid_at=now,
                        reconnected_at=decision.target_at,
                        rules=RULES,
                        calendar=calendar,
                        tz=TZ,
                    )
            # a message counts from when it goes out (the final notice: before the approved time)
            taken_at.setdefault(decision.step, decision.earliest_at or now)
        state = recorded(state, decisions, now)
        # a person approves a proposed work order, sometimes at a time the rules forbid
        for decision in decisions:
            if decision.step == Step.disconnection_work_order and decision.taken:
                assert decision.planned_disconnection_at is not None
                shift = timedelta(hours=int(str(events["approve_shift"])))
                state = replace(
                    state, approved_disconnection_at=decision.planned_disconnection_at + shift
                )
    if state.paid_in_full_at is not None and state.history:
        assert any(r.step == Step.stop and r.reason == Reason.paid_in_full for r in state.history)


FAR = datetime(2100, 1, 1, tzinfo=UTC)
CUTS: list[datetime] = []  # the disconnections the runs made (the test below says some did)


def test_the_property_runs_reached_disconnections() -> None:
    """Not vacuous: the random runs above include disconnections (run in file order)."""
    if not CUTS:
        test_the_ladder_keeps_every_humane_rule()
    assert len(CUTS) >= 5
