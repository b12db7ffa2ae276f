"""Bulk paths for jobs that move hundreds of thousands of rows (bill runs): inserts through the
driver (executemany, or COPY on PostgreSQL) with each column's bind conversion looked up once
and mapped over its column, ids reserved ahead of an insert, and reads that skip SQLAlchemy's
Row objects (`fetch_raw` for columns the caller converts itself, `fetch_converted` with the
types' own conversions).

The conversions are the column types' own (`DecimalType`, `UTCDateTime`), so what is stored
is exactly what the ORM would store; only the per-row bookkeeping is gone."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Connection, Date, Table, text, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable, Select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

from billing_core.db.types import DecimalType

_NOTHING = object()


# PostgreSQL takes this many rows and more with COPY (fewer go as one executemany: a COPY
# that skips existing keys needs a temporary table, which costs more than a few INSERTs).
COPY_FROM_ROWS = 100


def bulk_insert(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    on_conflict_do_nothing: Sequence[str] | None = None,
) -> None:
    """INSERT `rows` (tuples in `columns` order): one executemany, or COPY on PostgreSQL
    (psycopg) from `COPY_FROM_ROWS` rows. With `on_conflict_do_nothing`, rows whose unique
    key already exists are skipped."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return
    if set(map(len, rows)) != {len(columns)}:
        raise ValueError(f"{table.name}: every row needs {len(columns)} values ({columns})")
    processors = [bind_converter(table.c[name], connection.dialect) for name in columns]
    _insert_converted(
        connection, table, columns, _by_column(processors, rows), on_conflict_do_nothing
    )


# A column whose values wait for ids reserved in the inserting transaction: its value for a
# row, from the row's index and the id that row waits for.
Late = Callable[[int, int], Any]


@dataclass(frozen=True)
class PendingRows:
    """Rows for `bulk_insert` converted for the driver ahead of the transaction that inserts
    them, except the columns that depend on ids that only that transaction can reserve
    (`reserve_ids`): a job that takes turns at SQLite's one writer does the conversion
    before its turn, and only fills in the ids during it (`insert_pending`)."""

    table: Table
    columns: tuple[str, ...]
    known: dict[str, Sequence[Any]]  # the converted values of the columns known ahead
    owners: list[int]  # for each row, the index of the reserved id it waits for
    late: dict[str, Late]
    on_conflict_do_nothing: tuple[str, ...] | None = None
    # late columns whose functions give the driver's value already
    ready: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.owners)


def pending_rows(
    dialect: Dialect,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    owners: Sequence[int],
    late: Mapping[str, Late],
    on_conflict_do_nothing: Sequence[str] | None = None,
    ready: Iterable[str] = (),
) -> PendingRows:
    """`rows` hold the values of `columns` but the `late` ones, in order; row i waits for
    the id at index `owners[i]` of those its transaction reserves. The late columns named
    in `ready` give values converted for the driver; the others are converted when they
    are worked out."""
    known_names = [name for name in columns if name not in late]
    if len(rows) != len(owners):
        raise ValueError(f"{table.name}: {len(rows)} rows but {len(owners)} owners")
    if rows and set(map(len, rows)) != {len(known_names)}:
        raise ValueError(f"{table.name}: every row needs {len(known_names)} values")
    processors = [bind_converter(table.c[name], dialect) for name in known_names]
    by_column = _converted_columns(processors, rows)
    return PendingRows(
        table=table,
        columns=tuple(columns),
        known=dict(zip(known_names, by_column, strict=True)),
        owners=list(owners),
        late=dict(late),
        on_conflict_do_nothing=tuple(on_conflict_do_nothing) if on_conflict_do_nothing else None,
        ready=frozenset(ready),
    )


def insert_pending(connection: Connection, pending: PendingRows, ids: Sequence[int]) -> None:
    """Insert pending rows with the ids their transaction reserved: the late columns are
    worked out and converted now, the rest went ahead."""
    if not pending.owners:
        return
    columns = []
    for name in pending.columns:
        values = pending.known.get(name)
        if values is None:
            value_of = pending.late[name]
            values = [value_of(row, ids[owner]) for row, owner in enumerate(pending.owners)]
            process = (
                None
                if name in pending.ready
                else bind_converter(pending.table.c[name], connection.dialect)
            )
            if process is not None:
                values = list(map(process, values))
        columns.append(values)
    _insert_converted(
        connection, pending.table, pending.columns, list(zip(*columns, strict=True)),
        pending.on_conflict_do_nothing,
    )  # fmt: skip


def _insert_converted(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    converted: list[tuple[Any, ...]],
    on_conflict_do_nothing: Sequence[str] | None,
) -> None:
    dialect = connection.dialect
    if (
        dialect.name == "postgresql"
        and dialect.driver == "psycopg"
        and len(converted) >= COPY_FROM_ROWS
    ):
        _copy_in(connection, table.name, columns, converted, on_conflict_do_nothing)
        return
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join(marker for _ in columns)})"
    )
    if on_conflict_do_nothing:
        sql += f" ON CONFLICT ({', '.join(on_conflict_do_nothing)}) DO NOTHING"
    connection.exec_driver_sql(sql, converted)


def _copy_in(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    on_conflict_do_nothing: Sequence[str] | None,
) -> None:
    """PostgreSQL's COPY, in the caller's transaction: rows straight into the table, or, to
    skip those whose unique key exists, into a temporary table of the same columns and from
    there with INSERT … ON CONFLICT DO NOTHING. A driver error is raised as SQLAlchemy raises
    it (an IntegrityError for a unique key)."""
    names = ", ".join(columns)
    target = table
    driver = connection.connection.driver_connection
    assert driver is not None
    dbapi = connection.dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor:
            if on_conflict_do_nothing:
                target = f"bulk_{table}"
                cursor.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DROP AS "
                    f"SELECT {names} FROM {table} WITH NO DATA"
                )
            with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if on_conflict_do_nothing:
                cursor.execute(
                    f"INSERT INTO {table} ({names}) SELECT {names} FROM {target} "
                    f"ON CONFLICT ({', '.join(on_conflict_do_nothing)}) DO NOTHING"
                )
                cursor.execute(f"TRUNCATE {target}")
    except dbapi.Error as exc:
        raise DBAPIError.instance(
            f"COPY {target} ({names})", None, exc, dbapi.Error, dialect=connection.dialect
        ) from exc


def bind_converter(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """The column type's own bind conversion for one value (None: the driver takes it as it
    is), made cheap for bulk rows: scaled money on SQLite and plain dates without the generic
    machinery, and any other conversion done once for a run of identical values (a chunk's
    rows share their `now`, currency and status objects)."""
    column_type = column.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    if dialect.name == "sqlite":
        if isinstance(column_type, DecimalType):
            return column_type.sqlite_scaled_converter(process)
        if isinstance(column_type, Date):

            def date_text(value: Any) -> Any:
                return value.isoformat() if value.__class__ is date else process(value)

            return date_text
    if isinstance(column_type, JSON):  # mutable values: never reuse a conversion
        return process
    last: list[Any] = [_NOTHING, None]

    def remembering(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        converted = process(value)
        last[0], last[1] = value, converted
        return converted

    return remembering


def fetch_raw(connection: Connection, statement: Executable) -> list[tuple[Any, ...]]:
    """Every row of `statement` as the driver's own tuples, without SQLAlchemy's rows: for
    queries of hundreds of thousands of rows whose columns are `raw` (or need no
    conversion)."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def fetch_converted(connection: Connection, statement: Select[Any]) -> list[tuple[Any, ...]]:
    """Every row of `statement` as plain tuples, each column converted by its type's own
    result processor (for the column type the driver reports), column by column: what
    `.all()` returns, without a Row object and a processor call per value."""
    dialect = connection.dialect
    result = connection.execute(statement)
    try:
        processors = [
            _result_converter(column, dialect, described[1])
            for column, described in zip(
                statement.selected_columns, result.cursor.description, strict=True
            )
        ]
        rows = list(result.cursor.fetchall())
    finally:
        result.close()
    if not rows or not any(processors):
        return rows
    return _by_column(processors, rows)


def _by_column(
    processors: Sequence[Callable[[Any], Any] | None], rows: Sequence[Sequence[Any]]
) -> list[tuple[Any, ...]]:
    """The rows with each column's conversion mapped over that column (none is called for a
    column without one): a call per converted value, no Python loop per row."""
    return list(zip(*_converted_columns(processors, rows), strict=True))


def _converted_columns(
    processors: Sequence[Callable[[Any], Any] | None], rows: Sequence[Sequence[Any]]
) -> list[Sequence[Any]]:
    """Each column of `rows`, with its conversion mapped over it (none is called for a
    column without one)."""
    if not rows:
        return [[] for _ in processors]
    return [
        values if process is None else list(map(process, values))
        for process, values in zip(processors, zip(*rows, strict=True), strict=True)
    ]


def _result_converter(column: Any, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
    """The column type's result processor; on SQLite a plain date is read with
    `date.fromisoformat` (what SQLite's DATE processor returns, without its regular
    expression), and a scaled money integer with `decimal_reader` (what
    `DecimalType.process_result_value` returns, without the type decorator's call layers)."""
    process = column.type.dialect_impl(dialect).result_processor(dialect, coltype)
    if process is None or dialect.name != "sqlite":
        return process
    if isinstance(column.type, DecimalType):
        return decimal_reader(column, dialect.name)
    if type(column.type) is not Date:
        return process

    def iso_date(value: Any) -> Any:
        return date.fromisoformat(value) if value.__class__ is str else process(value)

    return iso_date


def reserve_ids(connection: Connection, table: Table, count: int) -> list[int]:
    """`count` new primary keys of `table`, ascending, for rows this transaction inserts with
    explicit ids (so that a bulk insert need not read them back). PostgreSQL draws them from
    the column's sequence; SQLite takes the database's write lock first (a no-op UPDATE), so
    that no other writer can take the same ids before this transaction commits."""
    if count <= 0:
        return []
    if connection.dialect.name == "postgresql":
        rows = connection.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": count},
        )
        return sorted(row[0] for row in rows)
    connection.exec_driver_sql(f"UPDATE {table.name} SET id = id WHERE 0")
    highest = connection.exec_driver_sql(f"SELECT max(id) FROM {table.name}").scalar() or 0
    return list(range(highest + 1, highest + 1 + count))


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
