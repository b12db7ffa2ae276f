"""Arrears cases and the daily ladder run (docs/arrears.md, "Cases, arrangements, disputes,
orders" and "The daily job").

`run_ladder_chunk` is the daily job's unit of work: the next accounts owing something (or
with an open case) after a cursor, selected with SQL, their ladder states built in bulk (a
handful of set queries per chunk, never one per account), the pure ladder
(`model.next_steps`) called on each, and what it decided written in bulk: the steps, the
messages (outbox rows with a pay link, held to message hours), the call and review tasks,
the disconnection work orders (proposed: a person approves), the reconnection orders. Each
decision has a unique key, so a chunk run twice records, sends and raises nothing twice.

`stop_ladder` is what a payment, an arrangement or an open dispute does at once: the case's
pending ladder messages are cancelled with the reason, its pending work orders cancelled, a
reconnection raised where supply was (or may have been) cut, and a case paid in full closed.
Partial payments do not stop the ladder (the pure model's rule): only payment in full."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Table, and_, bindparam, func, literal, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from billing_core.arrears.forecast import with_forecast
from billing_core.arrears.model import (
    Arrangement,
    ArrearsState,
    OverdueCharge,
    Reason,
    StepDecision,
    StepRecord,
    ladder_kind,
    next_steps,
    reconnection_target,
)
from billing_core.arrears.policy import Step
from billing_core.arrears.rules import ArrearsRules
from billing_core.arrears.service import _entries_before, _overdue_bills
from billing_core.arrears.tables import (
    ArrearsCase,
    ArrearsStep,
    ArrearsTask,
    DisconnectionOrder,
    Dispute,
    Instalment,
    PaymentArrangement,
    ReconnectionOrder,
)
from billing_core.bills.run import cycle_collection_paused
from billing_core.clock import Clock
from billing_core.customers.tables import Account, Contact, Customer, CustomerSensitivity
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert, fetch_converted, reserve_ids
from billing_core.dedupe_keys import (
    arrears_message_key,
    arrears_purpose,
    arrears_step_key,
    due_reminder_key,
)
from billing_core.ledger.late_fees import open_charges
from billing_core.ledger.model import ZERO, Entry, EntryKind
from billing_core.ledger.tables import LedgerEntry
from billing_core.messages.segments import count_segments
from billing_core.messages.templates import day, label, money, render, short_day
from billing_core.outbox.model import AUTOMATED, CHANNEL_PREFERENCE, OUTBOX_COLUMNS, outbox_row
from billing_core.outbox.service import OUTBOX, cancel_pending

CASE = table_of(ArrearsCase)
STEP = table_of(ArrearsStep)
TASK = table_of(ArrearsTask)
ORDER = table_of(DisconnectionOrder)
RECONNECT = table_of(ReconnectionOrder)
ARRANGEMENT = table_of(PaymentArrangement)
INSTALMENT = table_of(Instalment)
DISPUTE = table_of(Dispute)
LEDGER = table_of(LedgerEntry)
ACCOUNT = table_of(Account)
CUSTOMER = table_of(Customer)
CONTACT = table_of(Contact)
SENSITIVITY = table_of(CustomerSensitivity)

# Accounts per unit of work (each its own transaction, holding SQLite's write lock while it
# runs). Fewer, bigger commits: every commit rewrites the pages its inserts touched, and in
# an index with random keys (the pay links' token hashes) a chunk touches nearly every leaf
# page once the table is large, so small chunks grew the run's cost faster than the number
# of accounts. Well under PostgreSQL's bound-parameter limit.
CHUNK = 5000
PAUSING = ("requested", "active")  # arrangement states that stop the ladder
# The message each ladder step sends (the friendly reminder before the due date is sent by
# notices.service.enqueue_due_reminders and recorded on the case when it opens).
TEMPLATES = {
    Step.overdue_notice: "arrears_overdue",
    Step.second_reminder_with_arrangement_offer: "arrears_arrangement_offer",
    Step.formal_disconnection_notice: "arrears_formal_notice",
    Step.final_notice: "arrears_final_notice",
}
STEP_COLUMNS = ("case_id", "step", "taken", "reason", "detail", "at", "earliest_at",
                "planned_at", "outbox_key", "dedupe_key")  # fmt: skip
OPEN_CASE_COLUMNS = ("id", "account_id", "status", "stage", "ladder", "oldest_due", "amount_owed",
                     "resumed_on", "opened_at", "closed_at", "closed_reason")  # fmt: skip
TASK_COLUMNS = ("case_id", "account_id", "kind", "reason", "detail", "status", "created_at",
                "completed_at", "completed_by", "outcome", "dedupe_key")  # fmt: skip
ORDER_COLUMNS = ("case_id", "account_id", "status", "planned_at", "approved_for", "decided_at",
                 "decided_by", "decision_reason", "executed_at", "created_at",
                 "dedupe_key")  # fmt: skip
RECONNECT_COLUMNS = ("case_id", "account_id", "disconnection_order_id", "reason", "status",
                     "raised_at", "target_at", "completed_at", "completed_by")  # fmt: skip

# Issues pay links for accounts' balances in bulk: {account id: URL}. The payments package
# (above this one) provides it: `payments.service.issue_balance_links`.
PayLinks = Callable[[Session, Sequence[int]], Mapping[int, str]]


@dataclass
class LadderChunk:
    """What one chunk did; the job calls again from `cursor` until `more` is False."""

    looked_at: int = 0
    cursor: int = 0
    more: bool = False
    opened: int = 0
    closed: int = 0
    steps: int = 0
    messages: int = 0
    tasks: int = 0
    orders: int = 0
    reconnections: int = 0
    missed_instalments: int = 0
    expired_requests: int = 0

    def add(self, other: LadderChunk) -> None:
        for name in ("looked_at", "opened", "closed", "steps", "messages", "tasks", "orders",
                     "reconnections", "missed_instalments", "expired_requests"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cursor, self.more = other.cursor, other.more

    def as_json(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k not in ("cursor", "more")}


# --- the daily run ---------------------------------------------------------------------------


def run_ladder_chunk(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    pay_links: PayLinks,
    currency: str,
    after_account_id: int = 0,
    limit: int = CHUNK,
) -> LadderChunk:
    """The ladder over the next `limit` accounts owing something after `after_account_id`
    (and the accounts with an open case among them), in the caller's transaction.

    The cyclic collector is paused for the chunk (as a bill run's part): its rows, states and
    decisions are tuples and frozen dataclasses in no reference cycle, and the collector's
    passes over them were about a sixth of the run's CPU time. The imported weather forecast
    is read into the rules first (`forecast.with_forecast`)."""
    rules = with_forecast(session, rules, clock.now())
    with cycle_collection_paused():
        return _ladder_chunk(
            session=session, clock=clock, rules=rules, pay_links=pay_links,
            currency=currency, after_account_id=after_account_id, limit=limit,
        )  # fmt: skip


def _ladder_chunk(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    pay_links: PayLinks,
    currency: str,
    after_account_id: int,
    limit: int,
) -> LadderChunk:
    now = clock.now()
    tz = rules.tz
    today = now.astimezone(tz).date()
    owing = list(
        session.execute(
            select(LEDGER.c.account_id)
            .where(LEDGER.c.account_id > after_account_id)
            .group_by(LEDGER.c.account_id)
            .having(func.sum(LEDGER.c.amount) > ZERO)
            .order_by(LEDGER.c.account_id)
            .limit(limit)
        )
        .scalars()
        .all()  # one fetchall, not a fetch per row
    )
    more = len(owing) == limit
    until = owing[-1] if more else None
    # The status as a literal, so that the partial index of open cases by account serves the
    # range (a bound parameter cannot match the index's WHERE: every open case was read).
    open_cases = select(CASE.c.account_id).where(
        CASE.c.status == literal("open", literal_execute=True),
        CASE.c.account_id > after_account_id,
    )
    if until is not None:
        open_cases = open_cases.where(CASE.c.account_id <= until)
    accounts = sorted(set(owing) | set(session.execute(open_cases).scalars()))
    report = LadderChunk(looked_at=len(accounts), cursor=until or 0, more=more)
    if not accounts:
        return report
    loaded = _load(session, accounts, today, now, rules)
    report.missed_instalments = _settle_instalments(session, loaded, today, now, rules)
    report.opened = _open_cases(session, loaded, now)
    report.expired_requests = _expire_requests(session, loaded, today, now, rules)
    writer = _Writer(session=session, now=now, today=today, rules=rules, currency=currency)
    calendar = rules.calendar(now)
    for account_id in accounts:
        state = loaded.state(account_id, now, rules)
        if state is None:
            continue
        decisions = next_steps(
            state,
            policy=rules.ladder,
            calendar=calendar,
            tz=tz,
            now=now,
            forecast=rules.forecast,
        )
        writer.add(loaded.cases[account_id], loaded, state, decisions)
    writer.flush(pay_links, report)
    return report


def _among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`. On SQLite the values go as one JSON array read by `json_each`:
    SQLAlchemy's coercion and expansion of a chunk's 2,000-value lists into bound parameters
    cost more Python than SQLite spent on the queries (about 5 % of the run). The plan is
    the same: the index on `column` searched once per value."""
    if session.get_bind().dialect.name != "sqlite":
        return column.in_(values)
    each = func.json_each(literal(json.dumps(list(values)), String)).table_valued("value")
    return column.in_(select(each.c.value))


@dataclass
class _Case:
    id: int
    resumed_on: date | None
    opened_at: datetime
    # as stored: (stage, ladder, amount owed, oldest due date); a run that would write the
    # same leaves the row alone (a second run the same day rewrote every case)
    stored: tuple[str, str, Decimal, date | None] | None = None


@dataclass
class _Arrangement:
    id: int
    status: str
    created_at: datetime


@dataclass
class _Loaded:
    """One chunk's accounts as the ladder needs them, from a few set queries."""

    entries: dict[int, list[Entry]]
    overdue: dict[int, list[OverdueCharge]]
    kind: dict[int, str]
    language: dict[int, str]
    number: dict[int, str]
    customer: dict[int, int]
    channels: dict[int, list[tuple[str, str]]]  # by account: (channel, address), preferred first
    sensitivities: dict[int, frozenset[str]]
    cases: dict[int, _Case]
    history: dict[int, list[StepRecord]]  # by case
    recent_arrears: set[int]
    past_cases: dict[int, int]
    arrangements: dict[int, list[_Arrangement]]  # by account, newest first
    instalments: dict[int, list[Any]]  # by arrangement, in order
    disputes: set[int]  # accounts with an open dispute
    approved: dict[int, tuple[int, datetime]]  # by case: (order id, approved for)
    executed: dict[int, tuple[int, datetime]]  # by case: (order id, executed at), not reconnected
    friendly: dict[int, tuple[datetime, bool]] = field(default_factory=dict)
    totals: dict[int, Decimal] = field(default_factory=dict)  # `total`'s answers, kept

    def total(self, account_id: int) -> Decimal:
        found = self.totals.get(account_id)
        if found is None:
            found = sum((e.amount for e in self.entries.get(account_id, ())), ZERO)
            self.totals[account_id] = found
        return found

    def arrangement(self, account_id: int) -> Arrangement | None:
        for row in self.arrangements.get(account_id, ()):
            if row.status in PAUSING:
                return Arrangement()
            if row.status == "missed":
                return Arrangement(missed=True)
            break
        return None

    def state(self, account_id: int, now: datetime, rules: ArrearsRules) -> ArrearsState | None:
        case = self.cases.get(account_id)
        if case is None:
            return None
        approved = self.approved.get(case.id)
        executed = self.executed.get(case.id)
        return ArrearsState(
            account_id=account_id,
            customer_kind=self.kind[account_id],
            charges=tuple(self.overdue.get(account_id, ())),
            total_owed=self.total(account_id),
            arrears_in_last_12_months=account_id in self.recent_arrears,
            past_arrears_episodes=self.past_cases.get(account_id, 0),
            arrangement=self.arrangement(account_id),
            open_dispute=account_id in self.disputes,
            sensitivities=self.sensitivities.get(account_id, frozenset()),
            language=self.language[account_id],
            channels=tuple(c for c, _ in self.channels.get(account_id, ())),
            history=tuple(self.history.get(case.id, ())),
            approved_disconnection_at=approved[1] if approved else None,
            disconnected_at=executed[1] if executed else None,
            resumed_on=case.resumed_on,
        )


def _load(
    session: Session, accounts: list[int], today: date, now: datetime, rules: ArrearsRules
) -> _Loaded:
    tomorrow = today + timedelta(days=1)
    entries = _entries_before(session, accounts, tomorrow)
    terms, _ = _overdue_bills(session, accounts, today)
    overdue: dict[int, list[OverdueCharge]] = {}
    for account_id, bills in terms.items():
        charges = open_charges(entries.get(account_id, []), bills, late_fees_last=True)
        found = [
            OverdueCharge(c.bill_id, c.due_date, c.open_amount)
            for c in charges
            if c.due_date is not None
        ]
        if found:
            overdue[account_id] = found
    kind, language, number, customer = {}, {}, {}, {}
    for account_id, acct_number, customer_id, customer_kind, lang in fetch_converted(
        session.connection(),
        select(ACCOUNT.c.id, ACCOUNT.c.number, ACCOUNT.c.customer_id, CUSTOMER.c.kind,
               CUSTOMER.c.language)
        .join(CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id)
        .where(_among(session, ACCOUNT.c.id, accounts)),
    ):  # fmt: skip
        kind[account_id], language[account_id] = customer_kind, lang
        number[account_id], customer[account_id] = acct_number, customer_id
    by_customer: dict[int, list[int]] = defaultdict(list)
    for account_id, customer_id in customer.items():
        by_customer[customer_id].append(account_id)
    channels = _channels(session, by_customer)
    sensitivities: dict[int, frozenset[str]] = {}
    found_kinds: dict[int, set[str]] = defaultdict(set)
    for customer_id, sensitivity in fetch_converted(
        session.connection(),
        select(SENSITIVITY.c.customer_id, SENSITIVITY.c.kind).where(
            SENSITIVITY.c.customer_id.in_(list(by_customer)),
            SENSITIVITY.c.valid_from <= today,
            or_(SENSITIVITY.c.valid_to.is_(None), SENSITIVITY.c.valid_to >= today),
        ),
    ):
        found_kinds[customer_id].add(sensitivity)
    for customer_id, kinds in found_kinds.items():
        for account_id in by_customer[customer_id]:
            sensitivities[account_id] = frozenset(kinds)
    cases: dict[int, _Case] = {}
    recent: set[int] = set()
    past: dict[int, int] = defaultdict(int)
    months = rules.ladder.leniency.good_history_months if rules.ladder.leniency else 12
    since = now - timedelta(days=round(months * 30.44))
    for (case_id, account_id, status, resumed_on, opened_at, closed_at, stage, ladder, owed,
         oldest) in fetch_converted(
        session.connection(),
        select(CASE.c.id, CASE.c.account_id, CASE.c.status, CASE.c.resumed_on,
               CASE.c.opened_at, CASE.c.closed_at, CASE.c.stage, CASE.c.ladder,
               CASE.c.amount_owed, CASE.c.oldest_due)
        .where(_among(session, CASE.c.account_id, accounts)),
    ):  # fmt: skip
        if status == "open":
            cases[account_id] = _Case(case_id, resumed_on, opened_at, (stage, ladder, owed, oldest))
        else:
            past[account_id] += 1
            if closed_at is not None and closed_at >= since:
                recent.add(account_id)
    loaded = _Loaded(
        entries=entries, overdue=overdue, kind=kind, language=language, number=number,
        customer=customer, channels=channels, sensitivities=sensitivities, cases=cases,
        history={}, recent_arrears=recent, past_cases=dict(past), arrangements={},
        instalments={}, disputes=set(), approved={}, executed={},
    )  # fmt: skip
    _load_case_details(session, loaded, accounts)
    return loaded


def _channels(
    session: Session, by_customer: Mapping[int, list[int]]
) -> dict[int, list[tuple[str, str]]]:
    """Each account's reachable contacts (verified, taking notices, not opted out, not known
    unreachable), the preferred channel first (as outbox.service.reachable_contact)."""
    found: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for customer_id, channel, address in fetch_converted(
        session.connection(),
        select(CONTACT.c.customer_id, CONTACT.c.channel, CONTACT.c.address)
        .where(
            _among(session, CONTACT.c.customer_id, list(by_customer)), CONTACT.c.verified.is_(True),
            CONTACT.c.notify.is_(True), CONTACT.c.opted_out.is_(False),
            CONTACT.c.unreachable_at.is_(None),
            CONTACT.c.channel.in_([str(c) for c in CHANNEL_PREFERENCE]),
        )
        .order_by(CONTACT.c.id),
    ):  # fmt: skip
        for account_id in by_customer[customer_id]:
            found[account_id].append((channel, address))
    rank = {channel: index for index, channel in enumerate(CHANNEL_PREFERENCE)}
    return {
        account_id: sorted(dict(reversed(pairs)).items(), key=lambda p: rank[p[0]])
        for account_id, pairs in found.items()
    }


def _load_case_details(session: Session, loaded: _Loaded, accounts: list[int]) -> None:
    case_ids = [c.id for c in loaded.cases.values()]
    history: dict[int, list[StepRecord]] = defaultdict(list)
    if case_ids:
        for case_id, step, at, taken, reason in fetch_converted(
            session.connection(),
            select(STEP.c.case_id, STEP.c.step, STEP.c.at, STEP.c.taken, STEP.c.reason).where(
                _among(session, STEP.c.case_id, case_ids)
            ),
        ):
            history[case_id].append(StepRecord(Step(step), at, taken, Reason(reason)))
        for order_id, case_id, status, approved_for, executed_at in session.execute(
            select(ORDER.c.id, ORDER.c.case_id, ORDER.c.status, ORDER.c.approved_for,
                   ORDER.c.executed_at)
            .where(_among(session, ORDER.c.case_id, case_ids),
                   ORDER.c.status.in_(["approved", "executed"]))
            .order_by(ORDER.c.id)
        ):  # fmt: skip
            if status == "approved":
                loaded.approved[case_id] = (order_id, approved_for)
            else:
                loaded.executed[case_id] = (order_id, executed_at)
        done = set(
            session.execute(
                select(RECONNECT.c.disconnection_order_id).where(
                    _among(session, RECONNECT.c.case_id, case_ids), RECONNECT.c.status == "done"
                )
            ).scalars()
        )
        loaded.executed = {k: v for k, v in loaded.executed.items() if v[0] not in done}
    loaded.history = history
    arrangements: dict[int, list[_Arrangement]] = defaultdict(list)
    for row in session.execute(
        select(ARRANGEMENT.c.id, ARRANGEMENT.c.account_id, ARRANGEMENT.c.status,
               ARRANGEMENT.c.created_at)
        .where(ARRANGEMENT.c.account_id.in_(accounts),
               ARRANGEMENT.c.status.in_(["requested", "active", "missed"]))
        .order_by(ARRANGEMENT.c.id.desc())
    ):  # fmt: skip
        arrangements[row.account_id].append(_Arrangement(row.id, row.status, row.created_at))
    loaded.arrangements = arrangements
    active = [r.id for rows in arrangements.values() for r in rows if r.status == "active"]
    instalments: dict[int, list[Any]] = defaultdict(list)
    if active:
        for row in session.execute(
            select(INSTALMENT.c.id, INSTALMENT.c.arrangement_id, INSTALMENT.c.due_on,
                   INSTALMENT.c.amount, INSTALMENT.c.status)
            .where(INSTALMENT.c.arrangement_id.in_(active))
            .order_by(INSTALMENT.c.arrangement_id, INSTALMENT.c.seq)
        ):  # fmt: skip
            instalments[row.arrangement_id].append(row)
    loaded.instalments = instalments
    loaded.disputes = set(
        session.execute(
            select(DISPUTE.c.account_id).where(
                _among(session, DISPUTE.c.account_id, accounts), DISPUTE.c.status == "open"
            )
        ).scalars()
    )


def _settle_instalments(
    session: Session, loaded: _Loaded, today: date, now: datetime, rules: ArrearsRules
) -> int:
    """Instalments of active arrangements: paid once the payments since the arrangement
    cover them (in order); missed when still unpaid `instalment_grace_days` after their date,
    which ends the arrangement (`missed`) and resumes the ladder from today. All paid: the
    arrangement is completed."""
    grace = timedelta(days=rules.collections.instalment_grace_days)
    paid_rows: list[dict[str, Any]] = []
    missed_rows: list[dict[str, Any]] = []
    missed_arrangements: list[int] = []
    completed: list[int] = []
    resumed: list[int] = []
    for account_id, rows in loaded.arrangements.items():
        for row in rows:
            if row.status != "active":
                continue
            since = row.created_at.astimezone(rules.tz).date()
            paid = -sum(
                (e.amount for e in loaded.entries.get(account_id, ())
                 if e.kind == EntryKind.payment and e.effective_on >= since),
                ZERO,
            )  # fmt: skip
            covered, missed, left = ZERO, False, 0
            for instalment in loaded.instalments.get(row.id, ()):
                covered += instalment.amount
                if covered <= paid:
                    if instalment.status != "paid":
                        paid_rows.append({"b_id": instalment.id, "b_status": "paid"})
                elif instalment.due_on + grace < today:
                    missed = True
                    missed_rows.append({"b_id": instalment.id, "b_status": "missed"})
                    break
                else:
                    left += 1
            if missed:
                missed_arrangements.append(row.id)
                case = loaded.cases.get(account_id)
                if case is not None:
                    resumed.append(case.id)
                    case.resumed_on = today
            elif left == 0:
                completed.append(row.id)
    for settled in (paid_rows, missed_rows):
        if settled:
            session.connection().execute(
                update(INSTALMENT)
                .where(INSTALMENT.c.id == bindparam("b_id"))
                .values(status=bindparam("b_status"), settled_at=now),
                settled,
            )
    for ids, status, reason in ((missed_arrangements, "missed", "an instalment was missed"),
                                (completed, "completed", "every instalment paid")):  # fmt: skip
        if ids:
            session.execute(
                update(ARRANGEMENT).where(ARRANGEMENT.c.id.in_(ids))
                .values(status=status, closed_at=now, closed_reason=reason)
            )  # fmt: skip
    if resumed:
        session.execute(update(CASE).where(CASE.c.id.in_(resumed)).values(resumed_on=today))
    for rows in loaded.arrangements.values():
        for row in rows:
            if row.id in missed_arrangements:
                row.status = "missed"
            elif row.id in completed:
                row.status = "completed"
    return len(missed_rows)


def _expire_requests(
    session: Session, loaded: _Loaded, today: date, now: datetime, rules: ArrearsRules
) -> int:
    """Customers' requests for an arrangement that staff neither agreed nor declined within
    `requested_arrangement_timeout_days` (local days): each `expired`, and on the account's
    open case a call task (an agent calls the customer about it), the expiry recorded with
    its reason and the ladder resumed from today. Returns the requests expired."""
    days = rules.collections.requested_arrangement_timeout_days
    expired: list[tuple[_Arrangement, int]] = [
        (row, account_id)
        for account_id, rows in loaded.arrangements.items()
        for row in rows
        if row.status == "requested"
        and row.created_at.astimezone(rules.tz).date() + timedelta(days=days) <= today
    ]
    if not expired:
        return 0
    session.execute(
        update(ARRANGEMENT)
        .where(ARRANGEMENT.c.id.in_([row.id for row, _ in expired]),
               ARRANGEMENT.c.status == "requested")
        .values(status="expired", closed_at=now,
                closed_reason=f"not agreed or declined within {days} days: the ladder resumes")
    )  # fmt: skip
    step, reason = Step.arrangement_request_expired, Reason.arrangement_request_expired
    steps, tasks, resumed = [], [], []
    for row, account_id in expired:
        row.status = "expired"
        case = loaded.cases.get(account_id)
        if case is None:
            continue
        asked = row.created_at.astimezone(rules.tz).date()
        text = (f"The customer asked for a payment arrangement on {asked.isoformat()} and it "
                f"was neither agreed nor declined within {days} days: call them about it. "
                "The ladder resumes.")  # fmt: skip
        key = arrears_step_key(case.id, step, reason, True, today)
        steps.append((case.id, step.value, True, reason.value, text, now, now, None, None, key))
        tasks.append((case.id, account_id, "call", reason.value, text, "open", now, None, None,
                      "", key))  # fmt: skip
        loaded.history.setdefault(case.id, []).append(StepRecord(step, now, True, reason))
        case.resumed_on = today
        resumed.append(case.id)
    connection = session.connection()
    bulk_insert(connection, STEP, STEP_COLUMNS, steps, on_conflict_do_nothing=("dedupe_key",))
    bulk_insert(connection, TASK, TASK_COLUMNS, tasks, on_conflict_do_nothing=("dedupe_key",))
    if resumed:
        session.execute(update(CASE).where(CASE.c.id.in_(resumed)).values(resumed_on=today))
    return len(expired)


def _open_cases(session: Session, loaded: _Loaded, now: datetime) -> int:
    """A case for each account with an overdue open bill and none open; the friendly
    reminder the notices job sent about its oldest bill recorded on it as step 1 (the
    ladder's own step 1 is that reminder: one sender)."""
    new = [a for a in loaded.overdue if a not in loaded.cases]
    if not new:
        return 0
    # Their ids reserved (as a bill run's bills): the cases need not be read back.
    ids = reserve_ids(session.connection(), CASE, len(new))
    rows = []
    for case_id, account_id in zip(ids, new, strict=True):
        oldest = min(loaded.overdue[account_id], key=lambda c: (c.due_date, c.bill_id))
        owed = loaded.total(account_id)
        rows.append((case_id, account_id, "open", "opened", "standard", oldest.due_date,
                     owed, None, now, None, ""))  # fmt: skip
        stored = ("opened", "standard", owed, oldest.due_date)
        loaded.cases[account_id] = _Case(case_id, None, now, stored)
    # No open case for these was read in this transaction: a second opener fails.
    bulk_insert(session.connection(), CASE, OPEN_CASE_COLUMNS, rows)
    keys = {
        due_reminder_key(c.bill_id): account_id
        for account_id in new
        for c in loaded.overdue[account_id]
    }
    steps = []
    seen: set[int] = set()
    for key, status, created_at in fetch_converted(
        session.connection(),
        select(OUTBOX.c.dedupe_key, OUTBOX.c.status, OUTBOX.c.created_at)
        .where(_among(session, OUTBOX.c.dedupe_key, list(keys)))
        .order_by(OUTBOX.c.id),
    ):
        account_id = keys[key]
        case = loaded.cases[account_id]
        if account_id in seen:
            continue
        seen.add(account_id)
        taken = status != "cancelled"
        reason = Reason.due if taken else Reason.no_channel
        record = StepRecord(Step.reminder_friendly, created_at, taken, reason)
        loaded.history.setdefault(case.id, []).append(record)
        steps.append((case.id, Step.reminder_friendly.value, taken, reason.value,
                      "Friendly reminder before the due date (sent by the due-date reminders)."
                      if taken else "The due-date reminder could not be sent.",
                      created_at, created_at, None, key,
                      arrears_step_key(case.id, Step.reminder_friendly, reason, taken,
                                       None)))  # fmt: skip
    bulk_insert(
        session.connection(), STEP, STEP_COLUMNS, steps, on_conflict_do_nothing=("dedupe_key",)
    )
    return len(new)


@dataclass
class _Message:
    case_id: int
    account_id: int
    step: Step
    decision: StepDecision
    key: str


@dataclass
class _Writer:
    """Collects a chunk's decisions, then writes each kind of row in one statement."""

    session: Session
    now: datetime
    today: date
    rules: ArrearsRules
    currency: str
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    tasks: list[tuple[Any, ...]] = field(default_factory=list)
    orders: list[tuple[Any, ...]] = field(default_factory=list)
    messages: list[_Message] = field(default_factory=list)
    stops: list[tuple[int, int, str]] = field(default_factory=list)  # case, account, reason
    closes: list[int] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    loaded: _Loaded | None = None

    def add(
        self,
        case: _Case,
        loaded: _Loaded,
        state: ArrearsState,
        decisions: Iterable[StepDecision],
    ) -> None:
        self.loaded = loaded
        account_id = state.account_id
        stage = None
        for decision in decisions:
            step = decision.step
            once = decision.taken and step not in (Step.stop, Step.reconnection_order)
            key = arrears_step_key(
                case.id, step, decision.reason, decision.taken, None if once else self.today
            )
            outbox_key = None
            if decision.taken and step in TEMPLATES:
                outbox_key = arrears_message_key(case.id, step)
                self.messages.append(_Message(case.id, account_id, step, decision, outbox_key))
            self.steps.append((case.id, step.value, decision.taken, decision.reason.value,
                               decision.text[:500], self.now, decision.earliest_at,
                               decision.planned_disconnection_at, outbox_key, key))  # fmt: skip
            if not decision.taken:
                continue
            stage = step.value
            if step in (Step.call_task, Step.review_task):
                kind = "call" if step == Step.call_task else "review"
                self.tasks.append((case.id, account_id, kind, decision.reason.value,
                                   decision.text[:500], "open", self.now, None, None, "",
                                   key))  # fmt: skip
            elif step == Step.disconnection_work_order:
                self.orders.append((case.id, account_id, "proposed",
                                    decision.planned_disconnection_at, None, None, None, "",
                                    None, self.now, key))  # fmt: skip
            elif step == Step.stop:
                self.stops.append((case.id, account_id, decision.text))
                if decision.reason == Reason.paid_in_full:
                    self.closes.append(case.id)
        kind, _ = ladder_kind(state, self.rules.ladder)
        owed = max(state.total_owed, ZERO)
        oldest = min((c.due_date for c in state.charges), default=None)
        stored = case.stored
        if (
            stored is None
            or stage not in (None, stored[0])
            or (kind.value, owed) != stored[1:3]
            or oldest not in (None, stored[3])
        ):  # the update below would change the row
            self.stages.append({
                "b_id": case.id, "b_stage": stage, "b_ladder": kind.value, "b_owed": owed,
                "b_oldest": oldest,
            })  # fmt: skip
        if (not state.charges or state.total_owed <= ZERO) and case.id not in self.closes:
            self.closes.append(case.id)  # nothing was recorded on it: closed quietly

    def flush(self, pay_links: PayLinks, report: LadderChunk) -> None:
        connection = self.session.connection()
        bulk_insert(
            connection, STEP, STEP_COLUMNS, self.steps, on_conflict_do_nothing=("dedupe_key",)
        )
        bulk_insert(
            connection, TASK, TASK_COLUMNS, self.tasks, on_conflict_do_nothing=("dedupe_key",)
        )
        bulk_insert(
            connection, ORDER, ORDER_COLUMNS, self.orders, on_conflict_do_nothing=("dedupe_key",)
        )
        report.steps += len(self.steps)
        report.tasks += len(self.tasks)
        report.orders += len(self.orders)
        report.messages += self._send(pay_links)
        if self.stages:
            connection.execute(
                update(CASE)
                .where(CASE.c.id == bindparam("b_id"))
                .values(
                    stage=func.coalesce(bindparam("b_stage"), CASE.c.stage),
                    ladder=bindparam("b_ladder"),
                    amount_owed=bindparam("b_owed", type_=CASE.c.amount_owed.type),
                    oldest_due=func.coalesce(
                        bindparam("b_oldest", type_=CASE.c.oldest_due.type), CASE.c.oldest_due
                    ),
                ),
                self.stages,
            )
        for case_id, account_id, reason in self.stops:
            report.reconnections += stop_case(
                session=self.session, now=self.now, rules=self.rules, case_id=case_id,
                account_id=account_id, reason=reason,
            )  # fmt: skip
        if self.closes:
            connection.execute(
                update(CASE)
                .where(CASE.c.id.in_(self.closes), CASE.c.status == "open")
                .values(status="closed", closed_at=self.now, closed_reason="paid in full")
            )
            report.closed += len(self.closes)

    def _send(self, pay_links: PayLinks) -> int:
        loaded = self.loaded
        if not self.messages or loaded is None:
            return 0
        wanted = [m for m in self.messages if loaded.channels.get(m.account_id)]
        already = set(
            self.session.execute(
                select(OUTBOX.c.dedupe_key).where(
                    _among(self.session, OUTBOX.c.dedupe_key, [m.key for m in wanted])
                )
            ).scalars()
        )
        wanted = [m for m in wanted if m.key not in already]
        urls = pay_links(self.session, sorted({m.account_id for m in wanted})) if wanted else {}
        rows = []
        for message in wanted:
            account_id, decision = message.account_id, message.decision
            channel, address = loaded.channels[account_id][0]
            language = loaded.language[account_id]
            url = urls[account_id]
            body = render_step(
                message.step, language,
                account=loaded.number[account_id],
                amount=_money(loaded.total(account_id), self.currency, language),
                due=day(min(c.due_date for c in loaded.overdue[account_id]), language),
                url=url,
                planned=decision.planned_disconnection_at,
                tz=self.rules.tz,
            )  # fmt: skip
            segments = count_segments(body).parts if channel == "sms" else 1
            rows.append(outbox_row(
                dedupe_key=message.key, channel=channel, recipient=address,
                template=TEMPLATES[message.step], language=language, body=body,
                segments=segments, kind=AUTOMATED, purpose=arrears_purpose(message.case_id),
                not_before=decision.earliest_at or self.now, created_at=self.now,
                account_id=account_id, customer_id=loaded.customer[account_id],
                payload=_pay_button(language, url),
            ))  # fmt: skip
        bulk_insert(
            self.session.connection(), OUTBOX, OUTBOX_COLUMNS, rows,
            on_conflict_do_nothing=("dedupe_key",),
        )  # fmt: skip
        return len(rows)


# Amounts the fast form must write as `money` does before it is used (else `money` it is).
_PROBES = tuple(map(Decimal, ("0", "0.05", "7", "12.30", "999.99", "1000", "65432.1",
                              "100000.10", "1234567.89")))  # fmt: skip


@functools.cache
def _money_form(currency: str, language: str) -> Callable[[Decimal], str] | None:
    """`money` for one currency and language as a prefix, the number with two places grouped
    by thousands, and a suffix, read off Babel's own answer for a probe; None when that form
    does not give Babel's answer for every probe (a currency without two places, another
    grouping). Babel's formatting was a large share of a ladder message's cost."""
    shown = money(Decimal("1234567.89"), currency, language)
    prefix, number, suffix = shown.partition("1,234,567.89")
    if not number or "1,234,567.89" in suffix:
        return None

    def form(amount: Decimal) -> str:
        return f"{prefix}{amount:,.2f}{suffix}"

    if any(form(probe) != money(probe, currency, language) for probe in _PROBES):
        return None
    return form


@functools.cache
def _pay_button_around(language: str) -> tuple[str, str]:
    """The pay button's JSON before and after its URL's JSON string (see `_pay_button`)."""
    hole = "\x00"  # a character no URL holds
    text = json.dumps({"buttons": [[{"text": label("menu_pay", language), "url": hole}]]},
                      ensure_ascii=False)  # fmt: skip
    before, middle, after = text.partition(json.dumps(hole, ensure_ascii=False))
    assert middle and json.dumps(hole) not in after
    return before, after


def _pay_button(language: str, url: str) -> str:
    """`json.dumps({"buttons": [[{"text": <menu_pay>, "url": url}]]}, ensure_ascii=False)`,
    the message's pay button, with only the URL encoded per message."""
    before, after = _pay_button_around(language)
    return before + json.dumps(url, ensure_ascii=False) + after


def _money(amount: Decimal, currency: str, language: str) -> str:
    """What `money(amount, currency, language)` answers, for an amount of at most two places
    at or above zero without Babel's call (`_money_form`); any other through `money`."""
    form = _money_form(currency, language)
    if form is None or not amount.is_finite() or amount < 0:
        return money(amount, currency, language)
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        return money(amount, currency, language)
    return form(amount)


def render_step(
    step: Step,
    language: str,
    *,
    account: str,
    amount: str,
    due: str,
    url: str,
    planned: datetime | None,
    tz: Any,
) -> str:
    """A ladder step's message in the customer's language (templates in messages/)."""
    values: dict[str, str] = {"account": account, "amount": amount, "due": due, "url": url}
    if step in (Step.formal_disconnection_notice, Step.final_notice):
        assert planned is not None
        local = planned.astimezone(tz)
        values["date"] = short_day(local.date(), language)
        values["time"] = local.strftime("%H:%M")
    return render(TEMPLATES[step], language, **values)


# --- stopping the ladder ---------------------------------------------------------------------


def stop_case(
    *,
    session: Session,
    now: datetime,
    rules: ArrearsRules,
    case_id: int,
    account_id: int,
    reason: str,
) -> int:
    """What a stop does to one case: its pending ladder messages cancelled with `reason`,
    its open call tasks closed with `reason` (noted on the stop recorded at `now`), its
    proposed and approved work orders cancelled, and a reconnection order (target: the
    end of the working day) for a disconnection executed, or approved for a time already
    past (the crew may have cut supply before hearing). Returns the reconnections raised."""
    cancel_pending(session=session, purposes=[arrears_purpose(case_id)], reason=reason)
    _close_call_tasks(session, now=now, case_id=case_id, reason=reason)
    orders = session.execute(
        select(ORDER.c.id, ORDER.c.status, ORDER.c.approved_for).where(
            ORDER.c.case_id == case_id,
            ORDER.c.status.in_(["proposed", "approved", "executed"]),
        )
    ).all()
    cancel = [o.id for o in orders if o.status in ("proposed", "approved")]
    if cancel:
        session.execute(
            update(ORDER)
            .where(ORDER.c.id.in_(cancel))
            .values(status="cancelled", decision_reason=reason[:300], decided_at=now)
        )
    cut = [
        o.id
        for o in orders
        if o.status == "executed" or (o.status == "approved" and o.approved_for <= now)
    ]
    if not cut:
        return 0
    target = reconnection_target(
        now, policy=rules.ladder, calendar=rules.calendar(now), tz=rules.tz
    )
    rows = [(case_id, account_id, order_id, reason[:200], "open", now, target, None, None)
            for order_id in cut]  # fmt: skip
    before = _count(session, RECONNECT, RECONNECT.c.case_id == case_id)
    bulk_insert(
        session.connection(), RECONNECT, RECONNECT_COLUMNS, rows,
        on_conflict_do_nothing=("disconnection_order_id",),
    )  # fmt: skip
    return _count(session, RECONNECT, RECONNECT.c.case_id == case_id) - before


def _close_call_tasks(session: Session, *, now: datetime, case_id: int, reason: str) -> None:
    """The case's open call tasks closed (nobody need call: the ladder stopped), `reason`
    their outcome, and their ids added to the stop step recorded at `now` on the case."""
    closed = sorted(
        session.execute(
            update(TASK)
            .where(TASK.c.case_id == case_id, TASK.c.kind == "call", TASK.c.status == "open")
            .values(status="closed", completed_at=now, completed_by="ladder",
                    outcome=reason[:500])
            .returning(TASK.c.id)
        ).scalars()
    )  # fmt: skip
    if not closed:
        return
    note = " Call task " + ", ".join(f"#{i}" for i in closed) + " closed."
    session.execute(
        update(STEP)
        .where(STEP.c.case_id == case_id, STEP.c.step == Step.stop.value, STEP.c.at == now)
        .values(detail=func.substr(STEP.c.detail + note, 1, 500))
    )


def _count(session: Session, table: Table, *where: Any) -> int:
    return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def stop_ladder(
    *,
    session: Session,
    clock: Clock,
    rules: ArrearsRules,
    account_id: int,
    reason: Reason,
    words: str,
) -> int | None:
    """Stop the account's open case at once (a payment in full, an arrangement, a dispute):
    the stop recorded on it with its reason, then `stop_case`; a case paid in full closed.
    Returns the case's id (None: the account has no open case)."""
    now = clock.now()
    case_id = session.execute(
        select(CASE.c.id).where(CASE.c.account_id == account_id, CASE.c.status == "open")
    ).scalar()
    if case_id is None:
        return None
    text = f"The ladder stops: {words}."
    today = now.astimezone(rules.tz).date()
    bulk_insert(
        session.connection(), STEP, STEP_COLUMNS,
        [(case_id, Step.stop.value, True, reason.value, text, now, now, None, None,
          arrears_step_key(case_id, Step.stop, reason, True, today))],
        on_conflict_do_nothing=("dedupe_key",),
    )  # fmt: skip
    stop_case(session=session, now=now, rules=rules, case_id=case_id, account_id=account_id,
              reason=text)  # fmt: skip
    values: dict[str, Any] = {"stage": Step.stop.value}
    if reason == Reason.paid_in_full:
        values.update(status="closed", closed_at=now, closed_reason="paid in full")
    session.execute(update(CASE).where(CASE.c.id == case_id).values(**values))
    return int(case_id)


def after_payment(*, session: Session, clock: Clock, rules: ArrearsRules, account_id: int) -> None:
    """Called by the payments package once a payment is recorded: nothing overdue left on
    the account (paid in full) stops its ladder at once. A partial payment changes nothing
    here (the ladder's rule); the daily run reads the new balance."""
    today = clock.now().astimezone(rules.tz).date()
    tomorrow = today + timedelta(days=1)
    balance = session.execute(
        select(func.coalesce(func.sum(LEDGER.c.amount), ZERO)).where(
            LEDGER.c.account_id == account_id
        )
    ).scalar_one()
    if Decimal(balance) > ZERO:
        entries = _entries_before(session, [account_id], tomorrow).get(account_id, [])
        terms, _ = _overdue_bills(session, [account_id], today)
        still = open_charges(entries, terms.get(account_id, {}), late_fees_last=True)
        if still:
            return
    stop_ladder(session=session, clock=clock, rules=rules, account_id=account_id,
                reason=Reason.paid_in_full, words="paid in full")  # fmt: skip


# --- reading cases ---------------------------------------------------------------------------


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def case_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "account_id": row.account_id,
        "status": row.status,
        "stage": row.stage,
        "oldest_due": _iso(row.oldest_due),
        "amount_owed": str(row.amount_owed),
        "resumed_on": _iso(row.resumed_on),
        "opened_at": _iso(row.opened_at),
        "closed_at": _iso(row.closed_at),
        "closed_reason": row.closed_reason,
    }


def list_cases(
    *,
    session: Session,
    status: str | None = "open",
    stage: str | None = None,
    account_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Cases, newest first, filtered by status, stage and account."""
    query = select(CASE)
    if status is not None:
        query = query.where(CASE.c.status == status)
    if stage is not None:
        query = query.where(CASE.c.stage == stage)
    if account_id is not None:
        query = query.where(CASE.c.account_id == account_id)
    rows = session.execute(query.order_by(CASE.c.id.desc()).limit(limit).offset(offset)).all()
    return [case_json(row) for row in rows]


def account_numbers(session: Session, account_ids: Iterable[int]) -> dict[int, str]:
    """The account numbers of some account ids (a list's rows name their accounts)."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    rows = session.execute(
        select(ACCOUNT.c.id, ACCOUNT.c.number).where(ACCOUNT.c.id.in_(wanted))
    ).all()
    return {int(row.id): str(row.number) for row in rows}


def case_history(*, session: Session, case_id: int) -> dict[str, Any] | None:
    """A case with every step recorded on it, its tasks, orders, arrangements and disputes."""
    row = session.execute(select(CASE).where(CASE.c.id == case_id)).first()
    if row is None:
        return None
    steps = session.execute(
        select(STEP).where(STEP.c.case_id == case_id).order_by(STEP.c.at, STEP.c.id)
    ).all()
    return {
        **case_json(row),
        "steps": [
            {
                "step": s.step,
                "taken": s.taken,
                "reason": s.reason,
                "detail": s.detail,
                "at": _iso(s.at),
                "earliest_at": _iso(s.earliest_at),
                "planned_at": _iso(s.planned_at),
                "message_key": s.outbox_key,
            }
            for s in steps
        ],
        "tasks": _ids(session, TASK, TASK.c.case_id == case_id),
        "disconnection_orders": _ids(session, ORDER, ORDER.c.case_id == case_id),
        "reconnection_orders": _ids(session, RECONNECT, RECONNECT.c.case_id == case_id),
        "arrangements": _ids(
            session,
            ARRANGEMENT,
            and_(
                ARRANGEMENT.c.account_id == row.account_id,
                ARRANGEMENT.c.created_at >= row.opened_at,
            ),
        ),
        "disputes": _ids(
            session,
            DISPUTE,
            and_(DISPUTE.c.account_id == row.account_id, DISPUTE.c.opened_at >= row.opened_at),
        ),
    }


def _ids(session: Session, table: Table, where: Any) -> list[int]:
    return [
        int(i)
        for i in session.execute(select(table.c.id).where(where).order_by(table.c.id)).scalars()
    ]
