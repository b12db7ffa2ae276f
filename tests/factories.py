"""Factories for test data: small, explicit, one place."""

from __future__ import annotations

from datetime import date, datetime
from itertools import count

from sqlmodel import Session

from billing_core.customers.tables import Account, Customer
from billing_core.readings.tables import Meter

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
