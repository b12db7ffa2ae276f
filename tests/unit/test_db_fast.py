"""The bulk paths convert values exactly as the column types do (they only skip the generic
machinery), and refuse what the types refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import JSON, Column, Date, Integer, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from billing_core.db.fast import bind_converter
from billing_core.db.types import DecimalType, UTCDateTime

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()
TABLE = Table(
    "sample",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("amount", DecimalType(2)),
    Column("kwh", DecimalType(3)),
    Column("day", Date),
    Column("at", UTCDateTime()),
    Column("name", String(10)),
    Column("payload", JSON),
)


def general(name: str, dialect: object) -> object:
    column_type = TABLE.c[name].type
    return column_type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[arg-type]


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2))
def test_money_converts_as_the_type_does(value: Decimal) -> None:
    for dialect in (SQLITE, POSTGRES):
        fast, slow = bind_converter(TABLE.c.amount, dialect), general("amount", dialect)
        assert fast is not None and slow is not None
        assert fast(value) == slow(value)  # type: ignore[operator]


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4))
def test_more_places_than_the_column_holds_are_refused_as_the_type_refuses(
    value: Decimal,
) -> None:
    fast = bind_converter(TABLE.c.kwh, SQLITE)
    assert fast is not None
    if value == value.quantize(Decimal("0.001")):
        assert fast(value) == int(value.scaleb(3))
    else:
        with pytest.raises(ValueError, match="more than 3 decimal places"):
            fast(value)


def test_floats_none_and_plain_ints_take_the_types_own_path() -> None:
    fast = bind_converter(TABLE.c.amount, SQLITE)
    assert fast is not None
    assert fast(None) is None
    assert fast(3) == 300
    with pytest.raises(TypeError, match="never float"):
        fast(0.1)


@given(st.dates(min_value=date(1900, 1, 1)))
def test_dates_convert_as_the_type_does(day: date) -> None:
    fast, slow = bind_converter(TABLE.c.day, SQLITE), general("day", SQLITE)
    assert fast is not None and slow is not None
    assert fast(day) == slow(day)  # type: ignore[operator]
    moment = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert fast(moment) == slow(moment) == "2026-01-02"  # type: ignore[operator]


def test_instants_are_converted_once_for_a_run_of_the_same_value_and_stay_correct() -> None:
    fast = bind_converter(TABLE.c.at, SQLITE)
    assert fast is not None
    first = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    second = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
    assert [fast(v) for v in (first, first, second, first)] == [
        "2026-10-01 08:00:00.000000",
        "2026-10-01 08:00:00.000000",
        "2026-10-01 09:30:00.000000",
        "2026-10-01 08:00:00.000000",
    ]
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 10, 1))


def test_json_is_never_reused_between_rows() -> None:
    fast = bind_converter(TABLE.c.payload, SQLITE)
    assert fast is not None
    payload = {"n": 1}
    assert fast(payload) == '{"n": 1}'
    payload["n"] = 2
    assert fast(payload) == '{"n": 2}'


def test_plain_columns_need_no_conversion() -> None:
    assert bind_converter(TABLE.c.id, SQLITE) is None


@given(st.one_of(st.none(), st.integers(min_value=-(10**15), max_value=10**15)))
def test_money_reads_back_as_the_type_reads_it(stored: int | None) -> None:
    from billing_core.db.fast import _result_converter

    for name in ("amount", "kwh"):
        column = TABLE.c[name]
        general_read = column.type.dialect_impl(SQLITE).result_processor(SQLITE, None)
        fast_read = _result_converter(column, SQLITE, None)
        assert fast_read is not None and general_read is not None
        value, expected = fast_read(stored), general_read(stored)
        assert value == expected
        if expected is not None:  # the same places, not only the same number
            assert value.as_tuple() == expected.as_tuple()
