"""Late fee use cases (电费违约金): the daily accrual over every account with overdue bills,
waivers by an authorised person with a reason, and an account's statement by its number.

The accrual posts one entry per bill and day (dedupe key `late_fee:{bill}:{day}`), so running
a day again posts nothing new. It does not back-fill: a day the job did not run stays without
fees until someone accrues it explicitly (`wattdesk ledger accrue-late-fees --from`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from billing_core.audit.service import record_change
from billing_core.bills.statement import Statement, account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import Clock
from billing_core.customers.tables import Account, Customer
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert, fetch_converted
from billing_core.dedupe_keys import late_fee_key, late_fee_waiver_key
from billing_core.errors import Conflict, InvalidInput, NotFound, UnknownAccount
from billing_core.ledger.late_fees import CENT, BillTerms, daily_rate, fees_due, open_charges
from billing_core.ledger.model import ZERO, Entry, EntryKind, allocate
from billing_core.ledger.policy import LateFeePolicy
from billing_core.ledger.service import ledger_entries
from billing_core.ledger.tables import LedgerEntry
from billing_core.staff.service import require_role
from billing_core.staff.tables import StaffUser

LEDGER = table_of(LedgerEntry)
BILL = table_of(Bill)
ACCOUNT = table_of(Account)
CUSTOMER = table_of(Customer)
FEE_COLUMNS = (
    "account_id",
    "kind",
    "amount",
    "currency",
    "effective_on",
    "bill_id",
    "dedupe_key",
    "actor",
    "note",
    "created_at",
)
# Accounts per round of set queries: well under any driver's bound-parameter limit.
CHUNK = 1000
MAX_REASON = 300  # ledger_entry.note


@dataclass(frozen=True)
class AccrualReport:
    on: date
    accounts: int  # accounts owing something with a bill past due (the ones looked at)
    posted: int  # late fee entries posted by this run
    amount: Decimal  # their sum
    already_posted: int  # fees for this day that an earlier run had posted

    def as_json(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "accounts": self.accounts,
            "posted": self.posted,
            "amount": _cents(self.amount),
            "already_posted": self.already_posted,
        }


def accrue_late_fees(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    on: date,
    policy: LateFeePolicy,
    actor: str = "late-fee-run",
) -> AccrualReport:
    """Post the late fees owed for the local day `on`, in the caller's transaction.

    A bill's overdue amount is what is open on it at the start of `on` (entries effective
    before `on`, allocated as the policy says), so the result does not depend on when during
    or after the day the job runs, and a payment made on `on` still owes that day's fee
    ("计算至交纳日止"). Idempotent per bill and day; it never back-fills earlier days."""
    today = clock.now().astimezone(tz).date()
    if on > today:
        raise InvalidInput(f"late fees for {on.isoformat()} cannot be accrued before that day")
    owing = (
        session.execute(
            select(LEDGER.c.account_id)
            .where(
                LEDGER.c.effective_on < on,
                LEDGER.c.account_id.in_(
                    select(BILL.c.account_id).where(BILL.c.status == "issued", BILL.c.due_date < on)
                ),
            )
            .group_by(LEDGER.c.account_id)
            # Nothing is open on an account whose entries sum to zero or less (see `allocate`).
            .having(func.sum(LEDGER.c.amount) > ZERO)
            .order_by(LEDGER.c.account_id)
        )
        .scalars()
        .all()
    )
    posted, amount, already = 0, ZERO, 0
    now = clock.now()
    for start in range(0, len(owing), CHUNK):
        chunk = owing[start : start + CHUNK]
        rows = []
        done = _late_fee_keys_on(session, chunk, on)
        entries = _entries_before(session, chunk, on)
        terms, currency = _overdue_bills(session, chunk, on)
        for account_id, bills in terms.items():
            charges = open_charges(entries[account_id], bills, late_fees_last=policy.late_fees_last)
            overdue = {c.bill_id: c for c in charges}
            for bill_id, fee in fees_due(charges, on, policy):
                key = late_fee_key(bill_id, on)
                if key in done:
                    already += 1
                    continue
                charge = overdue[bill_id]
                rate = daily_rate(
                    customer_kind=charge.customer_kind,
                    charge_year=charge.charge_year,
                    today=on,
                    policy=policy,
                )
                rows.append(
                    (
                        account_id,
                        EntryKind.late_fee.value,
                        fee,
                        currency[bill_id],
                        on,
                        bill_id,
                        key,
                        actor,
                        f"{charge.open_amount} overdue × {rate} a day",
                        now,
                    )
                )
                posted += 1
                amount += fee
        # A concurrent run may have posted some of these a moment ago: theirs stand.
        bulk_insert(
            session.connection(), LEDGER, FEE_COLUMNS, rows, on_conflict_do_nothing=("dedupe_key",)
        )
    return AccrualReport(
        on=on, accounts=len(owing), posted=posted, amount=amount, already_posted=already
    )


def _late_fee_keys_on(session: Session, accounts: Sequence[int], on: date) -> set[str]:
    return set(
        session.execute(
            select(LEDGER.c.dedupe_key).where(
                LEDGER.c.account_id.in_(accounts),
                LEDGER.c.kind == EntryKind.late_fee.value,
                LEDGER.c.effective_on == on,
            )
        ).scalars()
    )


def _entries_before(session: Session, accounts: Sequence[int], on: date) -> dict[int, list[Entry]]:
    entries: dict[int, list[Entry]] = defaultdict(list)
    rows = fetch_converted(
        session.connection(),
        select(
            LEDGER.c.account_id,
            LEDGER.c.id,
            LEDGER.c.kind,
            LEDGER.c.amount,
            LEDGER.c.effective_on,
            LEDGER.c.bill_id,
            LEDGER.c.related_entry_id,
        )
        .where(LEDGER.c.account_id.in_(accounts), LEDGER.c.effective_on < on)
        .order_by(LEDGER.c.id),
    )
    make = Entry._make
    for row in rows:
        entries[row[0]].append(make(row[1:]))
    return entries


def _overdue_bills(
    session: Session, accounts: Sequence[int], on: date
) -> tuple[dict[int, dict[int, BillTerms]], dict[int, str]]:
    """The issued bills past their due date: their terms by account and bill id, and each
    bill's currency."""
    terms: dict[int, dict[int, BillTerms]] = defaultdict(dict)
    currency: dict[int, str] = {}
    rows = fetch_converted(
        session.connection(),
        select(BILL.c.account_id, BILL.c.id, BILL.c.due_date, CUSTOMER.c.kind, BILL.c.currency)
        .join(ACCOUNT, ACCOUNT.c.id == BILL.c.account_id)
        .join(CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id)
        .where(BILL.c.account_id.in_(accounts), BILL.c.status == "issued", BILL.c.due_date < on),
    )
    for account_id, bill_id, due_date, kind, bill_currency in rows:
        terms[account_id][bill_id] = BillTerms(due_date, kind)
        currency[bill_id] = bill_currency
    return terms, currency


# --- waivers ------------------------------------------------------------------------------


def waive_late_fees(
    *,
    session: Session,
    clock: Clock,
    tz: ZoneInfo,
    actor: StaffUser,
    account_id: int,
    reason: str,
    entry_ids: list[int] | None,
    policy: LateFeePolicy,
) -> list[LedgerEntry]:
    """Waive late fees on an account: the ones named (each must be a late fee of this account
    with something open), or every open one when `entry_ids` is None. Each gets a
    `late_fee_waiver` entry for what is open on it, and an audit entry with the reason.

    Only the roles the policy names may waive (admins always). What a payment already paid
    is not waived: that would be a refund."""
    require_role(actor, *policy.waiver_roles)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a waiver needs a reason")
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason is longer than {MAX_REASON} characters")
    fees: dict[int, LedgerEntry] = {}
    for fee in session.scalars(
        select(LedgerEntry)
        .where(
            col(LedgerEntry.account_id) == account_id,
            col(LedgerEntry.kind) == EntryKind.late_fee.value,
        )
        .order_by(col(LedgerEntry.id))
    ):
        assert fee.id is not None
        fees[fee.id] = fee
    entries = ledger_entries(session, account_id)
    open_by_entry = allocate(entries, late_fees_last=policy.late_fees_last).open_by_entry
    if entry_ids is None:
        chosen = [fee_id for fee_id in fees if open_by_entry.get(fee_id, ZERO) > ZERO]
    else:
        chosen = list(dict.fromkeys(entry_ids))
        unknown = [str(i) for i in chosen if i not in fees]
        if unknown:
            raise NotFound(f"no late fee {', '.join(unknown)} on account {account_id}")
        closed = [str(i) for i in chosen if open_by_entry.get(i, ZERO) <= ZERO]
        if closed:
            raise Conflict(f"late fee {', '.join(closed)} has nothing open to waive")
    earlier = Counter(e.related_entry_id for e in entries if e.kind == EntryKind.late_fee_waiver)
    who = f"staff:{actor.username}"
    today = clock.now().astimezone(tz).date()
    waivers = [
        LedgerEntry(
            account_id=account_id,
            kind=EntryKind.late_fee_waiver,
            amount=-open_by_entry[fee_id],
            currency=fees[fee_id].currency,
            effective_on=today,
            bill_id=fees[fee_id].bill_id,
            related_entry_id=fee_id,
            # A fee is waived once for what is open; the counter allows a later waiver should
            # something reopen it (a refund paid out before late fees), never two at once.
            dedupe_key=late_fee_waiver_key(fee_id, earlier[fee_id] + 1),
            actor=who,
            note=reason,
            created_at=clock.now(),
        )
        for fee_id in chosen
    ]
    try:
        with session.begin_nested():
            session.add_all(waivers)
            session.flush()
    except IntegrityError:
        raise Conflict("these late fees were being waived by someone else; look again") from None
    for waiver in waivers:
        record_change(
            session=session,
            clock=clock,
            actor=who,
            action="late_fee.waive",
            entity="ledger_entry",
            entity_id=waiver.related_entry_id,
            before={"open_amount": -waiver.amount},
            after={"open_amount": ZERO.quantize(CENT), "waiver_entry_id": waiver.id},
            reason=reason,
        )
    session.flush()
    return waivers


def waiver_json(waiver: LedgerEntry) -> dict[str, Any]:
    """A waiver entry as the API answers it: the amount waived, positive (the entry is its
    negative, crediting the late fee it names)."""
    return {
        "entry_id": waiver.id,
        "late_fee_entry_id": waiver.related_entry_id,
        "amount": str(-waiver.amount),
    }


# --- an account's statement -----------------------------------------------------------------


def account_by_number(session: Session, number: str) -> Account:
    account = session.scalars(select(Account).where(col(Account.number) == number)).first()
    if account is None:
        raise UnknownAccount(f"no account {number}")
    return account


@dataclass(frozen=True)
class AccountLedger:
    """An account's statement under the late fee policy's allocation order, with its most
    recent entries."""

    number: str
    statement: Statement
    recent: tuple[LedgerEntry, ...]  # newest first

    def as_json(self) -> dict[str, Any]:
        statement = self.statement
        return {
            "account": self.number,
            "currency": statement.currency,
            "balance": _cents(statement.balance),
            "credit": _cents(statement.credit),
            "amount_due": _cents(statement.amount_due),
            "late_fees_open": _cents(statement.late_fees_open),
            "bills": [bill.as_json() for bill in statement.bills],
            "recent_entries": [
                {
                    "id": entry.id,
                    "kind": entry.kind,
                    "amount": _cents(entry.amount),
                    "effective_on": entry.effective_on.isoformat(),
                    "bill_id": entry.bill_id,
                    "related_entry_id": entry.related_entry_id,
                    "actor": entry.actor,
                    "note": entry.note,
                }
                for entry in self.recent
            ],
        }


def _cents(amount: Decimal) -> str:
    # A sum over no entries is a bare 0: show every amount with its cents.
    return str(amount.quantize(CENT))


def account_ledger(
    *,
    session: Session,
    number: str,
    today: date,
    currency: str,
    policy: LateFeePolicy,
    recent: int = 20,
) -> AccountLedger:
    account = account_by_number(session, number)
    assert account.id is not None
    statement = account_statement(
        session=session,
        account_id=account.id,
        today=today,
        currency=currency,
        late_fees_last=policy.late_fees_last,
    )
    entries = session.scalars(
        select(LedgerEntry)
        .where(col(LedgerEntry.account_id) == account.id)
        .order_by(col(LedgerEntry.id).desc())
        .limit(recent)
    ).all()
    return AccountLedger(number=account.number, statement=statement, recent=tuple(entries))
