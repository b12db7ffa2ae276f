from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from billing_core.db.types import DecimalType, UTCDateTime

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()


def test_money_is_stored_exactly_as_scaled_integer_on_sqlite() -> None:
    money = DecimalType(scale=2)
    assert money.process_bind_param(Decimal("149.49"), SQLITE) == 14949
    assert money.process_result_value(14949, SQLITE) == Decimal("149.49")


def test_money_is_numeric_on_postgres() -> None:
    money = DecimalType(scale=2)
    assert money.process_bind_param(Decimal("0.10"), POSTGRES) == Decimal("0.10")


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="never float"):
        DecimalType(scale=2).process_bind_param(0.1, SQLITE)


def test_more_places_than_the_column_holds_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        DecimalType(scale=2).process_bind_param(Decimal("1.005"), SQLITE)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), SQLITE)


def test_aware_datetimes_are_stored_in_utc_and_come_back_aware() -> None:
    shanghai = timezone(timedelta(hours=8))
    stored = UTCDateTime().process_bind_param(datetime(2026, 1, 1, 8, tzinfo=shanghai), SQLITE)
    assert stored == datetime(2026, 1, 1, 0, 0)
    loaded = UTCDateTime().process_result_value(stored, SQLITE)
    assert loaded == datetime(2026, 1, 1, tzinfo=UTC)
    assert loaded is not None and loaded.tzinfo is UTC


def _sqlalchemy_chain(value: object) -> object:
    """What SQLAlchemy's own processors make of a value for SQLite: the type's
    process_bind_param, then SQLite's DATETIME formatting."""
    bound = UTCDateTime().dialect_impl(SQLITE)
    return bound.impl_instance.bind_processor(SQLITE)(bound.process_bind_param(value, SQLITE))


ZONES = [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30),
        timezones=st.sampled_from(ZONES),
    )
)  # fmt: skip
def test_the_sqlite_bind_processor_writes_what_sqlalchemys_chain_writes(value: datetime) -> None:
    fused = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert fused is not None
    assert fused(value) == _sqlalchemy_chain(value)


def test_the_sqlite_bind_processor_refuses_what_the_type_refuses() -> None:
    fused = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert fused is not None
    assert fused(None) is None
    with pytest.raises(ValueError, match="naive"):
        fused(datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="expected datetime"):
        fused("2026-01-01 00:00:00")
    # whole seconds keep their microseconds' places, as SQLAlchemy's format writes them
    assert fused(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01 00:00:00.000000"
