"""The review queue (电费复核) through the staff API and `wattdesk report review`, on SQLite and
PostgreSQL: list with filters, approve (issue the bill), correct (cancel and re-bill, 退补,
with adjustment lines and a cause) and the monthly summary by rule and cause; every action is
permission-checked and audited."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from billing_core.audit.tables import AuditEntry
from billing_core.bills.run import BillRunSummary, run_bills
from billing_core.bills.tables import Bill, BillLine, ReviewItem
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account, Customer, TariffAssignment
from billing_core.db import create_db_engine, session_scope
from billing_core.db.columns import table_of
from billing_core.events.service import BILL_CANCELLED, BILL_ISSUED
from billing_core.events.tables import DomainEvent
from billing_core.readings.tables import Meter, MeterReading, ReadingBook
from billing_core.settings import Settings
from billing_core.staff import passwords as staff_passwords
from billing_core.staff.model import Role
from billing_core.staff.service import add_staff
from billing_core.tariffs import (
    POWER_FACTOR_ADJUSTMENT,
    AccountAttributes,
    Consumption,
    price_period,
)
from tests.integration.bills.helpers import (
    CLOCK,
    TARIFFS,
    THRESHOLDS,
    TZ,
    busiest_reading_date,
    seed,
)

PASSWORD = "review-queue-secret-42"
REVIEWER = ("rita.reviewer", PASSWORD)
AGENT = ("alan.agent", PASSWORD)
ADMIN = ("ada.admin", PASSWORD)
STAFF = {REVIEWER[0]: Role.reviewer, AGENT[0]: Role.agent, ADMIN[0]: Role.admin}
ITEMS = "/api/v1/review-items"
REPORT = "/api/v1/reports/review"
NOVEMBER = "2026-11"


# --- set-up --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldBill:
    """A bill the bill run held for review, with what the tests pick it by."""

    id: int
    account_number: str
    rules: tuple[str, ...]
    tariff_code: str
    customer_kind: str
    household_size: int

    @property
    def time_of_use(self) -> bool:
        return bool(TARIFFS.get(self.tariff_code).versions[-1].time_of_use)


@dataclass
class Desk:
    engine: Engine
    clock: FixedClock
    client: TestClient
    run: BillRunSummary


def bill_and_hire(engine: Engine) -> BillRunSummary:
    """Seed ~300 customers, bill the busiest reading day, and add one staff user per role."""
    seed(engine, customers=300)
    summary = run_bills(
        engine=engine,
        clock=CLOCK,
        run_date=busiest_reading_date(engine),
        tz=TZ,
        tariffs=TARIFFS,
        thresholds=THRESHOLDS,
    )
    assert summary.in_review >= 5 and summary.failed == []
    with session_scope(engine) as session:
        for username, role in STAFF.items():
            add_staff(
                session=session,
                clock=CLOCK,
                username=username,
                role=role.value,
                password=PASSWORD,
                actor="test",
            )
    return summary


@contextmanager
def staff_desk(engine: Engine, settings: Settings, run: BillRunSummary) -> Iterator[Desk]:
    # Its own clock, an hour after the bill run, so a test can move it without touching CLOCK.
    clock = FixedClock(CLOCK.now() + timedelta(hours=1))
    app = create_app(settings, engine=engine, clock=clock, configure_logs=False)
    with TestClient(app) as client:
        yield Desk(engine=engine, clock=clock, client=client, run=run)


@pytest.fixture(autouse=True)
def quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with the cheapest parameters: every request checks a password, and
    the production cost (~0.2 s a check) would make this module slow."""
    monkeypatch.setattr(
        staff_passwords,
        "_hasher",
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)),
    )


@pytest.fixture
def desk(fresh_engine: Engine, settings: Settings) -> Iterator[Desk]:
    run = bill_and_hire(fresh_engine)
    with staff_desk(fresh_engine, settings, run) as ready:
        yield ready


# --- reading the database back -------------------------------------------------------------


def held_bills(engine: Engine) -> list[HeldBill]:
    with Session(engine) as session:
        rows = session.execute(
            select(Bill, col(ReviewItem.rule), Account, Customer)
            .join(ReviewItem, col(ReviewItem.bill_id) == Bill.id)
            .join(Account, col(Account.id) == Bill.account_id)
            .join(Customer, col(Customer.id) == Account.customer_id)
            .where(Bill.status == "in_review")
            .order_by(col(Bill.id), col(ReviewItem.id))
        ).all()
        tariffs: dict[int, str] = {
            account_id: code
            for account_id, code in session.execute(
                select(
                    col(TariffAssignment.account_id), col(TariffAssignment.tariff_code)
                ).order_by(col(TariffAssignment.effective_from))  # the newest assignment wins
            )
        }
    bills: dict[int, HeldBill] = {}
    for bill, rule, account, customer in rows:
        assert bill.id is not None and account.id is not None
        known = bills.get(bill.id)
        bills[bill.id] = HeldBill(
            id=bill.id,
            account_number=account.number,
            rules=(*(known.rules if known else ()), rule),
            tariff_code=tariffs[account.id],
            customer_kind=customer.kind,
            household_size=customer.household_size,
        )
    return list(bills.values())


def a_held_bill(engine: Engine, *, items: int = 1, skip: tuple[int, ...] = ()) -> HeldBill:
    """A held bill on a tariff priced from total kWh, with at least `items` review items."""
    for bill in held_bills(engine):
        if len(bill.rules) >= items and not bill.time_of_use and bill.id not in skip:
            return bill
    raise AssertionError(f"the seeded bill run held no plain-kWh bill with {items} items")


def an_issued_bill(engine: Engine, *, with_line_like: str = "%") -> int:
    with Session(engine) as session:
        bill_id = session.execute(
            select(func.min(col(Bill.id)))
            .join(BillLine, col(BillLine.bill_id) == Bill.id)
            .where(Bill.status == "issued", col(BillLine.component).like(with_line_like))
        ).scalar_one()
    assert bill_id is not None, f"no issued bill has a line like {with_line_like!r}"
    return int(bill_id)


def load_bill(engine: Engine, bill_id: int) -> Bill:
    with Session(engine) as session:
        bill = session.get(Bill, bill_id)
        assert bill is not None
        return bill


def lines_of(engine: Engine, bill_id: int) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    with Session(engine) as session:
        return [
            (line.kind, line.component, line.quantity, line.unit_price, line.amount)
            for line in session.execute(
                select(BillLine).where(BillLine.bill_id == bill_id).order_by(col(BillLine.position))
            ).scalars()
        ]


def items_of(engine: Engine, bill_id: int) -> list[ReviewItem]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(ReviewItem).where(ReviewItem.bill_id == bill_id).order_by(col(ReviewItem.id))
            ).scalars()
        )


def audit_entries(engine: Engine, action: str, bill_id: int) -> list[AuditEntry]:
    with Session(engine) as session:
        return list(
            session.execute(
                select(AuditEntry).where(
                    AuditEntry.action == action,
                    AuditEntry.entity == "bill",
                    AuditEntry.entity_id == str(bill_id),
                )
            ).scalars()
        )


def events_about(engine: Engine, kind: str, bill_id: int) -> list[DomainEvent]:
    with Session(engine) as session:
        return [
            event
            for event in session.execute(
                select(DomainEvent).where(DomainEvent.kind == kind)
            ).scalars()
            if event.payload.get("bill_id") == bill_id
        ]


def backdate_items(engine: Engine, item_ids: list[int], at: datetime) -> None:
    review = table_of(ReviewItem)
    with engine.begin() as connection:
        connection.execute(update(review).where(review.c.id.in_(item_ids)).values(created_at=at))


def listed(desk: Desk, **params: Any) -> list[dict[str, Any]]:
    response = desk.client.get(ITEMS, params=params, auth=REVIEWER)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- listing -------------------------------------------------------------------------------


def test_reviewers_see_every_open_item_with_rule_account_book_and_age(desk: Desk) -> None:
    held = held_bills(desk.engine)
    items = listed(desk)

    expected = Counter((b.id, b.account_number, rule) for b in held for rule in b.rules)
    assert Counter((i["bill_id"], i["account_number"], i["rule"]) for i in items) == expected
    assert sum(expected.values()) == sum(desk.run.review_by_rule.values())
    for item in items:
        assert item["status"] == "open"
        assert item["book"] == "B0001"
        assert item["age_days"] == 0
        assert Decimal(item["total"]) >= 0 and Decimal(item["kwh"]) >= 0
    # Admins may do everything a reviewer may.
    as_admin = desk.client.get(ITEMS, auth=ADMIN)
    assert as_admin.status_code == 200 and as_admin.json()["items"] == items


def test_the_queue_filters_by_rule_book_and_age(desk: Desk) -> None:
    items = listed(desk)
    rules = Counter(i["rule"] for i in items)
    rule, _count = rules.most_common(1)[0]
    assert {i["item_id"] for i in listed(desk, rule=rule)} == {
        i["item_id"] for i in items if i["rule"] == rule
    }
    assert listed(desk, rule="NO_SUCH_RULE") == []

    # Move two held accounts to a book of their own.
    moved = sorted({i["account_number"] for i in items})[:2]
    with session_scope(desk.engine) as session:
        book = ReadingBook(code="B0777", name="复核测试段", reading_day=11)
        session.add(book)
        session.flush()
        for account in session.execute(
            select(Account).where(col(Account.number).in_(moved))
        ).scalars():
            account.reading_book_id = book.id
    in_new_book = listed(desk, book="B0777")
    assert {i["account_number"] for i in in_new_book} == set(moved)
    assert {i["item_id"] for i in in_new_book} | {
        i["item_id"] for i in listed(desk, book="B0001")
    } == {i["item_id"] for i in items}
    assert listed(desk, book="B0777", rule="NO_SUCH_RULE") == []

    # Two items raised five days before the run; the desk's clock moves on by two days.
    old_ids = [items[0]["item_id"], items[-1]["item_id"]]
    backdate_items(desk.engine, old_ids, CLOCK.now() - timedelta(days=5))
    desk.clock.advance(timedelta(days=2))
    assert {i["item_id"]: i["age_days"] for i in listed(desk)} == {
        i["item_id"]: 7 if i["item_id"] in old_ids else 2 for i in items
    }
    assert {i["item_id"] for i in listed(desk, min_age_days=3)} == set(old_ids)
    assert {i["item_id"] for i in listed(desk, min_age_days=7)} == set(old_ids)
    assert listed(desk, min_age_days=8) == []
    desk.clock.advance(timedelta(days=1))  # now everything is at least three days old
    assert len(listed(desk, min_age_days=3)) == len(items)
    assert desk.client.get(ITEMS, params={"min_age_days": -1}, auth=REVIEWER).status_code == 422


def test_only_signed_in_reviewers_and_admins_may_use_the_queue(desk: Desk) -> None:
    bill = a_held_bill(desk.engine)
    correction = {"cause": "meter_misread", "note": "should not happen"}
    calls = [
        ("GET", ITEMS, None),
        ("GET", "/api/v1/review-causes", None),
        ("GET", REPORT + "?month=" + NOVEMBER, None),
        ("POST", f"/api/v1/bills/{bill.id}/approve", {}),
        ("POST", f"/api/v1/bills/{bill.id}/correct", correction),
    ]
    for method, url, body in calls:
        anonymous = desk.client.request(method, url, json=body)
        assert anonymous.status_code == 401, (method, url)
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
        assert desk.client.request(method, url, json=body, auth=AGENT).status_code == 403
    wrong_password = desk.client.get(ITEMS, auth=(REVIEWER[0], "not the password"))
    assert wrong_password.status_code == 401
    assert desk.client.get(ITEMS, auth=("nobody", PASSWORD)).status_code == 401
    # Nothing was changed by any of them.
    assert load_bill(desk.engine, bill.id).status == "in_review"
    assert all(item.status == "open" for item in items_of(desk.engine, bill.id))
    with Session(desk.engine) as session:
        actions = set(session.execute(select(AuditEntry.action)).scalars())
    assert actions == {"staff.add"}


# --- approving -----------------------------------------------------------------------------


def test_approving_issues_the_bill_resolves_its_items_and_audits_once(desk: Desk) -> None:
    bill = a_held_bill(desk.engine)
    # Payment terms come from the account; 17:30 UTC on the 27th is the 28th in Shanghai.
    with session_scope(desk.engine) as session:
        account = session.execute(
            select(Account).where(Account.number == bill.account_number)
        ).scalar_one()
        account.payment_terms_days = 10
    desk.clock.current = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
    before = lines_of(desk.engine, bill.id)
    held_total = load_bill(desk.engine, bill.id).total

    response = desk.client.post(
        f"/api/v1/bills/{bill.id}/approve",
        json={"note": "checked with the customer"},
        auth=REVIEWER,
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "issued"
    assert response.json()["due_date"] == "2026-12-08"
    issued = load_bill(desk.engine, bill.id)
    assert issued.status == "issued"
    assert issued.issued_at == desk.clock.now()
    assert issued.due_date == date(2026, 12, 8)
    assert issued.total == held_total and lines_of(desk.engine, bill.id) == before
    for item in items_of(desk.engine, bill.id):
        assert item.status == "approved"
        assert item.resolved_by == REVIEWER[0]
        assert item.resolved_at == desk.clock.now()
        assert item.cause is None and item.note == "checked with the customer"
    (entry,) = audit_entries(desk.engine, "bill.approve", bill.id)
    assert entry.actor == f"staff:{REVIEWER[0]}"
    assert entry.before == {"status": "in_review", "due_date": None, "issued_at": None}
    assert entry.after is not None and entry.after["status"] == "issued"
    (event,) = events_about(desk.engine, BILL_ISSUED, bill.id)
    assert event.payload["due_date"] == "2026-12-08"
    assert Decimal(event.payload["total"]) == held_total

    again = desk.client.post(f"/api/v1/bills/{bill.id}/approve", json={}, auth=REVIEWER)
    assert again.status_code == 409
    assert len(events_about(desk.engine, BILL_ISSUED, bill.id)) == 1
    assert len(audit_entries(desk.engine, "bill.approve", bill.id)) == 1


def test_only_a_bill_in_review_can_be_approved(desk: Desk) -> None:
    issued = an_issued_bill(desk.engine)
    assert (
        desk.client.post(f"/api/v1/bills/{issued}/approve", json={}, auth=REVIEWER).status_code
        == 409
    )
    assert (
        desk.client.post("/api/v1/bills/987654/approve", json={}, auth=REVIEWER).status_code == 404
    )
    assert audit_entries(desk.engine, "bill.approve", issued) == []
    # An admin may approve too.
    bill = a_held_bill(desk.engine)
    assert (
        desk.client.post(f"/api/v1/bills/{bill.id}/approve", json={}, auth=ADMIN).status_code == 200
    )
    assert {item.resolved_by for item in items_of(desk.engine, bill.id)} == {ADMIN[0]}


# --- correcting (退补) ----------------------------------------------------------------------


def test_correcting_cancels_the_bill_and_rebills_the_period_with_adjustment_lines(
    desk: Desk,
) -> None:
    causes = desk.client.get("/api/v1/review-causes", auth=REVIEWER).json()["causes"]
    assert "meter_misread" in {cause["code"] for cause in causes}
    bill = a_held_bill(desk.engine, items=2)
    old = load_bill(desk.engine, bill.id)
    old_lines = lines_of(desk.engine, bill.id)
    url = f"/api/v1/bills/{bill.id}/correct"
    adjustment = {
        "component": "退补 meter misread",
        "amount": "-12.50",
        "reason": "refund of the misread part of last month",
    }
    correction: dict[str, Any] = {
        "cause": "meter_misread",
        "note": "register misread by the reader; re-read on site",
        "kwh": "187.500",
        "adjustments": [adjustment],
    }

    refused = [
        desk.client.post(url, json={**correction, "cause": "aliens"}, auth=REVIEWER),
        desk.client.post(
            url, json={k: v for k, v in correction.items() if k != "note"}, auth=REVIEWER
        ),
        desk.client.post(url, json={**correction, "note": "   "}, auth=REVIEWER),
        desk.client.post(
            url,
            json={**correction, "adjustments": [{**adjustment, "amount": "-12.505"}]},
            auth=REVIEWER,
        ),
    ]
    assert [response.status_code for response in refused] == [422, 422, 422, 422]
    # A refused correction changes nothing.
    assert load_bill(desk.engine, bill.id).model_dump() == old.model_dump()

    response = desk.client.post(url, json=correction, auth=REVIEWER)

    assert response.status_code == 200, response.text
    new_id = response.json()["id"]
    assert new_id != bill.id and response.json()["replaces_bill_id"] == bill.id
    # Its refund line holds the re-bill for a second reviewer (test_four_eyes.py), who issues it.
    assert response.json()["status"] == "in_review"
    second = desk.client.post(f"/api/v1/bills/{new_id}/approve", json={}, auth=ADMIN)
    assert second.status_code == 200, second.text
    # The wrong bill is cancelled, with a reason, and otherwise left as it was.
    cancelled = load_bill(desk.engine, bill.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at == desk.clock.now()
    assert cancelled.cancel_reason == "meter_misread: " + correction["note"]
    assert (cancelled.kwh, cancelled.total, cancelled.period_start, cancelled.period_end) == (
        old.kwh,
        old.total,
        old.period_start,
        old.period_end,
    )
    assert lines_of(desk.engine, bill.id) == old_lines
    # The re-bill: same account and period, priced from the corrected kWh, plus the 退补 line.
    new = load_bill(desk.engine, new_id)
    assert (new.account_id, new.period_start, new.period_end) == (
        old.account_id,
        old.period_start,
        old.period_end,
    )
    assert new.replaces_bill_id == bill.id and new.status == "issued"
    assert new.kwh == Decimal("187.500")
    with Session(desk.engine) as session:
        account = session.get(Account, old.account_id)
        assert account is not None
    today = desk.clock.now().astimezone(TZ).date()
    terms = DEFAULT_PAYMENT_TERMS.terms_days(
        account_terms=account.payment_terms_days, customer_kind="residential"
    )
    assert new.due_date == today + timedelta(days=terms)
    priced = price_period(
        TARIFFS.get(bill.tariff_code),
        start=old.period_start,
        end=old.period_end,
        consumption=Consumption.total(Decimal("187.500")),
        account=AccountAttributes(
            customer_kind=bill.customer_kind,  # type: ignore[arg-type]
            household_size=bill.household_size,
            ytd_kwh=Decimal(0),  # the seeded data holds no earlier bill this year
        ),
    )
    new_lines = lines_of(desk.engine, new_id)
    assert new_lines == [
        *(("charge", ln.component, ln.quantity, ln.unit_price, ln.amount) for ln in priced.lines),
        ("adjustment", "退补 meter misread", Decimal(1), Decimal("-12.50"), Decimal("-12.50")),
    ]
    assert new.total == sum((line[4] for line in new_lines), Decimal(0))
    assert new.total == priced.total - Decimal("12.50")
    # Every open item of the old bill is resolved as corrected, with the cause.
    items = items_of(desk.engine, bill.id)
    assert len(items) == len(bill.rules) >= 2
    for item in items:
        assert (item.status, item.cause, item.resolved_by) == (
            "corrected",
            "meter_misread",
            REVIEWER[0],
        )
        assert item.note == correction["note"]
    # Audited, and the re-bill's notice is due once; no cancellation notice for a bill that
    # was never issued.
    (cancel,) = audit_entries(desk.engine, "bill.cancel", bill.id)
    assert cancel.before is not None and cancel.before["status"] == "in_review"
    assert cancel.after is not None and cancel.after["status"] == "cancelled"
    (rebill,) = audit_entries(desk.engine, "bill.rebill", new_id)
    assert rebill.actor == f"staff:{REVIEWER[0]}" and str(bill.id) in rebill.reason
    assert len(events_about(desk.engine, BILL_ISSUED, new_id)) == 1
    assert events_about(desk.engine, BILL_CANCELLED, bill.id) == []

    again = desk.client.post(url, json=correction, auth=REVIEWER)
    assert again.status_code == 409
    assert (
        desk.client.post("/api/v1/bills/987654/correct", json=correction, auth=REVIEWER).status_code
        == 404
    )
    assert (
        desk.client.post(url.replace("correct", "approve"), json={}, auth=REVIEWER).status_code
        == 409
    )
    with Session(desk.engine) as session:
        live = session.execute(
            select(func.count()).where(
                Bill.account_id == old.account_id,
                Bill.period_start == old.period_start,
                Bill.status != "cancelled",
            )
        ).scalar_one()
    assert live == 1


def metered_registers(engine: Engine, bill: Bill) -> dict[str, Decimal]:
    """The TOU kWh of a bill's period as the bill run works them out (平 = 总 − 峰 − 谷)."""
    with Session(engine) as session:
        previous = session.get(MeterReading, bill.prev_reading_id)
        current = session.get(MeterReading, bill.curr_reading_id)
        assert previous is not None and current is not None
        meter = session.get(Meter, current.meter_id)
        assert meter is not None
    advance = {
        name: (getattr(current, name) - getattr(previous, name)) * meter.multiplier
        for name in ("total", "peak", "valley")
    }
    return {
        "peak": advance["peak"],
        "flat": advance["total"] - advance["peak"] - advance["valley"],
        "valley": advance["valley"],
    }


def test_correcting_an_issued_bill_rebills_it_and_tells_the_customer_it_was_cancelled(
    desk: Desk,
) -> None:
    # A non-residential bill with a power-factor adjustment (力率调整电费), priced by TOU
    # registers: re-billed with the same registers it must keep every charge line.
    bill_id = an_issued_bill(desk.engine, with_line_like=f"{POWER_FACTOR_ADJUSTMENT}%")
    old = load_bill(desk.engine, bill_id)
    old_lines = lines_of(desk.engine, bill_id)
    registers = {k: str(v) for k, v in metered_registers(desk.engine, old).items()}
    correction: dict[str, Any] = {
        "cause": "tariff_error",
        "note": "customer was owed a refund of a duplicated service fee",
        "registers": registers,
        "adjustments": [{"component": "退补 service fee", "amount": "-30.00", "reason": "dup"}],
    }

    url = f"/api/v1/bills/{bill_id}/correct"
    refused = [
        # A TOU tariff is priced from registers, not a total.
        desk.client.post(url, json={**correction, "registers": None, "kwh": "100"}, auth=ADMIN),
        # kWh are stored to the watt-hour.
        desk.client.post(
            url, json={**correction, "registers": {**registers, "peak": "1.0001"}}, auth=ADMIN
        ),
        # A total that is not the sum of the registers.
        desk.client.post(url, json={**correction, "kwh": "1.000"}, auth=ADMIN),
        desk.client.post(
            url, json={**correction, "registers": {**registers, "reactive": "1"}}, auth=ADMIN
        ),
    ]
    assert [r.status_code for r in refused] == [422, 422, 422, 422], [r.text for r in refused]
    assert load_bill(desk.engine, bill_id).status == "issued"

    response = desk.client.post(url, json=correction, auth=ADMIN)

    assert response.status_code == 200, response.text
    new_id = response.json()["id"]
    assert load_bill(desk.engine, bill_id).status == "cancelled"
    second = desk.client.post(f"/api/v1/bills/{new_id}/approve", json={}, auth=REVIEWER)
    assert second.status_code == 200, second.text  # the refund line wants a second reviewer
    assert lines_of(desk.engine, new_id) == [
        *old_lines,
        ("adjustment", "退补 service fee", Decimal(1), Decimal("-30.00"), Decimal("-30.00")),
    ]
    assert load_bill(desk.engine, new_id).total == old.total - Decimal("30.00")
    (cancelled,) = events_about(desk.engine, BILL_CANCELLED, bill_id)
    assert cancelled.payload["replaced_by"] == new_id
    assert Decimal(cancelled.payload["total"]) == old.total
    assert len(events_about(desk.engine, BILL_ISSUED, bill_id)) == 1  # from the bill run
    assert len(events_about(desk.engine, BILL_ISSUED, new_id)) == 1
    assert audit_entries(desk.engine, "bill.cancel", bill_id)[0].actor == f"staff:{ADMIN[0]}"
    assert len(audit_entries(desk.engine, "bill.rebill", new_id)) == 1


# --- the monthly summary (按月汇总, 原因分析) -------------------------------------------------


def test_the_monthly_summary_counts_by_rule_and_cause_in_the_api_and_the_cli(
    cli_database: str, cli_env: CliRunner, settings: Settings
) -> None:
    engine = create_db_engine(cli_database)
    try:
        run = bill_and_hire(engine)
        with staff_desk(engine, settings, run) as desk:
            reported = summarise_a_month_of_reviews(desk)
    finally:
        engine.dispose()

    result = cli_env.invoke(cli, ["report", "review", "--month", NOVEMBER, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == reported
    table = cli_env.invoke(cli, ["report", "review", "--month", NOVEMBER])
    assert table.exit_code == 0 and "meter_misread" in table.stdout

    for month in ("2026-13", "0000-01", "9999-12"):
        bad = cli_env.invoke(cli, ["report", "review", "--month", month, "--json"])
        assert bad.exit_code == 2 and month in bad.output, bad.output


def summarise_a_month_of_reviews(desk: Desk) -> dict[str, Any]:
    """Approve one bill, correct two with different causes, move two items to the edges of
    the month (in Asia/Shanghai), and check the API's summary; returns it."""
    held = held_bills(desk.engine)
    approved = a_held_bill(desk.engine)
    misread = a_held_bill(desk.engine, skip=(approved.id,))
    entry = a_held_bill(desk.engine, skip=(approved.id, misread.id))
    untouched = [b for b in held if b.id not in (approved.id, misread.id, entry.id)]
    october = next(b for b in untouched if len(b.rules) == 1)
    first_of_november = next(b for b in untouched if b.id != october.id)
    post = desk.client.post
    assert post(f"/api/v1/bills/{approved.id}/approve", json={}, auth=REVIEWER).status_code == 200
    for bill, cause in ((misread, "meter_misread"), (entry, "data_entry_error")):
        body = {"cause": cause, "note": "fixed", "kwh": "100"}
        assert post(f"/api/v1/bills/{bill.id}/correct", json=body, auth=REVIEWER).status_code == 200
    # 23:30 on 31 October and 00:30 on 1 November, Shanghai time (both 31 October in UTC).
    october_ids = [i.id for i in items_of(desk.engine, october.id) if i.id is not None]
    november_ids = [i.id for i in items_of(desk.engine, first_of_november.id) if i.id is not None]
    backdate_items(desk.engine, october_ids, datetime(2026, 10, 31, 15, 30, tzinfo=UTC))
    backdate_items(desk.engine, november_ids, datetime(2026, 10, 31, 16, 30, tzinfo=UTC))

    expected: dict[str, dict[str, int]] = {}
    for bill in held:
        for rule in bill.rules:
            if bill.id == october.id:
                continue
            status = {approved.id: "approved", misread.id: "corrected", entry.id: "corrected"}
            counts = expected.setdefault(rule, {"open": 0, "approved": 0, "corrected": 0})
            counts[status.get(bill.id, "open")] += 1
    report = desk.client.get(REPORT, params={"month": NOVEMBER}, auth=REVIEWER)
    assert report.status_code == 200, report.text
    summary: dict[str, Any] = report.json()
    assert summary["month"] == NOVEMBER
    assert summary["by_rule"] == dict(sorted(expected.items()))
    assert summary["items"] == sum(desk.run.review_by_rule.values()) - len(october.rules)
    assert summary["bills_held"] == desk.run.in_review - 1
    assert summary["by_cause"] == {
        cause: count
        for cause, count in Counter(
            {"meter_misread": len(misread.rules), "data_entry_error": len(entry.rules)}
        ).most_common()
    }
    previous = desk.client.get(REPORT, params={"month": "2026-10"}, auth=REVIEWER).json()
    assert previous["by_rule"] == {october.rules[0]: {"open": 1, "approved": 0, "corrected": 0}}
    assert previous["bills_held"] == 1 and previous["by_cause"] == {}
    for month in ("2026-13", "2026-1", "november", "", "0000-01", "0001-01", "9999-12"):
        bad = desk.client.get(REPORT, params={"month": month}, auth=REVIEWER)
        assert bad.status_code == 422, month
    return summary
