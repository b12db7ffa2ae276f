"""Factories for test data: small, explicit, one place."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from itertools import count

from sqlmodel import Session, col, select

from billing_core.bills.charges import post_bill_charges
from billing_core.bills.tables import Bill
from billing_core.customers.tables import (
    Account,
    BusinessChange,
    Contact,
    Customer,
    TariffAssignment,
)
from billing_core.dedupe_keys import charge_key
from billing_core.ledger.tables import LedgerEntry
from billing_core.readings.tables import Meter, MeterReading, ReadingBook
from billing_core.staff.tables import StaffUser

_numbers = count(1)


def make_customer(session: Session, *, at: datetime, **fields: object) -> Customer:
    values: dict[str, object] = {"name": "测试用户", "created_at": at, **fields}
    customer = Customer(**values)
    session.add(customer)
    session.flush()
    return customer


def make_account(session: Session, *, customer: Customer, **fields: object) -> Account:
    values: dict[str, object] = {
        "number": f"9{next(_numbers):09d}",
        "customer_id": customer.id,
        "service_address": "北京市朝阳区测试路1号",
        "reading_day": 5,
        "opened_on": date(2024, 1, 1),
        **fields,
    }
    account = Account(**values)
    session.add(account)
    session.flush()
    return account


def make_meter(session: Session, *, account: Account, **fields: object) -> Meter:
    values: dict[str, object] = {
        "serial": f"M{next(_numbers):09d}",
        "account_id": account.id,
        "installed_on": date(2024, 1, 1),
        **fields,
    }
    meter = Meter(**values)
    session.add(meter)
    session.flush()
    return meter


def make_book(session: Session, **fields: object) -> ReadingBook:
    n = next(_numbers)
    values: dict[str, object] = {
        "code": f"B{n:05d}",
        "name": f"抄表段{n}",
        "reading_day": 5,
        **fields,
    }
    book = ReadingBook(**values)
    session.add(book)
    session.flush()
    return book


def make_reading(
    session: Session, *, meter: Meter, read_at: datetime, **fields: object
) -> MeterReading:
    values: dict[str, object] = {
        "meter_id": meter.id,
        "read_at": read_at,
        "total": Decimal("1000.000"),
        "source": "reader",
        **fields,
    }
    reading = MeterReading(**values)
    session.add(reading)
    session.flush()
    return reading


def make_bill(
    session: Session,
    *,
    account: Account,
    period_start: date,
    total: Decimal,
    due_date: date | None,
    at: datetime,
    period_end: date | None = None,
    **fields: object,
) -> Bill:
    """An issued bill, by default for the month from `period_start` (no lines: the ledger
    needs only its total and due date)."""
    if period_end is None:
        period_end = date(
            period_start.year + period_start.month // 12, period_start.month % 12 + 1, 1
        )
    values: dict[str, object] = {
        "account_id": account.id,
        "period_start": period_start,
        "period_end": period_end,
        "status": "issued",
        "kwh": Decimal("100.000"),
        "total": total,
        "currency": "CNY",
        "due_date": due_date,
        "issued_at": at,
        "created_at": at,
        **fields,
    }
    bill = Bill(**values)
    session.add(bill)
    session.flush()
    return bill


def make_charge(session: Session, *, bill: Bill, on: date, at: datetime) -> LedgerEntry:
    """The bill's charge entry, posted on `on` the way a bill run posts it."""
    assert bill.id is not None
    post_bill_charges(
        session.connection(),
        bills=[(bill.id, bill.account_id, bill.total, bill.currency, on)],
        now=at,
    )
    return session.exec(
        select(LedgerEntry).where(col(LedgerEntry.dedupe_key) == charge_key(bill.id))
    ).one()


def make_entry(
    session: Session,
    *,
    account: Account,
    kind: str,
    amount: Decimal,
    on: date,
    at: datetime,
    **fields: object,
) -> LedgerEntry:
    """Any ledger entry (a refund paid out, an adjustment), as its service would post it."""
    values: dict[str, object] = {
        "account_id": account.id,
        "kind": kind,
        "amount": amount,
        "currency": "CNY",
        "effective_on": on,
        "dedupe_key": f"test:{kind}:{next(_numbers)}",
        "created_at": at,
        **fields,
    }
    entry = LedgerEntry(**values)
    session.add(entry)
    session.flush()
    return entry


def make_contact(
    session: Session, *, customer: Customer, at: datetime, **fields: object
) -> Contact:
    """A verified SMS contact that wants notices (override channel, address, verified...)."""
    values: dict[str, object] = {
        "customer_id": customer.id,
        "channel": "sms",
        "address": f"+86138{next(_numbers):08d}",
        "verified": True,
        "verified_at": at,
        **fields,
    }
    contact = Contact(**values)
    session.add(contact)
    session.flush()
    return contact


def make_staff(session: Session, *, role: str, at: datetime, **fields: object) -> StaffUser:
    """A staff user who cannot sign in (no usable password): for services that take the
    acting user. API tests that sign in use billing_core.staff.service.add_staff."""
    values: dict[str, object] = {
        "username": f"staff{next(_numbers)}",
        "role": role,
        "password_hash": "!",
        "created_at": at,
        **fields,
    }
    user = StaffUser(**values)
    session.add(user)
    session.flush()
    return user


def make_tariff_assignment(
    session: Session,
    *,
    account: Account,
    tariff_code: str,
    effective_from: date = date(2024, 1, 1),
    **fields: object,
) -> TariffAssignment:
    values: dict[str, object] = {
        "account_id": account.id,
        "tariff_code": tariff_code,
        "effective_from": effective_from,
        "reason": "test",
        **fields,
    }
    assignment = TariffAssignment(**values)
    session.add(assignment)
    session.flush()
    return assignment


def make_business_change(
    session: Session, *, account: Account, kind: str, effective_on: date, at: datetime
) -> BusinessChange:
    """A business change (业扩变更) of `kind` (a BusinessChangeKind value)."""
    change = BusinessChange(
        account_id=account.id, kind=kind, effective_on=effective_on, note="test", created_at=at
    )
    session.add(change)
    session.flush()
    return change
