"""Rolling reading (滚动抄表): spread reading books over a month's working days so each day's
account load is as even as possible, and describe how even it came out. Pure functions."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date


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
    loads = list(daily_loads(plan).values())
    sizes = [book.accounts for books in plan.values() for book in books]
    if not loads:
        return LoadSummary(0, len(sizes), sum(sizes), 0, 0, 0.0, 0, 0.0, max(sizes, default=0))
    total = sum(loads)
    mean = total / len(loads)
    return LoadSummary(
        days=len(loads),
        books=len(sizes),
        total=total,
        min_load=min(loads),
        max_load=max(loads),
        mean_load=mean,
        spread=max(loads) - min(loads),
        imbalance=max(loads) / mean - 1 if mean else 0.0,
        largest_book=max(sizes, default=0),
    )
