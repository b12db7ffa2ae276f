"""Prepared statements (billing_core.db.prepared) give what `connection.execute` gives, on
SQLite and PostgreSQL: the same converted values (money, instants, dates), the new row's id,
the rows changed, and the same SQLAlchemy errors; in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from billing_core.db import DecimalType, UTCDateTime
from billing_core.db.prepared import Prepared

METADATA = MetaData()
ITEM = Table(
    "prepared_item",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False, unique=True),
    Column("amount", DecimalType(2), nullable=False),
    Column("kwh", DecimalType(3)),
    Column("at", UTCDateTime, nullable=False),
    Column("on", Date),
    Column("status", String(10), nullable=False, default="new"),
)
NOW = datetime(2026, 11, 26, 2, 0, 0, 123456, tzinfo=UTC)

INSERT = Prepared(insert(ITEM).returning(ITEM.c.id))
BY_NAME = Prepared(
    select(ITEM.c.id, ITEM.c.amount, ITEM.c.kwh, ITEM.c.at, ITEM.c.on, ITEM.c.status).where(
        ITEM.c.name == bindparam("name")
    )
)
MARK = Prepared(
    update(ITEM)
    .where(ITEM.c.status == "new", ITEM.c.amount >= bindparam("least"))
    .values(status="marked")
)


@pytest.fixture
def items(empty_engine: Engine) -> Iterator[Engine]:
    METADATA.create_all(empty_engine)
    yield empty_engine


def row(name: str, amount: str, **more: object) -> dict[str, object]:
    values: dict[str, object] = {"name": name, "amount": Decimal(amount), "at": NOW}
    values.update(more)
    return values


def test_rows_read_back_as_sqlalchemy_reads_them(items: Engine) -> None:
    with items.begin() as connection:
        first = INSERT.execute(connection, row("a", "12.30", kwh=Decimal("1.005"), on=NOW.date()))
        second = INSERT.execute(connection, row("b", "0.01"))
        assert isinstance(first.scalar(), int) and second.scalar() == first.scalar() + 1
        for name in ("a", "b"):
            ours = BY_NAME.execute(connection, {"name": name}).all()
            theirs = connection.execute(BY_NAME.statement, {"name": name}).all()
            assert ours == [tuple(r) for r in theirs]
        assert BY_NAME.execute(connection, {"name": "a"}).first() == (
            first.scalar(), Decimal("12.30"), Decimal("1.005"), NOW, date(2026, 11, 26), "new",
        )  # fmt: skip
        assert BY_NAME.execute(connection, {"name": "nobody"}).first() is None


def test_the_rows_changed_are_counted_and_literal_values_kept(items: Engine) -> None:
    with items.begin() as connection:
        for name, amount in (("a", "5.00"), ("b", "10.00"), ("c", "20.00")):
            INSERT.execute(connection, row(name, amount))
        assert MARK.execute(connection, {"least": Decimal("10.00")}).rowcount == 2
        assert MARK.execute(connection, {"least": Decimal("10.00")}).rowcount == 0
        statuses = connection.execute(select(ITEM.c.name, ITEM.c.status).order_by(ITEM.c.name))
        assert [tuple(r) for r in statuses] == [("a", "new"), ("b", "marked"), ("c", "marked")]


def test_a_duplicate_raises_sqlalchemys_integrity_error_and_rolls_back_with_the_caller(
    items: Engine,
) -> None:
    with pytest.raises(IntegrityError), items.begin() as connection:
        INSERT.execute(connection, row("twice", "1.00"))
        INSERT.execute(connection, row("twice", "2.00"))
    with items.connect() as connection:
        assert BY_NAME.execute(connection, {"name": "twice"}).all() == []  # nothing kept


def test_money_with_more_places_than_the_column_is_refused(items: Engine) -> None:
    with pytest.raises(ValueError, match="more than 2 decimal places"), items.begin() as c:
        INSERT.execute(c, row("x", "1.005"))


def test_a_statement_needing_python_side_defaults_is_refused() -> None:
    from sqlalchemy.dialects import sqlite

    table = Table(
        "defaults", MetaData(), Column("id", Integer, primary_key=True),
        Column("made", String(10), default=lambda: "computed"),
    )  # fmt: skip
    with pytest.raises(ValueError, match="runs no Python-side column defaults: give made"):
        Prepared(insert(table))._compile(sqlite.dialect(), ("id",))


@settings(max_examples=40, deadline=None)
@given(
    amount=st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False),
    kwh=st.none() | st.decimals(min_value=0, max_value=10**8, places=3, allow_nan=False),
    at=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
def test_any_value_round_trips_as_the_column_types_store_it(
    engine: Engine, amount: Decimal, kwh: Decimal | None, at: datetime
) -> None:
    """In the suite's shared database, in a transaction rolled back after each example."""
    with engine.connect() as connection, connection.begin() as transaction:
        METADATA.create_all(connection)
        new_id = INSERT.execute(connection, row("any", str(amount), kwh=kwh, at=at)).scalar()
        ours = BY_NAME.execute(connection, {"name": "any"}).first()
        theirs = connection.execute(BY_NAME.statement, {"name": "any"}).first()
        transaction.rollback()
    assert theirs is not None
    assert ours == tuple(theirs) == (new_id, amount, kwh, at, None, "new")


def test_a_value_computed_per_execution_is_computed_each_time(items: Engine) -> None:
    calls: list[int] = []

    def least() -> Decimal:
        calls.append(1)
        return Decimal("10.00")

    mark_computed = Prepared(
        update(ITEM)
        .where(ITEM.c.amount >= bindparam("least", callable_=least))
        .values(status=bindparam("status"))
    )
    with items.begin() as connection:
        for name, amount in (("a", "5.00"), ("b", "10.00")):
            INSERT.execute(connection, row(name, amount))
        assert mark_computed.execute(connection, {"status": "high"}).rowcount == 1
        assert mark_computed.execute(connection, {"status": "high"}).rowcount == 1
    assert len(calls) == 2  # once per execution, never remembered
