"""Ids reserved for a bulk insert are new, ascending and never taken twice, and the database's
own numbering carries on after them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert, select

from billing_core.bills.tables import BillRun
from billing_core.db.columns import table_of
from billing_core.db.fast import bulk_insert, reserve_ids
from billing_core.events.tables import DomainEvent

RUN = table_of(BillRun)
EVENT = table_of(DomainEvent)
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


EVENT_COLUMNS = ("kind", "dedupe_key", "account_id", "payload", "created_at")


def events(keys: range) -> list[tuple[object, ...]]:
    return [("bill_issued", f"bulk:{k}", None, {"n": k, "note": "账单"}, NOW) for k in keys]


def test_many_rows_skip_the_keys_stored_already_and_keep_their_values(
    fresh_engine: Engine,
) -> None:
    """On PostgreSQL 100 rows and more go by COPY (through a temporary table when existing
    keys are skipped); fewer by INSERT. Both store the same."""
    from billing_core.db.fast import COPY_FROM_ROWS
    from billing_core.events.tables import DomainEvent

    event = table_of(DomainEvent)
    many = COPY_FROM_ROWS + 50
    with fresh_engine.begin() as connection:
        bulk_insert(connection, event, EVENT_COLUMNS, events(range(0, 10)))
        bulk_insert(connection, event, EVENT_COLUMNS, events(range(5, 5 + many)),
                    on_conflict_do_nothing=("dedupe_key",))  # fmt: skip
        bulk_insert(connection, event, EVENT_COLUMNS, events(range(1000, 1000 + many)),
                    on_conflict_do_nothing=("dedupe_key",))  # fmt: skip
    with fresh_engine.connect() as connection:
        stored = connection.execute(
            select(event.c.dedupe_key, event.c.payload, event.c.created_at)
        ).all()
    assert len(stored) == 5 + many + many
    assert {key for key, _payload, _at in stored} == {
        f"bulk:{k}" for k in [*range(0, 5 + many), *range(1000, 1000 + many)]
    }
    assert all(payload["note"] == "账单" and at == NOW for _key, payload, at in stored)


def test_many_rows_with_a_key_stored_already_raise_integrity_error_and_store_nothing(
    fresh_engine: Engine,
) -> None:
    from sqlalchemy.exc import IntegrityError

    from billing_core.db.fast import COPY_FROM_ROWS
    from billing_core.events.tables import DomainEvent

    event = table_of(DomainEvent)
    with fresh_engine.begin() as connection:
        bulk_insert(connection, event, EVENT_COLUMNS, events(range(0, 1)))
    with pytest.raises(IntegrityError), fresh_engine.begin() as connection:
        bulk_insert(connection, event, EVENT_COLUMNS, events(range(0, COPY_FROM_ROWS + 1)))
    with fresh_engine.connect() as connection:
        assert connection.execute(select(event.c.id)).all() == [(1,)]


@pytest.mark.parametrize("rows", [3, 130], ids=["insert", "copy"])
def test_pending_rows_store_what_bulk_insert_stores_once_their_ids_are_known(
    fresh_engine: Engine, rows: int
) -> None:
    """Rows converted ahead of their transaction, with columns that wait for reserved ids
    (here an event's key and payload), end up as the same rows given whole."""
    from billing_core.db.fast import insert_pending, pending_rows

    event = EVENT
    owners = [i % 2 for i in range(rows)]  # rows 0, 2, 4… wait for the first id, 1, 3… the second
    pending = pending_rows(
        fresh_engine.dialect, event, EVENT_COLUMNS,
        [("bill_issued", None, NOW) for _ in range(rows)],
        owners=owners,
        late={"dedupe_key": lambda row, id: f"late:{id}:{row}",
              "payload": lambda row, id: {"id": id, "row": row, "note": "账单"}},
    )  # fmt: skip
    assert len(pending) == rows
    with fresh_engine.begin() as connection:
        insert_pending(connection, pending, [70, 80])
        bulk_insert(connection, event, EVENT_COLUMNS, [
            ("bill_issued", f"whole:{(70, 80)[owner]}:{row}", None,
             {"id": (70, 80)[owner], "row": row, "note": "账单"}, NOW)
            for row, owner in enumerate(owners)
        ])  # fmt: skip
    with fresh_engine.connect() as connection:
        stored = connection.execute(
            select(event.c.dedupe_key, event.c.payload, event.c.created_at).order_by(event.c.id)
        ).all()
    late = [(key.removeprefix("late:"), payload, at) for key, payload, at in stored[:rows]]
    whole = [(key.removeprefix("whole:"), payload, at) for key, payload, at in stored[rows:]]
    assert late == whole
    assert late[1] == ("80:1", {"id": 80, "row": 1, "note": "账单"}, NOW)


def test_pending_rows_of_the_wrong_width_or_owners_are_refused(fresh_engine: Engine) -> None:
    from billing_core.db.fast import pending_rows

    late = {"dedupe_key": lambda row, id: str(id)}
    with pytest.raises(ValueError, match="every row needs 4 values"):
        pending_rows(fresh_engine.dialect, EVENT, EVENT_COLUMNS,
                     [("k", None, {}, NOW), ("k", None, {})], owners=[0, 0], late=late)  # fmt: skip
    with pytest.raises(ValueError, match="2 rows but 1 owners"):
        pending_rows(fresh_engine.dialect, EVENT, EVENT_COLUMNS,
                     [("k", None, {}, NOW)] * 2, owners=[0], late=late)  # fmt: skip


def test_bill_issued_events_pending_store_the_payloads_recorded_one_by_one(
    fresh_engine: Engine,
) -> None:
    """On SQLite each payload is encoded ahead and its bill id spliced in once reserved; on
    PostgreSQL it is encoded then: either way the rows hold what `bill_issued_event` gives."""
    from decimal import Decimal

    from billing_core.db.fast import insert_pending
    from billing_core.events.service import (
        IssuedBill,
        bill_issued_event,
        pending_bill_issued_events,
    )

    bills = [
        IssuedBill(41, Decimal(total), "CNY", date(2026, 12, 10), date(2026, 10, 1),
                   date(2026, 10, 31))
        for total in ("0.00", "12.30", "1234567.89")
    ]  # fmt: skip
    pending = pending_bill_issued_events(
        fresh_engine.dialect, bills=list(enumerate(bills)), now=NOW
    )
    assert ("payload" in pending.ready) is (fresh_engine.dialect.name == "sqlite")
    with fresh_engine.begin() as connection:
        insert_pending(connection, pending, [7, 10, 123_456])
    with fresh_engine.connect() as connection:
        stored = connection.execute(
            select(EVENT.c.kind, EVENT.c.dedupe_key, EVENT.c.payload).order_by(EVENT.c.id)
        ).all()
    expected = [
        bill_issued_event(bill_id=bill_id, **bill._asdict())
        for bill_id, bill in zip([7, 10, 123_456], bills, strict=True)
    ]
    assert [tuple(row) for row in stored] == [
        (event["kind"], event["dedupe_key"], event["payload"]) for event in expected
    ]
