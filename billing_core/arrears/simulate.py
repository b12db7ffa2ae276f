"""The arrears policy simulator (`wattdesk simulate arrears`, docs/arrears.md).

Simulated customers (a behaviour mix, `policies/arrears_mixes/*.yaml`) get a bill a month and
respond to the ladder's steps with the mix's chances and delays. Each policy runs the same
customers (the same random draws per customer) through the real ladder (`model.next_steps`)
on the real working calendar, day by day: the ladder once a day at 10:00 local time,
collections approving each proposed work order at once (the humane ladder's planned time;
for a naive policy, whenever a crew gets there that day), the crew cutting at the approved
time, reconnection at the order's target. Every disconnection and reconnection is checked by
the independent checker (`checker.py`) against the humane rules, so a policy that breaks them
is counted. Late fees are left out: the money compared is the bills'.

Pure: no database, no clock but the simulated one."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from billing_core.arrears.checker import (
    Disconnection,
    HardRules,
    Rule,
    disconnection_violations,
    lenient_eligible,
    reconnection_violations,
)
from billing_core.arrears.model import (
    Arrangement,
    ArrearsState,
    OverdueCharge,
    Step,
    next_steps,
    recorded,
)
from billing_core.arrears.policy import LadderPolicy
from billing_core.calendar import WorkingCalendar
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy

ZERO = Decimal(0)
ONE = timedelta(days=1)
CENT = Decimal("0.01")
MIX_DIR = DEFAULT_POLICY_DIR / "arrears_mixes"
PAYMENT_TERMS = 15  # days from the bill to its due date (account.payment_terms_days default)
RUN_HOUR = time(10, 0)  # the daily ladder job, local time
PAY_HOUR = time(9, 30)  # a day's payments arrive before the job runs
COLLECTED_WITHIN = (30, 60, 90)
REMINDERS = {Step.overdue_notice, Step.second_reminder_with_arrangement_offer, Step.call_task}

# --- the behaviour mix (data) ---------------------------------------------------------------

Chance = Annotated[float, Field(ge=0, le=1)]
Days = tuple[Annotated[int, Field(ge=0, le=365)], Annotated[int, Field(ge=0, le=365)]]


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    p: Chance
    days: Days = (0, 0)
    unable: Chance = 0.0  # disconnection only: the chance it works while unable to pay


class Responses(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reminder: Response
    call: Response
    formal_notice: Response
    final_notice: Response
    disconnection: Response


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    share: Chance
    sensitive: Chance
    arrears_last_year: Chance
    pays_by_due: Chance
    unable_days: Days
    when_able: Response
    responses: Responses
    accepts_arrangement: Chance
    misses_instalment: Chance


class BillSize(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: Annotated[Decimal, Field(gt=0)]
    typical: Annotated[Decimal, Field(gt=0)]
    max: Annotated[Decimal, Field(gt=0)]


class ArrangementTerms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    instalments: Annotated[int, Field(ge=1, le=24)] = 3
    every_days: Annotated[int, Field(ge=7, le=92)] = 30
    first_after_days: Annotated[int, Field(ge=0, le=60)] = 7


class Mix(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    monthly_bill: BillSize
    arrangement: ArrangementTerms = ArrangementTerms()
    profiles: Annotated[dict[str, Profile], Field(min_length=1)]

    @model_validator(mode="after")
    def _shares(self) -> Self:
        total = sum(p.share for p in self.profiles.values())
        if abs(total - 1) > 1e-6:
            raise ValueError(f"the profiles' shares add up to {total}, not 1")
        return self


def load_mix(name_or_path: str) -> Mix:
    """A shipped mix by name (default, hardship, affluent) or a YAML file's path."""
    path = Path(name_or_path)
    if path.suffix == ".yaml":
        return load_policy(path.stem, Mix, path.parent)
    return load_policy(name_or_path, Mix, MIX_DIR)


# --- the population -------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    index: int
    profile: str
    kind: str
    sensitive: bool
    arrears_last_year: bool
    past_episodes: int
    bill_day: int  # day of the month the bill is issued
    bills: tuple[Decimal, ...]  # one a month
    seed: int


def population(mix: Mix, customers: int, months: int, seed: int) -> list[Customer]:
    rng = random.Random(seed)
    names = list(mix.profiles)
    weights = [mix.profiles[n].share for n in names]
    size = mix.monthly_bill
    people = []
    for index in range(customers):
        name = rng.choices(names, weights)[0]
        profile = mix.profiles[name]
        late_before = rng.random() < profile.arrears_last_year
        bills = tuple(
            Decimal(
                str(rng.triangular(float(size.min), float(size.max), float(size.typical)))
            ).quantize(CENT)
            for _ in range(months)
        )
        people.append(
            Customer(
                index=index,
                profile=name,
                kind="residential" if rng.random() < 0.95 else "non_residential",
                sensitive=rng.random() < profile.sensitive,
                arrears_last_year=late_before,
                past_episodes=rng.randint(1, 4) if late_before else int(rng.random() < 0.2),
                bill_day=rng.randint(1, 28),
                bills=bills,
                seed=rng.getrandbits(32),
            )
        )
    return people


# --- one customer's run ---------------------------------------------------------------------


@dataclass
class Tally:
    billed: Decimal = ZERO
    collected: dict[int, Decimal] = field(
        default_factory=lambda: dict.fromkeys(COLLECTED_WITHIN, ZERO)
    )
    disconnections: int = 0
    sensitive_disconnections: int = 0
    messages: int = 0
    calls: int = 0
    arrangements: int = 0
    review_tasks: int = 0
    reconnections: int = 0
    violations: Counter[str] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        self.billed += other.billed
        for days in COLLECTED_WITHIN:
            self.collected[days] += other.collected[days]
        self.disconnections += other.disconnections
        self.sensitive_disconnections += other.sensitive_disconnections
        self.messages += other.messages
        self.calls += other.calls
        self.arrangements += other.arrangements
        self.review_tasks += other.review_tasks
        self.reconnections += other.reconnections
        self.violations.update(other.violations)


@dataclass
class _Bill:
    bill_id: int
    due: date
    amount: Decimal
    open: Decimal


@dataclass(frozen=True)
class Simulation:
    policy: LadderPolicy
    rules: HardRules
    mix: Mix
    calendar: WorkingCalendar
    tz: tzinfo
    start: date
    months: int

    def at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)

    def run(self, customer: Customer) -> Tally:
        return _CustomerRun(self, customer).run()


class _CustomerRun:
    def __init__(self, sim: Simulation, customer: Customer) -> None:
        self.sim, self.c = sim, customer
        self.profile = sim.mix.profiles[customer.profile]
        self.rng = random.Random(customer.seed)
        self.tally = Tally()
        self.bills: list[_Bill] = []
        self.pay_on: date | None = None  # a payment of everything owed, planned
        self.unable_until: date | None = None
        self.instalments: list[date] = []  # an arrangement's remaining instalment days
        self.arrangement_missed_on: date | None = None
        self.state: ArrearsState | None = None  # the open case
        # an arrears a month before the run, for those with one in the last year
        self.last_arrears = sim.start - timedelta(days=30) if customer.arrears_last_year else None
        self.episodes = customer.past_episodes
        self.in_arrears = False
        self.paid_at: datetime | None = None

    # -- money --

    def owed(self) -> Decimal:
        return sum((b.open for b in self.bills), ZERO)

    def pay(self, amount: Decimal, day: date) -> None:
        for bill in self.bills:
            if amount <= ZERO:
                break
            part = min(bill.open, amount)
            if part <= ZERO:
                continue
            bill.open -= part
            amount -= part
            for within in COLLECTED_WITHIN:
                if (day - bill.due).days <= within:
                    self.tally.collected[within] += part

    def respond(self, response_p: float, days: tuple[int, int], day: date) -> None:
        if self.pay_on is not None or self.instalments:
            return
        if self.rng.random() < response_p:
            self.pay_on = day + timedelta(days=self.rng.randint(*days))

    def stimulus(self, name: str, day: date) -> None:
        response = getattr(self.profile.responses, name)
        unable = self.unable_until is not None and day < self.unable_until
        if unable and name != "disconnection":
            return
        self.respond(response.unable if unable else response.p, response.days, day)

    # -- the days --

    def run(self) -> Tally:
        sim, c = self.sim, self.c
        issues = [_add_months(sim.start, m).replace(day=c.bill_day) for m in range(sim.months)]
        end = issues[-1] + timedelta(days=PAYMENT_TERMS + max(COLLECTED_WITHIN))
        day, month = sim.start, 0
        while day <= end:
            if month < sim.months and day == issues[month]:
                self.issue(month, day)
                month += 1
            self.day(day)
            day += timedelta(days=1)
            if self.state is None:  # nothing open on the ladder: skip to the next event
                upcoming = issues[month] if month < sim.months else end + ONE
                day = max(day, min(self.next_event(), upcoming))
        return self.tally

    def next_event(self) -> date:
        days = [b.due - timedelta(days=3) for b in self.bills if b.open > ZERO]
        if self.pay_on is not None:
            days.append(self.pay_on)
        if self.instalments:
            days.append(self.instalments[0])
        if self.unable_until is not None:
            days.append(self.unable_until)
        return min(days, default=date.max)

    def issue(self, month: int, day: date) -> None:
        amount = self.c.bills[month]
        due = day + timedelta(days=PAYMENT_TERMS)
        self.bills.append(_Bill(month, due, amount, amount))
        self.tally.billed += amount
        idle = not self.in_arrears and self.pay_on is None and not self.instalments
        if idle and self.rng.random() < self.profile.pays_by_due:
            self.pay_on = due - timedelta(days=self.rng.randint(0, 10))

    def day(self, day: date) -> None:
        sim = self.sim
        now = sim.at(day, RUN_HOUR)
        self.payments(day)
        open_bills = [b for b in self.bills if b.open > ZERO]
        overdue = [b for b in open_bills if b.due < day]
        if overdue and not self.in_arrears:
            self.start_episode(day)
        if self.unable_until is not None and day == self.unable_until:
            when_able = self.profile.when_able
            self.respond(when_able.p, when_able.days, day)
        if self.state is None and not open_bills:
            return
        if self.state is None:
            if min(b.due for b in open_bills) - timedelta(days=3) > day:
                return  # nothing for the ladder before the friendly reminder
            self.state = self.new_state(day)
        state = self.refresh(self.state, open_bills, day)
        # the crew cuts at the approved time (approved work orders only)
        approved = state.approved_disconnection_at
        if (
            approved is not None
            and state.disconnected_at is None
            and approved <= now
            and state.paid_in_full_at is None
            and state.arrangement is None
        ):
            state = self.cut(state, approved)
        decisions = next_steps(state, policy=sim.policy, calendar=sim.calendar, tz=sim.tz, now=now)
        state = recorded(state, decisions, now)
        for decision in decisions:
            if not decision.taken:
                continue
            step = decision.step
            if step in (
                Step.reminder_friendly,
                Step.overdue_notice,
                Step.second_reminder_with_arrangement_offer,
            ):
                self.tally.messages += 1
                self.stimulus("reminder", day)
                if step == Step.second_reminder_with_arrangement_offer:
                    self.offer_arrangement(day)
            elif step == Step.call_task:
                self.tally.calls += 1
                self.stimulus("call", day)
                self.offer_arrangement(day)
            elif step == Step.formal_disconnection_notice:
                self.tally.messages += 1
                self.stimulus("formal_notice", day)
            elif step == Step.disconnection_work_order:
                assert decision.planned_disconnection_at is not None
                state = replace(
                    state, approved_disconnection_at=self.approve(decision.planned_disconnection_at)
                )
            elif step == Step.final_notice:
                self.tally.messages += 1
                if self.rng.random() < self.profile.responses.final_notice.p:
                    self.pay(self.owed(), day)  # paid before the cut
                    self.pay_on = None
                    self.instalments = []
            elif step == Step.review_task:
                self.tally.review_tasks += 1
            elif step == Step.reconnection_order:
                assert decision.target_at is not None
                self.tally.reconnections += 1
                if self.paid_at is not None:
                    broken = reconnection_violations(
                        paid_at=self.paid_at,
                        reconnected_at=decision.target_at,
                        rules=sim.rules,
                        calendar=sim.calendar,
                        tz=sim.tz,
                    )
                    self.tally.violations.update(r.value for r in broken)
                state = replace(state, disconnected_at=None, approved_disconnection_at=None)
        self.state = state
        if self.owed() <= ZERO and state.disconnected_at is None:
            self.close_case(day)  # paid: the next arrears is a new case

    def payments(self, day: date) -> None:
        if self.pay_on is not None and self.pay_on <= day:
            self.pay_on = None
            self.pay(self.owed(), day)
            self.instalments = []
        if self.instalments and self.instalments[0] <= day:
            remaining = len(self.instalments)
            self.instalments.pop(0)
            if self.rng.random() < self.profile.misses_instalment:
                self.instalments = []
                self.arrangement_missed_on = day
            else:
                self.pay((self.owed() / remaining).quantize(CENT), day)
                if not self.instalments:
                    self.pay(self.owed(), day)
        if self.owed() <= ZERO and self.in_arrears:
            self.paid_at = self.sim.at(day, PAY_HOUR)

    def start_episode(self, day: date) -> None:
        self.in_arrears = True
        low, high = self.profile.unable_days
        self.unable_until = day + timedelta(days=self.rng.randint(low, high)) if high else None
        if self.unable_until is not None and self.pay_on is not None:
            self.pay_on = max(self.pay_on, self.unable_until)

    def offer_arrangement(self, day: date) -> None:
        if self.instalments or self.arrangement_missed_on is not None or self.pay_on is not None:
            return
        if self.rng.random() < self.profile.accepts_arrangement:
            terms = self.sim.mix.arrangement
            first = day + timedelta(days=terms.first_after_days)
            self.instalments = [
                first + timedelta(days=terms.every_days * n) for n in range(terms.instalments)
            ]
            self.tally.arrangements += 1

    def approve(self, planned: datetime) -> datetime:
        """Collections approves the proposed time; under a policy without hour windows, the
        crew comes whenever it gets there that day (8:00–20:00)."""
        if any(w.any_time for w in self.sim.policy.disconnection.windows):
            day = planned.astimezone(self.sim.tz).date()
            return self.sim.at(day, time(self.rng.randint(8, 19), self.rng.choice((0, 30))))
        return planned

    def cut(self, state: ArrearsState, at: datetime) -> ArrearsState:
        sim = self.sim
        taken = {r.step: r.at for r in state.history if r.taken}
        final = None
        minutes = sim.policy.final_notice_minutes_before
        if Step.final_notice in taken and minutes is not None:
            final = at - timedelta(minutes=minutes)
        event = Disconnection(
            at=at,
            customer_kind=self.c.kind,
            sensitive=self.c.sensitive,
            lenient_eligible=lenient_eligible(
                arrears_in_last_12_months=state.arrears_in_last_12_months,
                past_episodes=state.past_arrears_episodes,
                owed=state.total_owed,
                small=sim.rules.small_amount,
            ),
            reminders_given=len(REMINDERS & taken.keys()),
            formal_notice_at=taken.get(Step.formal_disconnection_notice),
            final_notice_at=final,
            stopped=False,
        )
        broken = disconnection_violations(event, rules=sim.rules, calendar=sim.calendar, tz=sim.tz)
        self.tally.violations.update(r.value for r in broken)
        self.tally.disconnections += 1
        self.tally.sensitive_disconnections += self.c.sensitive
        self.stimulus("disconnection", at.astimezone(sim.tz).date())
        return replace(state, disconnected_at=at)

    def new_state(self, day: date) -> ArrearsState:
        recent = self.last_arrears is not None and (day - self.last_arrears).days <= 365
        return ArrearsState(
            account_id=self.c.index,
            customer_kind=self.c.kind,
            charges=(),
            total_owed=ZERO,
            arrears_in_last_12_months=recent,
            past_arrears_episodes=self.episodes,
            sensitivities=frozenset({"hardship"}) if self.c.sensitive else frozenset(),
        )

    def refresh(self, state: ArrearsState, open_bills: list[_Bill], day: date) -> ArrearsState:
        owed = self.owed()
        arrangement = None
        if self.instalments:
            arrangement = Arrangement(self.instalments[0], None)
        elif self.arrangement_missed_on is not None:
            arrangement = Arrangement(self.arrangement_missed_on, None, missed=True)
        return replace(
            state,
            charges=tuple(OverdueCharge(b.bill_id, b.due, b.open) for b in open_bills),
            total_owed=owed,
            arrangement=arrangement,
            resumed_on=self.arrangement_missed_on,
            paid_in_full_at=self.paid_at if owed <= ZERO else None,
        )

    def close_case(self, day: date) -> None:
        if self.in_arrears:
            self.episodes += 1
            self.last_arrears = day
        self.state = None
        self.in_arrears = False
        self.paid_at = None
        self.unable_until = None
        self.arrangement_missed_on = None


def _add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    return date(start.year + month // 12, month % 12 + 1, 1)


# --- a whole run ----------------------------------------------------------------------------


def calendar_years(start: date, months: int) -> list[int]:
    end = _add_months(start, months) + timedelta(days=PAYMENT_TERMS + max(COLLECTED_WITHIN) + 60)
    return list(range(start.year, end.year + 1))


def simulate(
    *,
    policy: LadderPolicy,
    rules: HardRules,
    mix: Mix,
    calendar: WorkingCalendar,
    tz: tzinfo,
    customers: list[Customer],
    start: date,
    months: int,
) -> Tally:
    """Every customer through one policy; the totals."""
    sim = Simulation(policy, rules, mix, calendar, tz, start, months)
    total = Tally()
    for customer in customers:
        total.add(sim.run(customer))
    return total


def report(tally: Tally, customers: int) -> dict[str, Any]:
    """One policy's figures, money as decimal strings."""
    return {
        "billed": str(tally.billed.quantize(CENT)),
        **{f"collected_{d}d": str(tally.collected[d].quantize(CENT)) for d in COLLECTED_WITHIN},
        "disconnections": tally.disconnections,
        "sensitive_disconnections": tally.sensitive_disconnections,
        "messages": tally.messages,
        "messages_per_customer": round(tally.messages / customers, 2) if customers else 0,
        "calls": tally.calls,
        "arrangements": tally.arrangements,
        "review_tasks": tally.review_tasks,
        "reconnections": tally.reconnections,
        "violations": sum(tally.violations.values()),
        "violations_by_rule": dict(sorted(tally.violations.items())),
    }


__all__ = [
    "Customer",
    "Mix",
    "Rule",
    "Tally",
    "calendar_years",
    "load_mix",
    "population",
    "report",
    "simulate",
]
