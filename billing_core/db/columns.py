"""Column factories: each call makes a fresh Column, as SQLModel needs one per field."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Table, text

from billing_core.db.types import DecimalType, UTCDateTime


def money(*, nullable: bool = False, **kwargs: Any) -> Any:
    return Column(DecimalType(scale=2), nullable=nullable, **kwargs)


def quantity(scale: int = 3, *, nullable: bool = False, **kwargs: Any) -> Any:
    return Column(DecimalType(scale=scale), nullable=nullable, **kwargs)


def instant(*, nullable: bool = False, **kwargs: Any) -> Any:
    return Column(UTCDateTime(), nullable=nullable, **kwargs)


def foreign_key(
    target: str, *, nullable: bool = False, index: bool = True, ondelete: str | None = None
) -> Any:
    from sqlalchemy import Integer

    return Column(Integer, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)


def index_where_set(table: str, column: str) -> Index:
    """`ix_<table>_<column>` over the rows where `column` is set: for a foreign key that most
    rows leave NULL, and that is read only by its value (a lookup, or the key's check when
    the row it points to is deleted), which such a partial index serves. Each row that
    leaves it NULL writes nothing to it."""
    where = text(f"{column} IS NOT NULL")
    return Index(f"ix_{table}_{column}", column, sqlite_where=where, postgresql_where=where)


def table_of(model: type[Any]) -> Table:
    """The Core Table behind a SQLModel class, for bulk statements."""
    table: Table = model.__table__
    return table
