"""The ledger on SQLite and PostgreSQL: payments allocated oldest first, credit (预存) that the
next bill consumes, bill standings, a cancelled bill's reversal, refunds, the daily late fee
accrual (电费违约金) and its waiver, the statement API and `wattdesk ledger`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import count
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.deps import Reader, get_reader, get_session
from billing_core.arrears.service import accrue_late_fees, waive_late_fees
from billing_core.audit.service import history
from billing_core.bills.charges import reverse_bill_charge
from billing_core.bills.statement import Statement, account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import FixedClock
from billing_core.customers.model import CustomerKind
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine, session_scope
from billing_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from billing_core.ledger.model import BillStanding, EntryKind
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.ledger.tables import LedgerEntry
from billing_core.payments.service import record_payment
from billing_core.settings import Settings
from billing_core.staff import passwords as staff_passwords
from billing_core.staff.model import Role
from billing_core.staff.service import add_staff
from billing_core.staff.tables import StaffUser
from tests.factories import (
    make_account,
    make_bill,
    make_charge,
    make_customer,
    make_entry,
)

D = Decimal
TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_late_fee_policy()
AT = datetime(2025, 1, 1, tzinfo=UTC)
PASSWORD = "ledger-test-secret-42"
_references = count(1)


# --- set-up --------------------------------------------------------------------------------


def an_account(session: Session, kind: CustomerKind = CustomerKind.residential) -> Account:
    return make_account(session, customer=make_customer(session, at=AT, kind=kind.value))


def a_charged_bill(
    session: Session, account: Account, *, issued: date, total: str, due: date | None = None
) -> Bill:
    """A bill issued on `issued`, due 15 days later, with its charge in the ledger."""
    bill = make_bill(
        session,
        account=account,
        period_start=issued.replace(day=1) - timedelta(days=28),
        period_end=issued,
        total=D(total),
        due_date=due or issued + timedelta(days=15),
        at=AT,
    )
    make_charge(session, bill=bill, on=issued, at=AT)
    return bill


def pay(session: Session, clock: FixedClock, account: Account, amount: str, on: date) -> None:
    assert account.id is not None
    record_payment(
        session=session,
        clock=clock,
        tz=TZ,
        account_id=account.id,
        amount=D(amount),
        currency="CNY",
        channel="counter",
        provider_reference=f"R{next(_references):08d}",
        received_at=datetime.combine(on, time(12, 0), TZ),
    )


def statement(session: Session, account: Account, today: date) -> Statement:
    assert account.id is not None
    return account_statement(session=session, account_id=account.id, today=today, currency="CNY")


def standings(result: Statement) -> list[tuple[str, BillStanding]]:
    return [(str(line.open_amount), line.standing) for line in result.bills]


def late_fees(session: Session, account: Account) -> list[tuple[date, Decimal]]:
    entries = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.account_id == account.id, LedgerEntry.kind == EntryKind.late_fee)
        .order_by(col(LedgerEntry.effective_on), col(LedgerEntry.id))
    )
    return [(entry.effective_on, entry.amount) for entry in entries]


def accrue(session: Session, clock: FixedClock, on: date) -> tuple[int, Decimal, int]:
    report = accrue_late_fees(session=session, clock=clock, tz=TZ, on=on, policy=POLICY)
    return report.posted, report.amount, report.already_posted


def staff(session: Session, role: Role) -> StaffUser:
    user = StaffUser(
        username=f"{role.value}.{next(_references)}", role=role, password_hash="-", created_at=AT
    )
    session.add(user)
    session.flush()
    return user


def balance_is_sum_of_entries(session: Session, account: Account, result: Statement) -> None:
    amounts = session.exec(select(LedgerEntry.amount).where(LedgerEntry.account_id == account.id))
    assert result.balance == sum(amounts, D(0))
    assert (
        sum((b.open_amount for b in result.bills), D(0)) + result.late_fees_open - result.credit
        == result.balance
    )


# --- allocation, credit, standings ---------------------------------------------------------


def test_payments_pay_the_oldest_bill_first_across_bills(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="80.00")
    a_charged_bill(session, account, issued=date(2026, 9, 1), total="100.00")
    pay(session, clock, account, "150.00", date(2026, 10, 5))

    result = statement(session, account, date(2026, 10, 10))
    assert standings(result) == [("0.00", BillStanding.paid), ("30.00", BillStanding.partly_paid)]
    assert (result.balance, result.credit, result.amount_due) == (D("30.00"), 0, D("30.00"))
    later = statement(session, account, date(2026, 10, 17))  # the second is due on 10-16
    assert standings(later) == [("0.00", BillStanding.paid), ("30.00", BillStanding.overdue)]
    balance_is_sum_of_entries(session, account, later)


def test_an_overpayment_is_credit_that_the_next_bills_consume(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 8, 1), total="100.00")
    pay(session, clock, account, "130.00", date(2026, 8, 3))
    first = statement(session, account, date(2026, 8, 5))
    assert standings(first) == [("0.00", BillStanding.paid)]
    assert (first.balance, first.credit, first.amount_due) == (D("-30.00"), D("30.00"), 0)

    a_charged_bill(session, account, issued=date(2026, 9, 1), total="20.00")
    second = statement(session, account, date(2026, 9, 5))
    assert standings(second)[-1] == ("0.00", BillStanding.paid)  # credit paid it whole
    assert second.credit == D("10.00")

    a_charged_bill(session, account, issued=date(2026, 10, 1), total="50.00")
    third = statement(session, account, date(2026, 10, 5))
    assert standings(third)[-1] == ("40.00", BillStanding.partly_paid)
    assert (third.credit, third.balance) == (D("0.00"), D("40.00"))
    assert statement(session, account, date(2026, 10, 5)).open_bills == (third.bills[-1],)
    balance_is_sum_of_entries(session, account, third)


def test_a_bill_is_issued_until_paid_or_past_due(session: Session, clock: FixedClock) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="100.00")
    assert standings(statement(session, account, date(2026, 10, 16))) == [
        ("100.00", BillStanding.issued)  # due today: not yet overdue
    ]
    assert standings(statement(session, account, date(2026, 10, 17))) == [
        ("100.00", BillStanding.overdue)
    ]
    pay(session, clock, account, "100.00", date(2026, 10, 20))
    assert standings(statement(session, account, date(2026, 10, 21))) == [
        ("0.00", BillStanding.paid)
    ]


def test_a_cancelled_bills_reversal_turns_what_was_paid_into_credit_for_the_rebill(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    wrong = a_charged_bill(session, account, issued=date(2026, 10, 1), total="100.00")
    pay(session, clock, account, "100.00", date(2026, 10, 3))
    wrong.status = "cancelled"
    session.add(wrong)
    reversal = reverse_bill_charge(
        session=session, clock=clock, tz=TZ, bill=wrong, actor="test", reason="misread"
    )
    assert reversal is not None and reversal.amount == D("-100.00")
    cancelled = statement(session, account, date(2026, 10, 5))
    assert cancelled.bills == ()  # a cancelled bill is not shown
    assert (cancelled.credit, cancelled.balance) == (D("100.00"), D("-100.00"))

    a_charged_bill(session, account, issued=date(2026, 10, 5), total="90.00")
    rebilled = statement(session, account, date(2026, 10, 6))
    assert standings(rebilled) == [("0.00", BillStanding.paid)]
    assert rebilled.credit == D("10.00")
    balance_is_sum_of_entries(session, account, rebilled)


def test_a_refund_of_an_overpayment_takes_the_credit_back(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="100.00")
    pay(session, clock, account, "100.00", date(2026, 10, 3))
    pay(session, clock, account, "100.00", date(2026, 10, 3))  # the same bill paid twice
    assert statement(session, account, date(2026, 10, 4)).credit == D("100.00")

    make_entry(
        session,
        account=account,
        kind=EntryKind.refund,
        amount=D("100.00"),
        on=date(2026, 10, 9),
        at=AT,
    )
    refunded = statement(session, account, date(2026, 10, 10))
    assert (refunded.credit, refunded.balance) == (D("0.00"), D("0.00"))
    assert standings(refunded) == [("0.00", BillStanding.paid)]
    balance_is_sum_of_entries(session, account, refunded)


# --- late fees -----------------------------------------------------------------------------


def test_late_fees_accrue_once_a_day_from_the_day_after_the_due_date_until_payment_day(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")  # due 10-16

    assert accrue(session, clock, date(2026, 10, 16)) == (0, 0, 0)
    assert accrue(session, clock, date(2026, 10, 17)) == (1, D("1.00"), 0)
    assert accrue(session, clock, date(2026, 10, 17)) == (0, 0, 1)  # the same day again
    pay(session, clock, account, "400.00", date(2026, 10, 18))
    assert accrue(session, clock, date(2026, 10, 18)) == (1, D("1.00"), 0)  # payment day owes
    assert accrue(session, clock, date(2026, 10, 19)) == (1, D("0.60"), 0)  # on what is left
    pay(session, clock, account, "600.00", date(2026, 10, 19))
    assert accrue(session, clock, date(2026, 10, 19)) == (0, 0, 1)
    assert accrue(session, clock, date(2026, 10, 20)) == (0, 0, 0)  # late fees earn none

    assert late_fees(session, account) == [
        (date(2026, 10, 17), D("1.00")),
        (date(2026, 10, 18), D("1.00")),
        (date(2026, 10, 19), D("0.60")),
    ]
    keys = session.exec(
        select(LedgerEntry.dedupe_key).where(
            LedgerEntry.kind == EntryKind.late_fee, LedgerEntry.account_id == account.id
        )
    ).all()
    assert sorted(keys)[0].startswith("late_fee:") and sorted(keys)[0].endswith(":2026-10-17")
    # The payments went to the charge first: the bill is paid, its late fees are still open.
    result = statement(session, account, date(2026, 10, 20))
    assert standings(result) == [("0.00", BillStanding.paid)]
    assert (result.late_fees_open, result.balance) == (D("2.60"), D("2.60"))
    balance_is_sum_of_entries(session, account, result)


def test_late_fee_rates_follow_the_customer_kind_and_the_arrears_year(
    session: Session, clock: FixedClock
) -> None:
    home = an_account(session, CustomerKind.residential)
    shop = an_account(session, CustomerKind.non_residential)
    old_shop = an_account(session, CustomerKind.non_residential)
    settled = an_account(session)
    for account in (home, shop, settled):
        a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")
    a_charged_bill(session, old_shop, issued=date(2025, 12, 20), total="1000.00")
    pay(session, clock, settled, "1000.00", date(2026, 10, 10))

    posted, amount, _ = accrue(session, clock, date(2026, 10, 17))
    assert late_fees(session, home) == [(date(2026, 10, 17), D("1.00"))]  # 0.1 %
    assert late_fees(session, shop) == [(date(2026, 10, 17), D("2.00"))]  # 0.2 %, this year
    assert late_fees(session, old_shop) == [(date(2026, 10, 17), D("3.00"))]  # 0.3 %, 2025
    assert late_fees(session, settled) == []
    assert (posted, amount) == (3, D("6.00"))


def test_days_the_accrual_missed_are_filled_in_only_when_asked(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="500.00")
    accrue(session, clock, date(2026, 10, 17))
    accrue(session, clock, date(2026, 10, 20))
    assert [day.day for day, _ in late_fees(session, account)] == [17, 20]
    for day in (18, 19, 20):  # what `--from 2026-10-18 --date 2026-10-20` does
        accrue(session, clock, date(2026, 10, day))
    assert late_fees(session, account) == [(date(2026, 10, d), D("0.50")) for d in (17, 18, 19, 20)]


def test_late_fees_cannot_be_accrued_for_a_day_that_has_not_begun(
    session: Session, clock: FixedClock
) -> None:
    today = clock.now().astimezone(TZ).date()
    accrue(session, clock, today)
    with pytest.raises(InvalidInput):
        accrue(session, clock, today + timedelta(days=1))


def test_only_collections_or_admin_may_waive_late_fees_with_a_reason_and_it_is_audited(
    session: Session, clock: FixedClock
) -> None:
    account = an_account(session)
    assert account.id is not None
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")
    for day in (17, 18):
        accrue(session, clock, date(2026, 10, day))
    fees = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.kind == EntryKind.late_fee, LedgerEntry.account_id == account.id)
        .order_by(col(LedgerEntry.id))
    ).all()

    def waive(
        user: StaffUser, reason: str = "first arrears", ids: list[int] | None = None
    ) -> list[LedgerEntry]:
        return waive_late_fees(
            session=session,
            clock=clock,
            tz=TZ,
            actor=user,
            account_id=account.id or 0,
            reason=reason,
            entry_ids=ids,
            policy=POLICY,
        )

    with pytest.raises(PermissionDenied):
        waive(staff(session, Role.agent))
    with pytest.raises(InvalidInput):
        waive(staff(session, Role.collections), reason="  ")
    with pytest.raises(NotFound):
        waive(staff(session, Role.collections), ids=[999_999])

    collector = staff(session, Role.collections)
    waivers = waive(collector, ids=[fees[0].id or 0])
    assert [(w.related_entry_id, w.amount, w.kind) for w in waivers] == [
        (fees[0].id, D("-1.00"), EntryKind.late_fee_waiver)
    ]
    assert waivers[0].actor == f"staff:{collector.username}" and waivers[0].note == "first arrears"
    with pytest.raises(Conflict):  # nothing left open on it
        waive(collector, ids=[fees[0].id or 0])
    rest = waive(staff(session, Role.admin), reason="hardship")  # every open one
    assert [w.related_entry_id for w in rest] == [fees[1].id]
    assert waive(collector) == []  # nothing open any more

    audit = history(session=session, entity="ledger_entry", entity_id=fees[0].id)
    assert [(a.action, a.actor, a.reason) for a in audit] == [
        ("late_fee.waive", f"staff:{collector.username}", "first arrears")
    ]
    assert audit[0].before == {"open_amount": "1.00", "waiver_entry_id": None}
    assert audit[0].after == {"open_amount": "0.00", "waiver_entry_id": waivers[0].id}
    result = statement(session, account, date(2026, 10, 20))
    assert (result.late_fees_open, result.balance) == (D("0.00"), D("1000.00"))


def test_a_waiver_covers_only_what_payments_left_open(session: Session, clock: FixedClock) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")
    accrue(session, clock, date(2026, 10, 17))  # 1.00
    accrue(session, clock, date(2026, 10, 18))  # 1.00
    pay(session, clock, account, "1001.50", date(2026, 10, 19))  # the charge, then 1.50 of fees
    waivers = waive_late_fees(
        session=session,
        clock=clock,
        tz=TZ,
        actor=staff(session, Role.collections),
        account_id=account.id or 0,
        reason="goodwill",
        entry_ids=None,
        policy=POLICY,
    )
    assert [w.amount for w in waivers] == [D("-0.50")]
    result = statement(session, account, date(2026, 10, 20))
    assert (result.late_fees_open, result.balance, result.credit) == (D("0.00"), 0, D("0.00"))


# --- the statement API ---------------------------------------------------------------------


@pytest.fixture
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with the cheapest parameters: every request checks a password."""
    monkeypatch.setattr(
        staff_passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


T = TypeVar("T")


class SessionReader(Reader):
    """The app's sign-in reads on the test's session too (its staff are not committed)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def __call__(self, work: Callable[[Session], T]) -> T:
        return work(self.session)


@pytest.fixture
def client(
    session: Session,
    engine: Engine,
    clock: FixedClock,
    settings: Settings,
    quick_password_hashing: None,
) -> Iterator[TestClient]:
    """The app on the test's rolled-back session."""
    for role in (Role.agent, Role.collections):
        add_staff(
            session=session,
            clock=clock,
            username=role.value,
            role=role.value,
            password=PASSWORD,
            actor="test",
        )
    app = create_app(settings, engine=engine, clock=clock, configure_logs=False)
    app.dependency_overrides[get_session] = lambda: session
    app.dependency_overrides[get_reader] = lambda: SessionReader(session)
    with TestClient(app) as test_client:
        yield test_client


def test_the_statement_api_shows_balance_credit_late_fees_and_bills(
    session: Session, clock: FixedClock, client: TestClient
) -> None:
    account = an_account(session)
    bill = a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")
    accrue(session, clock, date(2026, 10, 17))
    pay(session, clock, account, "300.00", date(2026, 10, 20))
    url = f"/api/v1/accounts/{account.number}/statement"

    assert client.get(url).status_code == 401
    assert (
        client.get("/api/v1/accounts/nobody/statement", auth=("agent", PASSWORD)).status_code == 404
    )
    response = client.get(url, params={"entries": 2}, auth=("agent", PASSWORD))
    assert response.status_code == 200, response.text
    body = response.json()
    assert {
        k: body[k] for k in ("account", "balance", "credit", "amount_due", "late_fees_open")
    } == {
        "account": account.number,
        "balance": "701.00",
        "credit": "0.00",
        "amount_due": "701.00",
        "late_fees_open": "1.00",
    }
    assert [(b["bill_id"], b["open_amount"], b["standing"]) for b in body["bills"]] == [
        (bill.id, "700.00", "overdue")
    ]
    assert [(e["kind"], e["amount"]) for e in body["recent_entries"]] == [
        ("payment", "-300.00"),
        ("late_fee", "1.00"),
    ]


def test_waiving_through_the_api_needs_collections_and_a_reason(
    session: Session, clock: FixedClock, client: TestClient
) -> None:
    account = an_account(session)
    a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")
    accrue(session, clock, date(2026, 10, 17))
    url = f"/api/v1/accounts/{account.number}/late-fees/waive"

    denied = client.post(url, json={"reason": "first arrears"}, auth=("agent", PASSWORD))
    assert denied.status_code == 403
    assert client.post(url, json={"reason": ""}, auth=("collections", PASSWORD)).status_code == 422
    assert (
        client.post(
            url, json={"reason": "x", "entry_ids": [999_999]}, auth=("collections", PASSWORD)
        ).status_code
        == 404
    )
    done = client.post(
        url, json={"reason": "first arrears", "entry_ids": None}, auth=("collections", PASSWORD)
    )
    assert done.status_code == 200, done.text
    assert [w["amount"] for w in done.json()["waived"]] == ["1.00"]
    after = client.get(f"/api/v1/accounts/{account.number}/statement", auth=("agent", PASSWORD))
    assert after.json()["late_fees_open"] == "0.00"


# --- the command line ----------------------------------------------------------------------


def test_cli_accrues_a_range_of_days_once_and_prints_a_statement(
    cli_database: str, cli_env: CliRunner
) -> None:
    engine = create_db_engine(cli_database)
    with session_scope(engine) as session:
        account = an_account(session, CustomerKind.non_residential)
        a_charged_bill(session, account, issued=date(2026, 10, 1), total="1000.00")
        number = account.number
    engine.dispose()

    args = ["ledger", "accrue-late-fees", "--from", "2026-10-16", "--date", "2026-10-18", "--json"]
    first = cli_env.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert [(r["on"], r["posted"], r["amount"]) for r in json.loads(first.stdout)] == [
        ("2026-10-16", 0, "0.00"),
        ("2026-10-17", 1, "2.00"),
        ("2026-10-18", 1, "2.00"),
    ]
    again = cli_env.invoke(cli, args)
    assert [(r["posted"], r["already_posted"]) for r in json.loads(again.stdout)] == [
        (0, 0),
        (0, 1),
        (0, 1),
    ]

    shown = cli_env.invoke(cli, ["ledger", "statement", number, "--json"])
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert (body["balance"], body["late_fees_open"]) == ("1004.00", "4.00")
    assert body["bills"][0]["standing"] == "overdue"
    table = cli_env.invoke(cli, ["ledger", "statement", number])
    assert table.exit_code == 0 and "late fees open 4.00" in table.stdout

    assert cli_env.invoke(cli, ["ledger", "statement", "nobody"]).exit_code == 2
    backwards = ["ledger", "accrue-late-fees", "--from", "2026-10-18", "--date", "2026-10-16"]
    assert cli_env.invoke(cli, backwards).exit_code == 2
