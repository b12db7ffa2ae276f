"""Reading plans on both databases: the rolling plan over real working days, and missed readings
listed explicitly (local dates, estimates not counted), through the service and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import Session
from typer.testing import CliRunner

from billing_core.calendar import WorkingCalendar
from billing_core.customers.model import AccountStatus
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine, session_scope
from billing_core.readings.plans_service import (
    due_account_count,
    due_reading_days,
    missed_readings,
    rolling_plan,
)
from tests.factories import make_account, make_book, make_customer, make_meter, make_reading

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2025, 1, 1, tzinfo=UTC)
DUE = date(2026, 1, 5)  # a Monday; with the 2-day window, readings dated 3–5 January count


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def cn_2025() -> WorkingCalendar:
    return WorkingCalendar.for_country("CN", [2025])


def build_books(session: Session, prefix: str) -> dict[str, int]:
    """Three books with 5, 3 and 1 active accounts, plus accounts that must not count
    (read on the 20th, so none of them is due on 5 January)."""
    customer = make_customer(session, at=AT)
    sizes = {f"{prefix}-BIG": 5, f"{prefix}-MID": 3, f"{prefix}-SMALL": 1}

    def account(**fields: object) -> Account:
        return make_account(session, customer=customer, reading_day=20, **fields)

    for code, size in sizes.items():
        book = make_book(session, code=code, name=f"book {code}", reading_day=20)
        for _ in range(size):
            account(reading_book_id=book.id)
    empty = make_book(session, code=f"{prefix}-EMPTY", name="closed and future accounts only")
    account(reading_book_id=empty.id, status=AccountStatus.closed)
    account(reading_book_id=empty.id, opened_on=date(2025, 11, 1))
    account()  # active, in no book
    return {**sizes, f"{prefix}-EMPTY": 0}


def test_rolling_plan_spreads_books_over_the_working_days_of_october_2025(
    session: Session, cn_2025: WorkingCalendar
) -> None:
    before = rolling_plan(session=session, month=date(2025, 10, 1), calendar=cn_2025)
    sizes = build_books(session, "RP")

    plan = rolling_plan(session=session, month=date(2025, 10, 17), calendar=cn_2025)

    assert plan.month == date(2025, 10, 1)
    assert plan.working_days[0] == date(2025, 10, 9)  # golden week 1–8 October is off
    assert date(2025, 10, 11) in plan.working_days  # make-up Saturday
    assert len(plan.working_days) == 18
    assigned = {
        book.code: (day, book.accounts)
        for day, books in plan.days.items()
        for book in books
        if book.code.startswith("RP-")
    }
    assert {code: accounts for code, (_, accounts) in assigned.items()} == sizes
    assert plan.accounts_without_book == before.accounts_without_book + 1
    assert plan.load.total == before.load.total + 9
    if before.load.books == 0:  # an otherwise empty database: the exact spread is known
        assert assigned["RP-BIG"][0] == date(2025, 10, 9)
        assert assigned["RP-MID"][0] == date(2025, 10, 10)
        assert (plan.load.min_load, plan.load.max_load) == (0, 5)


def make_missed_scene(session: Session) -> dict[str, str]:
    """Accounts due on 5 January 2026 in every situation; returns name → account number."""
    customer = make_customer(session, at=AT)
    book_a = make_book(session, code="MS-A", name="东区一段", reading_day=5)
    book_b = make_book(session, code="MS-B", name="东区二段", reading_day=5)
    names: dict[str, str] = {}

    def account(name: str, book_id: int | None = book_a.id, **fields: object) -> Account:
        acc = make_account(session, customer=customer, reading_book_id=book_id, **fields)
        names[name] = acc.number
        return acc

    read = account("read")
    make_reading(session, meter=make_meter(session, account=read), read_at=local(2026, 1, 4, 10))

    # 01:00 on the 3rd in Shanghai is still the 2nd in UTC: the local date decides
    early = account("early_local")
    make_reading(
        session,
        meter=make_meter(session, account=early),
        read_at=datetime(2026, 1, 2, 17, tzinfo=UTC),
    )

    before_window = account("before_window", book_b.id)
    m = make_meter(session, account=before_window, serial="MS-BEFORE")
    make_reading(session, meter=m, read_at=local(2026, 1, 2, 23))

    after_due = account("after_due", book_b.id)
    m = make_meter(session, account=after_due, serial="MS-AFTER")
    make_reading(session, meter=m, read_at=local(2025, 12, 5, 9))
    make_reading(session, meter=m, read_at=local(2026, 1, 6, 0, 30), total=1100)

    estimated = account("estimated")
    m = make_meter(session, account=estimated, serial="MS-EST")
    make_reading(session, meter=m, read_at=local(2026, 1, 5, 9), estimated=True, source="estimated")

    account("no_meter", None)

    two = account("two_meters")
    make_reading(session, meter=make_meter(session, account=two), read_at=local(2026, 1, 5, 8))
    make_meter(session, account=two, serial="MS-SECOND")
    make_meter(session, account=two, serial="MS-REMOVED", removed_on=date(2025, 12, 20))

    # not due, not active, or opened on the day: never listed
    account("other_day", reading_day=6)
    account("closed", status=AccountStatus.closed)
    account("opened_today", opened_on=DUE)
    return names


def test_missed_readings_lists_every_unread_due_meter_explicitly(session: Session) -> None:
    due_before = due_account_count(session=session, on=DUE)
    names = make_missed_scene(session)
    mine = set(names.values())

    rows = [
        r for r in missed_readings(session=session, on=DUE, tz=SHANGHAI) if r.account_number in mine
    ]

    name_of = {number: name for name, number in names.items()}
    listed = [
        (name_of[r.account_number], r.book_code, r.meter_serial, r.last_read_on) for r in rows
    ]
    # by book (no book last), then account number (made in this order)
    assert listed == [
        ("estimated", "MS-A", "MS-EST", None),  # an estimate is not a reading
        ("two_meters", "MS-A", "MS-SECOND", None),  # the removed meter is not expected
        ("before_window", "MS-B", "MS-BEFORE", date(2026, 1, 2)),
        ("after_due", "MS-B", "MS-AFTER", date(2025, 12, 5)),  # the 6 January one is later
        ("no_meter", None, None, None),
    ]
    assert all(r.due_on == DUE and r.reading_day == 5 for r in rows)
    # 7 due accounts were made (other_day, closed and opened_today are not due)
    assert due_account_count(session=session, on=DUE) == due_before + 7


def test_a_wider_window_counts_an_earlier_reading(session: Session) -> None:
    names = make_missed_scene(session)
    rows = missed_readings(session=session, on=DUE, tz=SHANGHAI, grace_days=3)
    assert names["before_window"] not in {r.account_number for r in rows}
    assert names["after_due"] in {r.account_number for r in rows}


def test_on_the_last_day_of_a_short_month_later_reading_days_are_due(session: Session) -> None:
    assert due_reading_days(date(2026, 2, 28)) == [28, 29, 30, 31]
    assert due_reading_days(date(2026, 4, 30)) == [30, 31]
    assert due_reading_days(date(2026, 3, 28)) == [28]
    customer = make_customer(session, at=AT)
    day_28 = make_account(session, customer=customer, reading_day=28)
    rows = missed_readings(session=session, on=date(2026, 2, 28), tz=SHANGHAI)
    assert day_28.number in {r.account_number for r in rows}
    # 28 March is not a month end: only day-28 accounts, as every other day
    rows = missed_readings(session=session, on=date(2026, 3, 28), tz=SHANGHAI)
    assert day_28.number in {r.account_number for r in rows}


def test_missed_readings_is_one_query_whatever_the_number_of_accounts(session: Session) -> None:
    customer = make_customer(session, at=AT)
    for _ in range(30):
        make_meter(session, account=make_account(session, customer=customer))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", count)
    try:
        rows = missed_readings(session=session, on=DUE, tz=SHANGHAI)
    finally:
        event.remove(connection, "before_cursor_execute", count)
    assert len(rows) >= 30
    assert len(statements) == 1


# --- the CLI, on a database of each kind ---------------------------------------------------


@pytest.fixture
def cli_scene(cli_database: str) -> Iterator[dict[str, str]]:
    engine = create_db_engine(cli_database)
    with session_scope(engine) as session:
        build_books(session, "CLI")
        names = make_missed_scene(session)
    engine.dispose()
    yield names


def test_cli_plan_rolling_shows_the_load_per_working_day(
    cli_env: CliRunner, cli_scene: dict[str, str]
) -> None:
    from api.cli import app

    result = cli_env.invoke(app, ["plan", "rolling", "--month", "2025-10"])
    assert result.exit_code == 0, result.output
    assert "2025-10-09" in result.output
    assert "2025-10-01" not in result.output
    assert "CLI-BIG" in result.output
    # 9 CLI-* accounts, 5 in MS-A and 2 in MS-B are active in October 2025
    assert "Spread 6 books (16 accounts) over 18 working days of 2025-10" in result.output
    assert "in no reading book" in result.output

    as_json = cli_env.invoke(app, ["plan", "rolling", "--month", "2025-10", "--json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    assert payload["country"] == "CN"
    assert len(payload["days"]) == 18
    assert sum(day["accounts"] for day in payload["days"]) == payload["load"]["total"] == 16
    assert payload["warnings"] == []


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "202601", "October"])
def test_cli_plan_rolling_refuses_a_bad_month(cli_env: CliRunner, month: str) -> None:
    from api.cli import app

    # refused before any setting or database is touched

    result = cli_env.invoke(app, ["plan", "rolling", "--month", month])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_cli_plan_missed_lists_and_counts_the_missed_accounts(
    cli_env: CliRunner, cli_scene: dict[str, str]
) -> None:
    from api.cli import app

    result = cli_env.invoke(app, ["plan", "missed", "--date", "2026-01-05"])
    assert result.exit_code == 0, result.output
    assert cli_scene["before_window"] in result.output
    assert cli_scene["read"] not in result.output
    assert "5 of 7 due accounts (5 meters) have no reading" in result.output
    assert "not estimated" in result.output

    as_json = cli_env.invoke(app, ["plan", "missed", "--date", "2026-01-05", "--json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    assert (payload["due_accounts"], payload["missed_accounts"]) == (7, 5)
    after_due = next(m for m in payload["missed"] if m["account_number"] == cli_scene["after_due"])
    assert after_due["last_read_on"] == "2025-12-05"
    assert after_due["meter_serial"] == "MS-AFTER"

    bad = cli_env.invoke(app, ["plan", "missed", "--date", "2026-02-30"])
    assert bad.exit_code == 2
    assert "YYYY-MM-DD" in bad.output
