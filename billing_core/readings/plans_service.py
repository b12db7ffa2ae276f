"""Reading plans from the database: a month's rolling plan over its working days, and the due
accounts whose meters have no reading (listed explicitly, never estimated)."""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import and_, exists, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from billing_core.calendar import WorkingCalendar
from billing_core.customers.model import AccountStatus
from billing_core.customers.tables import Account
from billing_core.errors import InvalidInput
from billing_core.readings.model import ReadingSource
from billing_core.readings.plans import (
    BookLoad,
    LoadSummary,
    PlanStatus,
    spread_books,
    summarise_load,
)
from billing_core.readings.tables import (
    Meter,
    MeterReading,
    ReadingBook,
    ReadingDayChange,
    ReadingPlan,
)

DEFAULT_READING_WINDOW_DAYS = 2  # a reading up to 2 days before the reading day counts


@dataclass(frozen=True)
class RollingPlan:
    month: date  # the first day of the month
    working_days: Sequence[date]
    days: Mapping[date, list[BookLoad]]  # every working day, in order, with its books
    load: LoadSummary
    accounts_without_book: int  # active accounts in no book: no plan reads them


@dataclass(frozen=True)
class MissedAccount:
    """A due account with a meter (or no meter at all) that was not read in the window."""

    due_on: date
    account_number: str
    reading_day: int
    book_code: str | None
    book_name: str | None
    meter_serial: str | None  # None: the account has no meter in service
    last_read_on: date | None  # local date of the meter's last actual reading, if any


def rolling_plan(*, session: Session, month: date, calendar: WorkingCalendar) -> RollingPlan:
    """Spread every reading book over the month's working days by its active accounts."""
    first, last = _month_bounds(month)
    live = _active_during(first, last)
    accounts = func.count(col(Account.id))
    rows = session.exec(
        select(ReadingBook.code, ReadingBook.name, ReadingBook.reading_day, accounts)
        .select_from(ReadingBook)
        .outerjoin(Account, and_(col(Account.reading_book_id) == col(ReadingBook.id), live))
        .group_by(
            col(ReadingBook.id),
            col(ReadingBook.code),
            col(ReadingBook.name),
            col(ReadingBook.reading_day),
        )
    ).all()
    books = [
        BookLoad(code=code, name=name, reading_day=day, accounts=count)
        for code, name, day, count in rows
    ]
    unbooked = session.exec(
        select(func.count(col(Account.id))).where(col(Account.reading_book_id).is_(None), live)
    ).one()
    working_days = calendar.working_days(first, last)
    days = spread_books(books, working_days)
    return RollingPlan(
        month=first,
        working_days=tuple(working_days),
        days=days,
        load=summarise_load(days),
        accounts_without_book=unbooked,
    )


def missed_readings(
    *,
    session: Session,
    on: date,
    tz: tzinfo,
    grace_days: int = DEFAULT_READING_WINDOW_DAYS,
) -> list[MissedAccount]:
    """Accounts due on `on` with a meter in service that has no actual reading whose local
    date falls in [on − grace_days, on], one row per unread meter; a due account with no meter
    is listed too. An estimated reading does not count as read (DOMAIN §1).

    One query: the window check and the last reading are correlated subqueries that use the
    (meter_id, read_at) unique index, so it stays fast on 100,000 accounts."""
    if grace_days < 0:
        raise InvalidInput("the reading window cannot be negative")
    window_start = _local_midnight(on - timedelta(days=grace_days), tz)
    window_end = _local_midnight(on + timedelta(days=1), tz)
    actual = and_(
        col(MeterReading.estimated).is_(False),
        col(MeterReading.source) != ReadingSource.estimated.value,
    )
    read_in_window = exists().where(
        col(MeterReading.meter_id) == col(Meter.id),
        col(MeterReading.read_at) >= window_start,
        col(MeterReading.read_at) < window_end,
        actual,
    )
    last_read_at = (
        select(func.max(MeterReading.read_at))
        .where(
            col(MeterReading.meter_id) == col(Meter.id),
            col(MeterReading.read_at) < window_end,
            actual,
        )
        .correlate(Meter)
        .scalar_subquery()
    )
    in_service = and_(
        col(Meter.account_id) == col(Account.id),
        col(Meter.installed_on) <= on,
        or_(col(Meter.removed_on).is_(None), col(Meter.removed_on) > on),
    )
    # Core select: six columns are more than sqlmodel's typed `select` overloads take.
    rows = (
        session.connection()
        .execute(
            sa_select(
                col(Account.number),
                col(Account.reading_day),
                col(ReadingBook.code),
                col(ReadingBook.name),
                col(Meter.serial),
                last_read_at,
            )
            .select_from(Account)
            .outerjoin(ReadingBook, col(ReadingBook.id) == col(Account.reading_book_id))
            .outerjoin(Meter, in_service)
            .where(_due_on(on), ~read_in_window)
            .order_by(
                col(ReadingBook.code).is_(None),  # accounts in no book last, on both databases
                col(ReadingBook.code),
                col(Account.number),
                col(Meter.serial),
            )
        )
        .all()
    )
    return [
        MissedAccount(
            due_on=on,
            account_number=number,
            reading_day=day,
            book_code=book_code,
            book_name=book_name,
            meter_serial=serial,
            last_read_on=last.astimezone(tz).date() if last is not None else None,
        )
        for number, day, book_code, book_name, serial, last in rows
    ]


def due_account_count(*, session: Session, on: date) -> int:
    """How many accounts are due for reading on `on` (the denominator of the 100 % target)."""
    return session.exec(select(func.count(col(Account.id))).where(_due_on(on))).one()


def due_reading_days(on: date) -> list[int]:
    """The reading days due on a date: its own day of the month, and on a month's last day
    also the days the month does not have (a day 31 account in a 30-day month is read on the
    30th). Reading days stop at 28 today, so the second part only guards a later change."""
    days_in_month = gregorian.monthrange(on.year, on.month)[1]
    return [on.day, *range(on.day + 1, 32)] if on.day == days_in_month else [on.day]


def _due_on(on: date) -> ColumnElement[bool]:
    return and_(
        col(Account.status) == AccountStatus.active.value,
        col(Account.reading_day).in_(due_reading_days(on)),
        col(Account.opened_on) < on,
        or_(col(Account.closed_on).is_(None), col(Account.closed_on) > on),
        # not between its last reading on an old day and its first on a new one (an applied
        # reading plan: docs/readings.md)
        ~exists().where(
            col(ReadingDayChange.account_id) == col(Account.id),
            col(ReadingDayChange.last_old_reading_on) < on,
            col(ReadingDayChange.first_new_reading_on) > on,
            col(ReadingDayChange.plan_id).in_(
                select(ReadingPlan.id).where(col(ReadingPlan.status) == PlanStatus.applied)
            ),
        ),
    )


def _active_during(first: date, last: date) -> ColumnElement[bool]:
    return and_(
        col(Account.status) == AccountStatus.active.value,
        col(Account.opened_on) <= last,
        or_(col(Account.closed_on).is_(None), col(Account.closed_on) >= first),
    )


def _month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, first.replace(day=gregorian.monthrange(first.year, first.month)[1])


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    # The instant the local day starts, in UTC as read_at is stored.
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
