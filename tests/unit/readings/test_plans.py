"""Rolling reading: books spread over working days as evenly as greedy LPT allows."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.readings.plans import BookLoad, daily_loads, spread_books, summarise_load

OCTOBER_2025 = [  # the working days of October 2025 in China (golden week 1–8 off)
    date(2025, 10, d)
    for d in (9, 10, 11, 13, 14, 15, 16, 17, 20, 21, 22, 23, 24, 27, 28, 29, 30, 31)
]

books_strategy = st.lists(st.integers(min_value=0, max_value=5_000), min_size=0, max_size=80).map(
    lambda sizes: [BookLoad(code=f"B{n:03d}", accounts=size) for n, size in enumerate(sizes)]
)
days_strategy = st.integers(min_value=1, max_value=23).map(
    lambda n: [date(2026, 3, 2) + timedelta(days=i) for i in range(n)]
)


@given(books=books_strategy, days=days_strategy)
def test_every_book_is_read_on_exactly_one_working_day(
    books: list[BookLoad], days: list[date]
) -> None:
    plan = spread_books(books, days)
    assigned = [book.code for day_books in plan.values() for book in day_books]
    assert sorted(assigned) == sorted(book.code for book in books)
    assert list(plan) == days


@given(books=books_strategy, days=days_strategy)
def test_daily_loads_add_up_to_every_account(books: list[BookLoad], days: list[date]) -> None:
    plan = spread_books(books, days)
    assert sum(daily_loads(plan).values()) == sum(book.accounts for book in books)
    assert summarise_load(plan).total == sum(book.accounts for book in books)


@given(books=books_strategy, days=days_strategy)
def test_busiest_and_quietest_day_differ_by_at_most_the_largest_book(
    books: list[BookLoad], days: list[date]
) -> None:
    summary = summarise_load(spread_books(books, days))
    assert summary.spread == summary.max_load - summary.min_load
    assert summary.spread <= max((book.accounts for book in books), default=0)


@given(books=books_strategy, days=days_strategy)
def test_the_same_input_gives_the_same_plan_whatever_its_order(
    books: list[BookLoad], days: list[date]
) -> None:
    assert spread_books(books, days) == spread_books(list(reversed(books)), days[::-1])


def test_a_month_of_books_is_spread_evenly_over_october_2025() -> None:
    # 36 books of 100–140 accounts (multiples of 10) over the 18 working days
    books = [BookLoad(code=f"B{n:02d}", accounts=100 + 10 * (n % 5)) for n in range(36)]
    plan = spread_books(books, OCTOBER_2025)
    summary = summarise_load(plan)
    assert (summary.days, summary.books, summary.total) == (18, 36, 4_300)
    assert summary.mean_load == pytest.approx(4_300 / 18)
    # the mean is 238.9 and loads are multiples of 10, so no plan's busiest day is below 240
    assert (summary.min_load, summary.max_load) == (230, 240)
    assert summary.imbalance == pytest.approx(240 / (4_300 / 18) - 1)
    assert date(2025, 10, 1) not in plan


def test_ties_go_to_the_day_with_fewer_books_then_the_earlier_day() -> None:
    books = [BookLoad(code="A", accounts=0), BookLoad(code="B", accounts=0)]
    plan = spread_books(books, [date(2026, 3, 3), date(2026, 3, 2)])
    assert plan == {date(2026, 3, 2): [books[0]], date(2026, 3, 3): [books[1]]}


def test_largest_books_are_placed_first_onto_the_least_loaded_day() -> None:
    days = [date(2026, 3, 2), date(2026, 3, 3)]
    books = [BookLoad("S1", 3), BookLoad("S2", 3), BookLoad("L", 5), BookLoad("M", 4)]
    plan = spread_books(books, days)
    assert [b.code for b in plan[days[0]]] == ["L", "S2"]
    assert [b.code for b in plan[days[1]]] == ["M", "S1"]
    assert daily_loads(plan) == {days[0]: 8, days[1]: 7}


def test_no_books_gives_empty_days_and_no_days_cannot_take_books() -> None:
    assert spread_books([], [date(2026, 3, 2)]) == {date(2026, 3, 2): []}
    assert summarise_load({}).days == 0
    with pytest.raises(ValueError, match="no working day"):
        spread_books([BookLoad("A", 1)], [])


@pytest.mark.parametrize(
    "books",
    [
        [BookLoad("A", 1), BookLoad("A", 2)],
        [BookLoad("A", -1)],
    ],
)
def test_duplicate_codes_and_negative_loads_are_refused(books: list[BookLoad]) -> None:
    with pytest.raises(ValueError):
        spread_books(books, [date(2026, 3, 2)])
