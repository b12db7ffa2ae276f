"""Money and time survive the database exactly, on SQLite as on PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from billing_core.readings.tables import MeterReading
from tests.factories import make_account, make_customer, make_meter


def test_decimals_and_aware_times_round_trip_and_sum_exactly(session: Session) -> None:
    at = datetime(2026, 3, 5, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    customer = make_customer(session, at=at)
    meter = make_meter(
        session, account=make_account(session, customer=customer), multiplier=Decimal("40.0000")
    )
    values = [Decimal("0.001"), Decimal("0.002"), Decimal("12345.678")]
    for i, value in enumerate(values):
        session.add(
            MeterReading(
                meter_id=meter.id, read_at=at + timedelta(days=i), total=value, source="reader"
            )
        )
    session.flush()
    session.expire_all()

    rows = session.exec(select(MeterReading).order_by(MeterReading.read_at)).all()
    assert [r.total for r in rows] == values
    assert rows[0].read_at == datetime(2026, 3, 5, 1, 30, tzinfo=UTC)
    assert rows[0].read_at.tzinfo is not None
    total = session.exec(select(func.sum(MeterReading.total))).one()
    assert total == Decimal("12345.681")
    session.refresh(meter)
    assert meter.multiplier == Decimal("40.0000")


def test_one_reading_per_meter_and_instant(session: Session) -> None:
    at = datetime(2026, 3, 5, 1, 0, tzinfo=UTC)
    meter = make_meter(
        session, account=make_account(session, customer=make_customer(session, at=at))
    )
    session.add(MeterReading(meter_id=meter.id, read_at=at, total=Decimal(1), source="reader"))
    session.flush()
    session.add(MeterReading(meter_id=meter.id, read_at=at, total=Decimal(2), source="api"))
    with pytest.raises(IntegrityError):
        session.flush()
