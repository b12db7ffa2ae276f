"""Bulk paths for jobs that move hundreds of thousands of rows (bill runs): inserts through the
driver's executemany with each column's bind conversion looked up once, and reads that skip
SQLAlchemy's per-value result processing for the columns the caller converts itself.

The conversions are the column types' own (`DecimalType`, `UTCDateTime`), so what is stored
is exactly what the ORM would store; only the per-row bookkeeping is gone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Connection, Table, type_coerce
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    on_conflict_do_nothing: Sequence[str] | None = None,
) -> None:
    """INSERT `rows` (tuples in `columns` order) with one executemany. With
    `on_conflict_do_nothing`, rows whose unique key already exists are skipped (SQLite and
    PostgreSQL share the syntax)."""
    dialect = connection.dialect
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    ]
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    if on_conflict_do_nothing:
        sql += f" ON CONFLICT ({', '.join(on_conflict_do_nothing)}) DO NOTHING"
    converted = [
        tuple(
            value if process is None else process(value)
            for process, value in zip(processors, row, strict=True)
        )
        for row in rows
    ]
    if converted:
        connection.exec_driver_sql(sql, converted)


def raw(column: Column[Any]) -> ColumnElement[Any]:
    """The column as the driver returns it, with no result processing."""
    return type_coerce(column, NullType()).label(column.name)


def decimal_reader(column: Column[Any], dialect_name: str) -> Callable[[Any], Decimal | None]:
    """Turns what the driver returned for a DecimalType column into the Decimal it holds
    (None stays None)."""
    scale = column.type.scale  # type: ignore[attr-defined]
    if dialect_name == "sqlite":
        return lambda value: None if value is None else Decimal(value).scaleb(-scale)
    return lambda value: value


def required_decimal_reader(column: Column[Any], dialect_name: str) -> Callable[[Any], Decimal]:
    """As `decimal_reader`, for a NOT NULL column."""
    scale = column.type.scale  # type: ignore[attr-defined]
    if dialect_name == "sqlite":
        return lambda value: Decimal(value).scaleb(-scale)
    return lambda value: value


def instant_reader(dialect_name: str) -> Callable[[Any], datetime]:
    """Turns what the driver returned for a UTCDateTime column into an aware UTC datetime."""
    if dialect_name == "sqlite":

        def from_text(value: Any) -> datetime:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
            return parsed.replace(tzinfo=UTC)

        return from_text
    return lambda value: value
