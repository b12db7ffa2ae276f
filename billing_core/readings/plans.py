"""Rolling reading (滚动抄表): spread reading books over a month's working days so each day's
account load is as even as possible, and describe how even it came out. Pure functions."""

from __future__ import annotations

import calendar
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class PlanStatus(StrEnum):
    """A reading plan's life: proposed → approved (or rejected) → applied."""

    proposed = "proposed"
    approved = "approved"
    rejected = "rejected"
    applied = "applied"


@dataclass(frozen=True)
class BookLoad:
    """A reading book (抄表段) and how many accounts reading it means."""

    code: str
    accounts: int
    name: str = ""
    reading_day: int | None = None  # the book's configured reading day (抄表例日), for display


@dataclass(frozen=True)
class LoadSummary:
    """How even a plan is. `spread` is max − min accounts a day; `imbalance` is max / mean − 1
    (0 when the busiest day carries no more than the average)."""

    days: int
    books: int
    total: int
    min_load: int
    max_load: int
    mean_load: float
    spread: int
    imbalance: float
    largest_book: int


def spread_books(
    books: Sequence[BookLoad], working_days: Sequence[date]
) -> dict[date, list[BookLoad]]:
    """Assign every book to one working day, largest book first onto the least-loaded day
    (greedy LPT: the busiest and the quietest day differ by at most the largest book).

    Deterministic: books of equal size go in code order; among equally loaded days the one
    with fewer books wins, then the earlier date. Every working day is a key, in date order;
    a day's books are listed in the order they were assigned (largest first)."""
    days = sorted(set(working_days))
    codes = [book.code for book in books]
    if len(set(codes)) != len(codes):
        raise ValueError("book codes must be unique")
    if any(book.accounts < 0 for book in books):
        raise ValueError("a book cannot hold a negative number of accounts")
    plan: dict[date, list[BookLoad]] = {day: [] for day in days}
    if not books:
        return plan
    if not days:
        raise ValueError("there is no working day to read the books on")
    # (accounts so far, books so far, day): the smallest tuple is the day that takes the next book
    queue = [(0, 0, day) for day in days]
    for book in sorted(books, key=lambda b: (-b.accounts, b.code)):
        load, count, day = heapq.heappop(queue)
        plan[day].append(book)
        heapq.heappush(queue, (load + book.accounts, count + 1, day))
    return plan


def daily_loads(plan: Mapping[date, Sequence[BookLoad]]) -> dict[date, int]:
    """Accounts to read on each day of the plan."""
    return {day: sum(book.accounts for book in books) for day, books in sorted(plan.items())}


def summarise_load(plan: Mapping[date, Sequence[BookLoad]]) -> LoadSummary:
    sizes = [book.accounts for books in plan.values() for book in books]
    return summarise_days(daily_loads(plan), max(sizes, default=0), len(sizes))


# --- applying a plan: reading-day changes and their transition (docs/readings.md) -----------


def month_day(year: int, month: int, day: int) -> date:
    """The day of that month, or the month's last day when it has fewer days."""
    year, month0 = divmod(year * 12 + month - 1, 12)
    return date(year, month0 + 1, min(day, calendar.monthrange(year, month0 + 1)[1]))


def months_after(day: date, months: int) -> date:
    return month_day(day.year, day.month + months, day.day)


def nominal_days(start: date) -> int:
    """The days of an ordinary (month-long) period that starts on `start`: to the same day of
    the next month (the month's last day when it has fewer)."""
    return (months_after(start, 1) - start).days


def transition_dates(
    old_day: int, new_day: int, effective_on: date, min_days: int
) -> tuple[date, date]:
    """(the last reading on the old day, the first on the new day) of an account whose reading
    day changes from `old_day` to `new_day` on `effective_on`: the last old-day date before the
    effective date, and the first new-day date on or after it that leaves at least `min_days`
    between the two (else the month after). The period between them is billed once, longer or
    shorter than a month, prorated by its days."""
    last_old = month_day(effective_on.year, effective_on.month, old_day)
    if last_old >= effective_on:
        last_old = month_day(effective_on.year, effective_on.month - 1, old_day)
    first_new = month_day(effective_on.year, effective_on.month, new_day)
    while first_new < effective_on or (first_new - last_old).days < min_days:
        first_new = months_after(first_new, 1)
    return last_old, first_new


def book_days(plan: Mapping[date, Sequence[BookLoad]]) -> dict[str, int]:
    """Each book's new reading day: the day of the month of the working day it went to."""
    return {book.code: day.day for day, books in plan.items() for book in books}


def summarise_days(loads: Mapping[date, int], largest_book: int = 0, books: int = 0) -> LoadSummary:
    """A `LoadSummary` of accounts a day (days with no account count: a working day left
    empty makes a plan less level, not more)."""
    values = list(loads.values())
    if not values:
        return LoadSummary(0, books, 0, 0, 0, 0.0, 0, 0.0, largest_book)
    total = sum(values)
    mean = total / len(values)
    return LoadSummary(
        days=len(values),
        books=books,
        total=total,
        min_load=min(values),
        max_load=max(values),
        mean_load=mean,
        spread=max(values) - min(values),
        imbalance=max(values) / mean - 1 if mean else 0.0,
        largest_book=largest_book,
    )
