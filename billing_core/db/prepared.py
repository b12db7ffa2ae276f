"""Prepared statements for the hottest units of work (answering an SMS): a Core statement
compiled once per database and set of parameters, then run straight on the driver's cursor.

`connection.execute(statement)` does a lot of Python per statement before the database
does anything: a cache key built from the statement, events, an execution context and a
result object. An SMS answer runs eight statements, so that overhead was a large part of
its CPU. Here the compiled SQL and each parameter's conversion are looked up once; a call
converts the parameters, executes, and converts the result's columns with the column
types' own conversions (the same `DecimalType`/`UTCDateTime` rules as everywhere), in the
caller's transaction. Driver errors are raised as SQLAlchemy raises them (`IntegrityError`,
`OperationalError`), so callers and retries see what they always saw.

What is given up: SQLAlchemy's statement events and echo logging for these statements. Use it
for a few fixed statements on a hot path, not as the way to talk to the database."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Converter = Callable[[Any], Any]


@dataclass
class _Compiled:
    sql: str
    compiled: SQLCompiler  # fills in the statement's own literal values
    names: tuple[str, ...]  # parameters in the order of a positional driver
    bind: tuple[Converter | None, ...]  # each parameter's conversion, in `names` order
    positional: bool
    columns: tuple[Any, ...]  # the result's columns (a SELECT's, or RETURNING's)
    defaults: dict[str, Any] | None  # plain column defaults of the columns not given
    # every value that is not the caller's (literals, defaults), when none is computed per
    # execution (a bind with a callable): what construct_params would fill in each time
    fixed: dict[str, Any] | None
    results: list[Converter | None] | None = None  # their conversions, once rows came
    pairs: tuple[tuple[str, Converter | None], ...] = field(init=False)  # names with binds

    def __post_init__(self) -> None:
        self.pairs = tuple(zip(self.names, self.bind, strict=True))


@dataclass(frozen=True)
class Rows:
    """What the driver returned: converted rows, how many rows the statement changed, and
    the row id an INSERT made where the driver says it (SQLite's; None on PostgreSQL, where
    an INSERT reads its id back with RETURNING)."""

    rows: list[tuple[Any, ...]]
    rowcount: int
    lastrowid: int | None = None

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def all(self) -> list[tuple[Any, ...]]:
        return self.rows

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Prepared:
    """`statement`, run with `execute(connection, params)`; compiled on first use for each
    database and each set of parameter names (an INSERT's columns are the names given)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> Rows:
        dialect = connection.dialect
        prepared = self._prepared(dialect, params)
        args = self._args(prepared, params)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(prepared.sql, args)
            description = cursor.description
            rows: list[tuple[Any, ...]] = list(cursor.fetchall()) if description else []
            rowcount = cursor.rowcount
            lastrowid = getattr(cursor, "lastrowid", None)
        except dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy(dialect, prepared.sql, args, exc) from exc
        finally:
            cursor.close()
        if rows and description:
            if prepared.results is None:
                prepared.results = [
                    column.type.dialect_impl(dialect).result_processor(dialect, described[1])
                    for column, described in zip(prepared.columns, description, strict=True)
                ]
            if any(prepared.results):
                rows = [
                    tuple(
                        value if convert is None else convert(value)
                        for value, convert in zip(row, prepared.results, strict=True)
                    )
                    for row in rows
                ]
        return Rows(rows, rowcount, lastrowid)

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The statement once for each of `rows` (all with the same names), in order, as one
        call of the driver's `executemany`: for an INSERT of a few rows that need nothing
        read back."""
        if not rows:
            return
        dialect = connection.dialect
        prepared = self._prepared(dialect, rows[0])
        many = [self._args(prepared, params) for params in rows]
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(prepared.sql, many)  # type: ignore[arg-type]  # all alike
        except dialect.loaded_dbapi.Error as exc:
            raise _as_sqlalchemy(dialect, prepared.sql, many, exc) from exc
        finally:
            cursor.close()

    def _prepared(self, dialect: Dialect, params: Mapping[str, Any]) -> _Compiled:
        prepared = self._compiled.get((dialect.name, tuple(params)))
        return prepared if prepared is not None else self._compile(dialect, tuple(params))

    @staticmethod
    def _args(prepared: _Compiled, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters: the statement's own values, then the caller's, each
        converted by its type."""
        if prepared.fixed is not None:  # the statement's own values, then the caller's
            values = {**prepared.fixed, **params}
        else:  # a value computed per execution
            values = {**prepared.compiled.construct_params(params), **(prepared.defaults or {})}
        if prepared.positional:
            return [
                values[name] if convert is None else convert(values[name])
                for name, convert in prepared.pairs
            ]
        return {
            name: values[name] if convert is None else convert(values[name])
            for name, convert in prepared.pairs
        }

    def _compile(self, dialect: Dialect, names: tuple[str, ...]) -> _Compiled:
        compiled = cast(
            SQLCompiler, self.statement.compile(dialect=dialect, column_keys=list(names))
        )
        # Columns left out that have a default: a plain value is filled in; a function's
        # (run per row by SQLAlchemy's execution) is refused, the caller must give it.
        defaults = {}
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            if column.default is None or not column.default.is_scalar:
                raise ValueError(
                    f"a prepared statement runs no Python-side column defaults: give {column.key}"
                )
            defaults[column.key] = column.default.arg  # type: ignore[attr-defined]
        positions = compiled.positiontup
        positional = positions is not None
        order = tuple(positions) if positions is not None else tuple(compiled.bind_names.values())
        bind = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in order
        )
        # the result's columns: a DML statement's RETURNING (PostgreSQL adds the primary key
        # to an INSERT's by itself), or a SELECT's
        returning = compiled.effective_returning
        columns = tuple(
            returning if returning is not None else getattr(self.statement, "selected_columns", ())
        )
        fixed = None
        if not any(b.callable is not None for b in compiled.binds.values()):
            given = dict.fromkeys(names)
            fixed = {
                name: value
                for name, value in {**compiled.construct_params(given), **defaults}.items()
                if name not in given
            }
        prepared = _Compiled(
            compiled.string, compiled, order, bind, positional, columns, defaults or None, fixed
        )
        self._compiled[(dialect.name, names)] = prepared
        return prepared


def _as_sqlalchemy(dialect: Dialect, sql: str, args: Any, error: Exception) -> StatementError:
    """A driver's error as SQLAlchemy raises it (`IntegrityError`, `OperationalError`), so
    callers and retries see what `connection.execute` would have raised."""
    return DBAPIError.instance(sql, args, error, dialect.loaded_dbapi.Error, dialect=dialect)
