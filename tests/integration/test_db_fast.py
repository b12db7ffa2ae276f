"""Ids reserved for a bulk insert are new, ascending and never taken twice, and the database's
own numbering carries on after them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert, select

from billing_core.bills.tables import BillRun
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert, reserve_ids

RUN = table_of(BillRun)
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


COUNTS = ("issued", "in_review", "skipped", "missed", "failed")


def run_row() -> dict[str, object]:
    return {"run_date": date(2026, 11, 26), "status": "finished", "started_at": NOW,
            "summary": {}}  # fmt: skip


def test_reserved_ids_follow_the_stored_ones_and_numbering_carries_on(
    fresh_engine: Engine,
) -> None:
    with fresh_engine.begin() as connection:
        first = connection.execute(insert(RUN).returning(RUN.c.id), run_row()).scalar_one()
        ids = reserve_ids(connection, RUN, 3)
        assert ids == sorted(ids) and len(set(ids)) == 3 and min(ids) > first
        bulk_insert(
            connection,
            RUN,
            ("id", "run_date", "status", "started_at", "summary", *COUNTS),
            [(i, date(2026, 11, 26), "finished", NOW, {}, 0, 0, 0, 0, 0) for i in ids],
        )
    with fresh_engine.begin() as connection:
        after = connection.execute(insert(RUN).returning(RUN.c.id), run_row()).scalar_one()
        more = reserve_ids(connection, RUN, 2)
    assert after > max(ids)
    assert min(more) > after
    with fresh_engine.connect() as connection:
        assert connection.execute(select(RUN.c.id).order_by(RUN.c.id)).scalars().all() == [
            first, *ids, after
        ]  # fmt: skip


def test_a_row_of_the_wrong_width_is_refused_before_anything_is_written(
    fresh_engine: Engine,
) -> None:
    with pytest.raises(ValueError, match="every row needs 4 values"), fresh_engine.begin() as c:
        bulk_insert(
            c,
            RUN,
            ("run_date", "status", "started_at", "summary"),
            [(date(2026, 11, 26), "finished", NOW, {}), (date(2026, 11, 26), "finished", NOW)],
        )
    with fresh_engine.connect() as connection:
        assert connection.execute(select(RUN.c.id)).first() is None


def test_converted_rows_equal_what_sqlalchemy_returns(fresh_engine: Engine) -> None:
    from billing_core.db.fast import fetch_converted

    with fresh_engine.begin() as connection:
        run_id = connection.execute(insert(RUN).returning(RUN.c.id), run_row()).scalar_one()
        statement = select(RUN.c.id, RUN.c.run_date, RUN.c.started_at, RUN.c.status).where(
            RUN.c.id == run_id
        )
        assert fetch_converted(connection, statement) == [
            tuple(row) for row in connection.execute(statement).all()
        ]
        assert fetch_converted(connection, statement)[0][1:3] == (date(2026, 11, 26), NOW)
