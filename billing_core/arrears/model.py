"""The arrears ladder as pure rules (docs/arrears.md, docs/domain.md §5).

`next_steps(state, policy=…, calendar=…, tz=…, now=…)` reads one account's arrears case (plain
frozen dataclasses: its open charges, history, arrangement, dispute, sensitivity, channels and
the steps already recorded) and answers the steps due now, each taken or skipped with its
reason. It stores nothing and sends nothing: the caller records every decision on the case
(in `history`, so the next call does not repeat it), puts messages in the outbox at their
`earliest_at`, and raises tasks and orders. Calling it again with the same state and time
answers the same; calling it again after recording its answer answers nothing new.

The humane rules are hard constraints here, not preferences:

- a disconnection is only planned (the formal notice, the work order) or accepted as approved
  inside the policy's windows on a working day that is not the day before a holiday, outside
  sensitive periods and extreme-temperature days (`disconnection_blockers`);
- a lenient case (no arrears in the last months, a first arrears, a small amount) runs the
  lenient ladder, which has no disconnection step;
- a sensitive customer is never put forward: a review task goes to a person instead;
- the formal notice comes only after every earlier step was taken, at least the policy's days
  before the planned date; the final notice before the approved time;
- a payment in full, an active arrangement or an open dispute stops the ladder at once
  (`stop`: cancel any pending work order); after payment (or an agreed arrangement) a
  disconnected account gets a reconnection order at once, targeted at the end of the same
  working day.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from billing_core.arrears.policy import (
    MESSAGE_STEPS,
    LadderPolicy,
    LadderRow,
    Step,
    Window,
)
from billing_core.calendar import WorkingCalendar
from billing_core.outbox.windows import next_send_time

ZERO = Decimal(0)
ONE_DAY = timedelta(days=1)
AUTOMATED = "arrears"  # an automated message for the send-window rule (not a reply)

__all__ = [
    "Arrangement",
    "ArrearsState",
    "DailyForecast",
    "LadderKind",
    "OverdueCharge",
    "Reason",
    "Step",
    "StepDecision",
    "StepRecord",
    "disconnection_blockers",
    "ladder_kind",
    "next_disconnection_slot",
    "next_steps",
    "reconnection_target",
    "recorded",
]


class Reason(StrEnum):
    """Why a step is taken or skipped (the readable text is in `StepDecision.text`)."""

    due = "due"  # the step's day has come and every earlier step is done
    paid_in_full = "paid_in_full"
    arrangement_active = "arrangement_active"
    dispute_open = "dispute_open"
    reconnect_after_payment = "reconnect_after_payment"
    reconnect_after_arrangement = "reconnect_after_arrangement"
    approved = "approved"  # a person approved the disconnection time: final notice
    lenient_ladder_done = "lenient_ladder_done"  # the lenient ladder's review task
    sensitive_customer = "sensitive_customer"
    sensitive_period = "sensitive_period"
    extreme_temperature = "extreme_temperature"
    no_channel = "no_channel"  # no way to send the customer a message
    earlier_step_missing = "earlier_step_missing"  # a reminder was skipped: no formal notice
    no_allowed_slot = "no_allowed_slot"  # no allowed day within the search span
    approval_not_allowed = "approval_not_allowed"  # the approved time breaks a humane rule
    final_notice_too_late = "final_notice_too_late"  # less than the notice's minutes left
    # a requested arrangement nobody acted on in time (recorded by the daily run)
    arrangement_request_expired = "arrangement_request_expired"
    # disconnection_blockers' answers for one instant
    outside_hours = "outside_hours"
    not_working_day = "not_working_day"
    day_before_holiday = "day_before_holiday"
    notice_too_recent = "notice_too_recent"
    outside_calendar = "outside_calendar"


class LadderKind(StrEnum):
    standard = "standard"
    lenient = "lenient"


@dataclass(frozen=True)
class OverdueCharge:
    """An open bill: what is still owed on it and its due date (not yet due: friendly
    reminder only)."""

    bill_id: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class Arrangement:
    """An active payment arrangement (缓缴/分期). `missed`: an instalment was missed, and the
    ladder resumes (from `ArrearsState.resumed_on`)."""

    next_instalment_on: date | None = None
    next_instalment_amount: Decimal | None = None
    missed: bool = False


@dataclass(frozen=True)
class StepRecord:
    """A decision the caller recorded on the case: what, when, taken or skipped, why."""

    step: Step
    at: datetime
    taken: bool
    reason: Reason


@dataclass(frozen=True)
class DailyForecast:
    """An imported forecast for one day, in °C."""

    low_c: Decimal
    high_c: Decimal


@dataclass(frozen=True)
class ArrearsState:
    """One account's arrears case, as plain values.

    - `charges`: the open bills with something owed, any due date (a bill not yet due gets
      only the friendly reminder); the ladder counts its days from the oldest due date.
    - `total_owed`: everything open on the account (bills and late fees), for leniency.
    - `arrears_in_last_12_months`: the account was in arrears in the policy's
      `leniency.good_history_months` before this case; `past_arrears_episodes`: how many
      cases it had before this one (0: this is its first arrears).
    - `history`: every decision recorded on this case (taken and skipped), any order.
    - `approved_disconnection_at`: the time a person approved on the work order, if any.
    - `disconnected_at`: when supply was cut (the field crew's report), if it is cut now.
    - `paid_in_full_at`: set when the case's arrears are paid in full.
    - `resumed_on`: the day the ladder resumed after a missed instalment or a closed dispute;
      steps not yet taken count their days from it.
    - `sensitivities`: the customer's current sensitivity kinds (customer_sensitivity.kind).
    - `channels`: the channels the customer can be messaged by now (empty: none).
    """

    account_id: int
    customer_kind: str
    charges: tuple[OverdueCharge, ...]
    total_owed: Decimal
    arrears_in_last_12_months: bool = False
    past_arrears_episodes: int = 0
    arrangement: Arrangement | None = None
    open_dispute: bool = False
    sensitivities: frozenset[str] = frozenset()
    language: str = "zh-CN"
    channels: tuple[str, ...] = ("sms",)
    history: tuple[StepRecord, ...] = ()
    approved_disconnection_at: datetime | None = None
    disconnected_at: datetime | None = None
    paid_in_full_at: datetime | None = None
    resumed_on: date | None = None


@dataclass(frozen=True)
class StepDecision:
    """A step due now. `taken`: do it (send at `earliest_at`, raise the task or order);
    skipped: record it with the reason and do nothing else. `planned_disconnection_at` on the
    formal notice and the work order; `target_at` on a reconnection order (the end of the
    working day); `channel` on a message (the first of the state's channels)."""

    step: Step
    taken: bool
    reason: Reason
    text: str
    earliest_at: datetime | None = None
    planned_disconnection_at: datetime | None = None
    target_at: datetime | None = None
    channel: str | None = None
    lenient: bool = field(default=False)


# --- the humane rules over one instant -----------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _send_time(
    decided: datetime,
    zone: tzinfo | None,
    fold: int,
    allowed_from: time,
    allowed_until: time,
    tz: tzinfo,
) -> datetime:
    """When a ladder message decided at `decided` may go out (`next_send_time`), kept: a run
    decides every account's messages at the same instant, and the send-window arithmetic
    was most of the pure ladder's time per account. `zone` and `fold` are in the key as two
    datetimes equal as instants (or as wall times in one zone) may still differ in them."""
    del zone, fold  # only the cache's key
    return next_send_time(
        decided, kind=AUTOMATED, allowed_from=allowed_from, allowed_until=allowed_until, tz=tz
    )


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def _in_windows(local: time, windows: tuple[Window, ...]) -> bool:
    return any(w.any_time or w.start <= local < w.until for w in windows)


def sensitive_period_on(day: date, policy: LadderPolicy) -> str | None:
    """The name of the policy's sensitive period covering `day`, if any."""
    return policy.sensitive.period_on(day)


def _extreme(day: date, policy: LadderPolicy, forecast: Mapping[date, DailyForecast]) -> bool:
    limits, today = policy.sensitive.temperature, forecast.get(day)
    if limits is None or today is None:
        return False
    return today.high_c >= limits.heat_at_or_above_c or today.low_c <= limits.cold_at_or_below_c


def _day_blockers(
    day: date,
    *,
    policy: LadderPolicy,
    calendar: WorkingCalendar,
    forecast: Mapping[date, DailyForecast],
) -> list[Reason]:
    rules, blockers = policy.disconnection, []
    try:
        if rules.working_days_only and not calendar.is_working_day(day):
            blockers.append(Reason.not_working_day)
        if rules.not_day_before_holiday and calendar.is_day_before_holiday(day):
            blockers.append(Reason.day_before_holiday)
    except ValueError:  # a day outside the calendar's years: not guessed
        blockers.append(Reason.outside_calendar)
    if sensitive_period_on(day, policy) is not None:
        blockers.append(Reason.sensitive_period)
    if _extreme(day, policy, forecast):
        blockers.append(Reason.extreme_temperature)
    return blockers


def disconnection_blockers(
    instant: datetime,
    *,
    policy: LadderPolicy,
    calendar: WorkingCalendar,
    tz: tzinfo,
    forecast: Mapping[date, DailyForecast] | None = None,
    sensitivities: frozenset[str] = frozenset(),
) -> list[Reason]:
    """Every humane rule a disconnection at `instant` would break (empty: allowed): outside
    the windows, not a working day, the day before a holiday, a sensitive period, an extreme
    forecast, a sensitive customer. For a person approving a work order's time as much as for
    the ladder planning one."""
    if instant.tzinfo is None:
        raise ValueError("disconnection_blockers needs an aware datetime")
    local = instant.astimezone(tz)
    blockers = []
    if sensitivities & policy.sensitive.customer_kinds:
        blockers.append(Reason.sensitive_customer)
    if not _in_windows(local.time().replace(tzinfo=None), policy.disconnection.windows):
        blockers.append(Reason.outside_hours)
    blockers += _day_blockers(
        local.date(), policy=policy, calendar=calendar, forecast=forecast or {}
    )
    return blockers


def next_disconnection_slot(
    earliest: datetime,
    *,
    policy: LadderPolicy,
    calendar: WorkingCalendar,
    tz: tzinfo,
    forecast: Mapping[date, DailyForecast] | None = None,
) -> datetime | None:
    """The first instant at or after `earliest` a disconnection may be planned for (the start
    of an allowed window, or `earliest` inside one), looking `disconnection.search_days` days
    ahead; None when there is none (a person decides)."""
    local = earliest.astimezone(tz)
    windows = sorted(policy.disconnection.windows, key=lambda w: w.start)
    for offset in range(policy.disconnection.search_days + 1):
        day = local.date() + timedelta(days=offset)
        if _day_blockers(day, policy=policy, calendar=calendar, forecast=forecast or {}):
            continue
        for window in windows:
            start = _local(day, window.start, tz)
            candidate = max(start, earliest)
            if window.any_time:
                if candidate.astimezone(tz).date() == day:
                    return candidate
                continue
            if candidate < _local(day, window.until, tz):
                return candidate
    return None


def reconnection_target(
    now: datetime, *, policy: LadderPolicy, calendar: WorkingCalendar, tz: tzinfo
) -> datetime:
    """The end of the working day: today's when `now` is before it on a working day, else the
    next working day's."""
    hours = policy.reconnection.working_day
    today = now.astimezone(tz).date()
    if calendar.is_working_day(today) and now < _local(today, hours.until, tz):
        return _local(today, hours.until, tz)
    return _local(calendar.next_working_day(today), hours.until, tz)


# --- the ladder ----------------------------------------------------------------------------


def ladder_kind(state: ArrearsState, policy: LadderPolicy) -> tuple[LadderKind, str]:
    """Standard or lenient, with the reason in words. Lenient when the policy has leniency and
    the account had no arrears in the last months, this is its first arrears, or it owes less
    than the small-amount threshold."""
    rules = policy.leniency
    if rules is None or policy.ladders.lenient is None:
        return LadderKind.standard, "the policy has no leniency"
    if not state.arrears_in_last_12_months:
        return (
            LadderKind.lenient,
            f"no arrears in the last {rules.good_history_months} months",
        )
    if rules.first_arrears and state.past_arrears_episodes == 0:
        return LadderKind.lenient, "a first arrears"
    if state.total_owed < rules.small_amount_below:
        return LadderKind.lenient, f"owes less than {rules.small_amount_below:.2f}"
    return LadderKind.standard, "no leniency applies"


def _taken(state: ArrearsState, step: Step) -> StepRecord | None:
    """The latest taken record of a step on this case."""
    found = None
    for record in state.history:
        if record.step == step and record.taken and (found is None or record.at > found.at):
            found = record
    return found


def _latest(state: ArrearsState, step: Step) -> StepRecord | None:
    found = None
    for record in state.history:
        if record.step == step and (found is None or record.at >= found.at):
            found = record
    return found


# Recorded beside a stop, in the same answer: they do not make the case resume.
_BESIDE_STOP = frozenset({Step.reconnection_order, Step.review_task})


def _resolved(state: ArrearsState, step: Step) -> StepRecord | None:
    """A row the ladder moves past: taken, or a reminder skipped as no channel reaches the
    customer (the call task still follows; the formal notice will not)."""
    taken = _taken(state, step)
    if taken is not None:
        return taken
    for record in state.history:
        if record.step == step and record.reason == Reason.no_channel:
            return record
    return None


def _fresh(state: ArrearsState, decision: StepDecision) -> bool:
    """A skip or a stop is reported once: not again while its latest record says the same.
    A review task is raised once per reason on a case."""
    if decision.step == Step.review_task:
        return not any(
            r.step == Step.review_task and r.reason == decision.reason for r in state.history
        )
    if decision.step == Step.stop:
        # Once per stop: not again until something else happened on the case (it resumed).
        latest = max(
            (r for r in state.history if r.step not in _BESIDE_STOP),
            key=lambda r: r.at,
            default=None,
        )
        return latest is None or latest.step != Step.stop or latest.reason != decision.reason
    if decision.taken:
        return True
    latest = _latest(state, decision.step)
    return latest is None or latest.reason != decision.reason or latest.taken


def next_steps(
    state: ArrearsState,
    *,
    policy: LadderPolicy,
    calendar: WorkingCalendar,
    tz: tzinfo,
    now: datetime,
    forecast: Mapping[date, DailyForecast] | None = None,
) -> list[StepDecision]:
    """The steps due on this case at `now` (aware), taken or skipped, each with its reason;
    empty when nothing is due. See the module's docstring for the rules; docs/arrears.md."""
    if now.tzinfo is None:
        raise ValueError("next_steps needs an aware datetime")
    ladder = _Ladder(state, policy, calendar, tz, now, forecast or {})
    return [d for d in ladder.decide() if _fresh(state, d)]


@dataclass
class _Ladder:
    state: ArrearsState
    policy: LadderPolicy
    calendar: WorkingCalendar
    tz: tzinfo
    now: datetime
    forecast: Mapping[date, DailyForecast]

    @functools.cached_property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    def decide(self) -> list[StepDecision]:
        state = self.state
        if state.paid_in_full_at is not None or not state.charges or state.total_owed <= ZERO:
            return self._stopped(
                Reason.paid_in_full, "paid in full", Reason.reconnect_after_payment
            )
        if state.open_dispute:
            return self._stopped(Reason.dispute_open, "a dispute is open", None)
        if state.arrangement is not None and not state.arrangement.missed:
            return self._stopped(
                Reason.arrangement_active,
                "a payment arrangement is active",
                Reason.reconnect_after_arrangement,
            )
        if state.disconnected_at is not None:
            return []  # supply is cut; what follows is a person's (or the payment's) move
        if state.approved_disconnection_at is not None:
            return self._approved(state.approved_disconnection_at)
        return self._ladder()

    # -- stops --

    def _stopped(self, reason: Reason, words: str, reconnect: Reason | None) -> list[StepDecision]:
        decisions = []
        pending = self.state.approved_disconnection_at is not None
        if self.state.history or pending:
            text = f"The ladder stops: {words}."
            if pending:
                text += " Cancel the approved disconnection work order."
            decisions.append(StepDecision(Step.stop, True, reason, text, earliest_at=self.now))
        cut = self.state.disconnected_at
        if reconnect is not None and cut is not None:
            done = _taken(self.state, Step.reconnection_order)
            if done is None or done.at < cut:
                target = reconnection_target(
                    self.now, policy=self.policy, calendar=self.calendar, tz=self.tz
                )
                decisions.append(
                    StepDecision(
                        Step.reconnection_order,
                        True,
                        reconnect,
                        f"Reconnect at once ({words}); target the end of the working day.",
                        earliest_at=self.now,
                        target_at=target,
                    )
                )
        return decisions

    # -- after a person approved the disconnection time --

    def _approved(self, approved: datetime) -> list[StepDecision]:
        minutes = self.policy.final_notice_minutes_before
        blockers = disconnection_blockers(
            approved,
            policy=self.policy,
            calendar=self.calendar,
            tz=self.tz,
            forecast=self.forecast,
            sensitivities=self.state.sensitivities,
        )
        notice = _taken(self.state, Step.formal_disconnection_notice)
        kind, _ = ladder_kind(self.state, self.policy)
        if notice is None:
            blockers.append(Reason.earlier_step_missing)
        elif approved < _local(
            self._sent_day(notice.at)
            + timedelta(days=self.policy.formal_notice_days.for_kind(self.state.customer_kind)),
            time(0),
            self.tz,
        ):
            blockers.append(Reason.notice_too_recent)
        if kind == LadderKind.lenient:
            blockers.append(Reason.approval_not_allowed)
        if blockers:
            words = ", ".join(b.value for b in blockers)
            return [
                StepDecision(
                    Step.review_task,
                    True,
                    Reason.approval_not_allowed,
                    f"The approved disconnection time breaks a rule ({words}): approve another"
                    " time or withdraw the work order.",
                    earliest_at=self.now,
                ),
            ]
        if minutes is None or _taken(self.state, Step.final_notice) is not None:
            return []
        send_at = approved - timedelta(minutes=minutes)
        if self.now > send_at:
            return [
                StepDecision(
                    Step.review_task,
                    True,
                    Reason.final_notice_too_late,
                    f"Less than {minutes} minutes are left before the approved time: the final"
                    " notice cannot go in time; approve a later time.",
                    earliest_at=self.now,
                )
            ]
        return [
            StepDecision(
                Step.final_notice,
                True,
                Reason.approved,
                f"Final notice {minutes} minutes before the approved disconnection time.",
                earliest_at=send_at,
                planned_disconnection_at=approved,
                channel=self._channel(),
            )
        ]

    # -- the ladder's rows --

    def _anchor(self) -> date:
        oldest = min(c.due_date for c in self.state.charges)
        resumed = self.state.resumed_on
        return max(oldest, resumed) if resumed is not None else oldest

    def _channel(self) -> str | None:
        return self.state.channels[0] if self.state.channels else None

    def _ladder(self) -> list[StepDecision]:
        kind, why = ladder_kind(self.state, self.policy)
        lenient = kind == LadderKind.lenient
        rows = self.policy.ladder(lenient)
        oldest_due = min(c.due_date for c in self.state.charges)
        anchor = self._anchor()
        last_taken: date | None = None
        for index, row in enumerate(rows):
            done = _resolved(self.state, row.step)
            if done is not None:
                day = done.at.astimezone(self.tz).date()
                last_taken = day if last_taken is None else max(last_taken, day)
                continue
            if row.days < 0 and self.today > oldest_due:
                continue  # a reminder before the due date, now past: nothing to send
            if row.days >= 0 and self.today <= oldest_due:
                return []  # not overdue yet
            if self.today < anchor + timedelta(days=row.days):
                return []
            spaced = last_taken is not None and self.today < last_taken + timedelta(
                days=self.policy.min_days_between_steps
            )
            if spaced and row.step != Step.disconnection_work_order:
                return []
            return self._row(row, rows[:index], lenient, why)
        return []

    def _row(
        self, row: LadderRow, earlier: tuple[LadderRow, ...], lenient: bool, why: str
    ) -> list[StepDecision]:
        step = row.step
        if step == Step.review_task:
            return [
                StepDecision(
                    step,
                    True,
                    Reason.lenient_ladder_done,
                    f"Lenient ladder ({why}) done and still unpaid: a person decides.",
                    earliest_at=self.now,
                    lenient=lenient,
                )
            ]
        if step in (Step.formal_disconnection_notice, Step.disconnection_work_order):
            return self._disconnection_row(row, earlier)
        if step in MESSAGE_STEPS and not self.state.channels:
            return [
                StepDecision(
                    step,
                    False,
                    Reason.no_channel,
                    "No channel reaches the customer: the reminder cannot be sent.",
                    lenient=lenient,
                ),
                StepDecision(
                    Step.review_task,
                    True,
                    Reason.no_channel,
                    "No channel reaches the customer: a person should contact them.",
                    earliest_at=self.now,
                    lenient=lenient,
                ),
            ]
        if step == Step.call_task:
            return [
                StepDecision(
                    step,
                    True,
                    Reason.due,
                    "An agent should call the customer and offer help and an arrangement.",
                    earliest_at=self.now,
                    lenient=lenient,
                )
            ]
        text = {
            Step.reminder_friendly: "Friendly reminder with the pay link before the due date.",
            Step.overdue_notice: "The bill is now overdue: pay link and how to get help.",
            Step.second_reminder_with_arrangement_offer: (
                "Second reminder, offering a payment arrangement (缓缴/分期)."
            ),
        }[step]
        return [
            StepDecision(
                step,
                True,
                Reason.due,
                text + (f" Lenient ladder: {why}." if lenient else ""),
                earliest_at=self._message_time(),
                channel=self._channel(),
                lenient=lenient,
            )
        ]

    def _sent_day(self, decided: datetime) -> date:
        """The local day a message decided at `decided` goes out (held for message hours)."""
        return self._message_time(decided).astimezone(self.tz).date()

    def _message_time(self, decided: datetime | None = None) -> datetime:
        hours = self.policy.message_hours
        at = decided or self.now
        return _send_time(at, at.tzinfo, at.fold, hours.start, hours.until, self.tz)

    def _disconnection_row(
        self, row: LadderRow, earlier: tuple[LadderRow, ...]
    ) -> list[StepDecision]:
        step, state = row.step, self.state
        sensitive = sorted(state.sensitivities & self.policy.sensitive.customer_kinds)
        if sensitive:
            return self._to_person(
                step,
                Reason.sensitive_customer,
                f"A sensitive customer ({', '.join(sensitive)}) is never put forward for"
                " disconnection: a person decides.",
            )
        missing = [r.step for r in earlier if _taken(state, r.step) is None]
        if missing:
            return self._to_person(
                step,
                Reason.earlier_step_missing,
                "Not every reminder was given ("
                + ", ".join(s.value for s in missing)
                + "): no formal notice; a person decides.",
            )
        if not state.channels:
            return self._to_person(
                step, Reason.no_channel, "No channel reaches the customer for the formal notice."
            )
        period = sensitive_period_on(self.today, self.policy)
        if period is not None:
            return [
                StepDecision(
                    step,
                    False,
                    Reason.sensitive_period,
                    f"A sensitive period ({period}): no disconnection is planned until it ends.",
                )
            ]
        notice_days = timedelta(days=self.policy.formal_notice_days.for_kind(state.customer_kind))
        notice = _taken(state, Step.formal_disconnection_notice)
        notice_day = self._sent_day(notice.at if notice is not None else self.now)
        first_day = max(notice_day + notice_days, self._anchor() + timedelta(days=row.days))
        # Planned from the notice's send time, not before the day the notice allows.
        slot = next_disconnection_slot(
            max(_local(first_day, time(0), self.tz), self.now),
            policy=self.policy,
            calendar=self.calendar,
            tz=self.tz,
            forecast=self.forecast,
        )
        if slot is None:
            return self._to_person(
                step,
                Reason.no_allowed_slot,
                f"No allowed day for a disconnection within {self.policy.disconnection.search_days}"
                " days of the earliest date: a person decides.",
            )
        when = slot.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        order = StepDecision(
            Step.disconnection_work_order,
            True,
            Reason.due,
            f"Propose a disconnection work order for {when}: a person must approve it.",
            earliest_at=self.now,
            planned_disconnection_at=slot,
        )
        if step == Step.disconnection_work_order:
            return [order]
        notice_decision = StepDecision(
            step,
            True,
            Reason.due,
            f"Formal disconnection notice; the planned date is {when} at the earliest.",
            earliest_at=self._message_time(),
            planned_disconnection_at=slot,
            channel=self._channel(),
        )
        # The work order is proposed with the notice when its row is next and due: the person
        # approving it has the whole notice period.
        rows = self.policy.ladders.standard
        position = [r.step for r in rows].index(step)
        following = rows[position + 1] if position + 1 < len(rows) else None
        if (
            following is not None
            and following.step == Step.disconnection_work_order
            and self.today >= self._anchor() + timedelta(days=following.days)
        ):
            return [notice_decision, order]
        return [notice_decision]

    def _to_person(self, step: Step, reason: Reason, text: str) -> list[StepDecision]:
        return [
            StepDecision(step, False, reason, text),
            StepDecision(Step.review_task, True, reason, text, earliest_at=self.now),
        ]


def recorded(state: ArrearsState, decisions: list[StepDecision], at: datetime) -> ArrearsState:
    """The state with `decisions` recorded in its history at `at` (what the caller stores on
    the case); for simulations and tests that run the ladder day after day."""
    if not decisions:
        return state
    records = tuple(StepRecord(d.step, at, d.taken, d.reason) for d in decisions)
    return replace(state, history=state.history + records)
