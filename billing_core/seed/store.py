"""Stores generated seed rows with SQLAlchemy Core batch inserts (executemany), parents first,
inside the caller's transaction; plus the id and sequence bookkeeping explicit ids need."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, text

from billing_core.seed.model import TABLE_ORDER, Row
from billing_core.tables import metadata

BATCH_ROWS = 10_000


def seed_table(name: str) -> Table:
    return metadata.tables[name]


def insert_batch(connection: Connection, table: Table, values: Sequence[Mapping[str, Any]]) -> None:
    """One executemany INSERT of many rows."""
    connection.execute(insert(table), values)


class RowWriter:
    """Buffers rows per table and inserts them in batches. Whenever one buffer is full, every
    buffer is written in TABLE_ORDER, so a row's parents are always stored before it."""

    def __init__(
        self,
        connection: Connection,
        *,
        batch_rows: int | None = None,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self.connection = connection
        self.batch_rows = batch_rows or BATCH_ROWS
        self.on_flush = on_flush
        self.counts: Counter[str] = Counter()
        self._buffers: dict[str, list[Row]] = {name: [] for name in TABLE_ORDER}
        self._columns: dict[str, tuple[str, ...]] = {}
        self._getters: dict[str, Callable[[Row], tuple[Any, ...]]] = {}

    def add(self, row: Row) -> None:
        buffer = self._buffers[row.TABLE]
        buffer.append(row)
        if len(buffer) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        for name in TABLE_ORDER:
            rows = self._buffers[name]
            if not rows:
                continue
            if name not in self._columns:
                self._learn_columns(name, type(rows[0]))
            columns, getter = self._columns[name], self._getters[name]
            insert_batch(
                self.connection,
                seed_table(name),
                [dict(zip(columns, getter(row), strict=True)) for row in rows],
            )
            self.counts[name] += len(rows)
            self._buffers[name] = []
        if self.on_flush is not None:
            self.on_flush()

    def _learn_columns(self, name: str, row_type: type) -> None:
        # The row's fields that are columns: helper fields (a reading's `anomaly`) stay out,
        # and a column the generator does not know takes its default (NULL).
        stored = set(seed_table(name).c.keys())
        names = getattr(row_type, "_fields", None) or [f.name for f in fields(row_type)]
        columns = tuple(name for name in names if name in stored)
        self._columns[name] = columns
        self._getters[name] = attrgetter(*columns)


def next_ids(connection: Connection) -> dict[str, int]:
    """The first free id of every seeded table (1 for an empty table)."""
    ids = {}
    for name in TABLE_ORDER:
        table = seed_table(name)
        highest = connection.execute(select(func.max(table.c.id))).scalar_one()
        ids[name] = (highest or 0) + 1
    return ids


def reset_sequences(connection: Connection) -> None:
    """After inserts with explicit ids, move PostgreSQL's id sequences past them so later
    inserts that let the database choose the id do not collide. SQLite needs nothing."""
    if connection.dialect.name != "postgresql":
        return
    for name in TABLE_ORDER:  # fixed table names, not input
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {name}"
            )
        )


def count_rows(connection: Connection) -> dict[str, int]:
    """Rows per seeded table, as the database holds them."""
    return {
        name: connection.execute(select(func.count()).select_from(seed_table(name))).scalar_one()
        for name in TABLE_ORDER
    }
