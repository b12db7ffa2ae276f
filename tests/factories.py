"""Factories for test data: small, explicit, one place."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from itertools import count

from sqlmodel import Session

from billing_core.customers.tables import Account, Customer
from billing_core.readings.tables import Meter, MeterReading, ReadingBook

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
