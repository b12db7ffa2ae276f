"""The working-day calendar on real Chinese arrangements (2025, 2026) from the holidays package."""

from datetime import date

import pytest

from billing_core.calendar import WorkingCalendar
from billing_core.errors import InvalidInput


@pytest.fixture(scope="module")
def cn() -> WorkingCalendar:
    return WorkingCalendar.for_country("CN", [2025, 2026])


def test_national_day_golden_week_2025_is_off_from_1_to_8_october(cn: WorkingCalendar) -> None:
    golden_week = [date(2025, 10, day) for day in range(1, 9)]
    assert not any(cn.is_working_day(day) for day in golden_week)
    assert cn.is_working_day(date(2025, 9, 30))
    assert cn.is_working_day(date(2025, 10, 9))
    # 7 and 8 October are the days moved from the two make-up Saturdays/Sundays
    assert cn.is_public_holiday(date(2025, 10, 7))
    assert cn.is_public_holiday(date(2025, 10, 8))
    # 4 and 5 October are plain weekend days inside the week, not holidays themselves
    assert not cn.is_public_holiday(date(2025, 10, 4))


def test_make_up_weekend_days_are_working_days(cn: WorkingCalendar) -> None:
    sunday, saturday = date(2025, 9, 28), date(2025, 10, 11)
    assert (sunday.weekday(), saturday.weekday()) == (6, 5)
    assert cn.is_working_day(sunday)
    assert cn.is_working_day(saturday)
    assert not cn.is_working_day(date(2025, 9, 27))  # an ordinary Saturday
    assert {sunday, saturday} <= cn.makeup_working_days
    # Spring Festival 2026: Saturdays 14 and 28 February are worked
    assert cn.is_working_day(date(2026, 2, 14))
    assert cn.is_working_day(date(2026, 2, 28))


def test_makeup_days_are_those_the_package_publishes(cn: WorkingCalendar) -> None:
    assert sorted(cn.makeup_working_days) == [
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 4, 27),
        date(2025, 9, 28),
        date(2025, 10, 11),
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    assert cn.years_without_makeup_days() == []


def test_working_days_of_october_2025_skip_the_golden_week_and_add_the_make_up_saturday(
    cn: WorkingCalendar,
) -> None:
    days = cn.working_days(date(2025, 10, 1), date(2025, 10, 31))
    assert days[0] == date(2025, 10, 9)
    assert date(2025, 10, 11) in days
    assert date(2025, 10, 12) not in days  # an ordinary Sunday
    # 23 weekdays − 6 weekdays off (1–3 and 6–8 October) + the make-up Saturday 11 October
    assert len(days) == 18


def test_day_before_a_holiday_includes_the_last_working_day_before_a_holiday_weekend(
    cn: WorkingCalendar,
) -> None:
    assert cn.is_day_before_holiday(date(2025, 9, 30))  # the eve of National Day
    assert cn.is_day_before_holiday(date(2025, 12, 31))  # New Year's Eve
    # 2026 Qingming: Sunday 5 April and Monday 6 April are the holidays; the Friday before
    # starts the days off, so it counts
    assert cn.is_day_before_holiday(date(2026, 4, 3))
    assert not cn.is_day_before_holiday(date(2025, 9, 29))
    assert not cn.is_day_before_holiday(date(2025, 9, 26))  # Friday before a make-up Sunday
    assert not cn.is_day_before_holiday(date(2025, 10, 10))  # Friday before a make-up Saturday
    assert not cn.is_day_before_holiday(date(2025, 11, 14))  # an ordinary Friday


def test_next_working_day_is_strictly_after_and_jumps_holidays(cn: WorkingCalendar) -> None:
    assert cn.next_working_day(date(2025, 9, 30)) == date(2025, 10, 9)
    assert cn.next_working_day(date(2025, 9, 27)) == date(2025, 9, 28)  # make-up Sunday
    assert cn.next_working_day(date(2025, 11, 3)) == date(2025, 11, 4)
    assert cn.next_working_day(date(2025, 11, 7)) == date(2025, 11, 10)


def test_dates_outside_the_built_years_are_refused_not_guessed(cn: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="outside"):
        cn.is_working_day(date(2027, 3, 1))
    with pytest.raises(ValueError, match="outside"):
        cn.next_working_day(date(2026, 12, 31))


def test_a_year_the_package_has_no_arrangement_for_is_reported() -> None:
    # holidays 0.109 knows China's make-up days up to 2026; 2027's are not published in it.
    calendar = WorkingCalendar.for_country("cn", [2026, 2027])
    assert calendar.country == "CN"
    assert 2026 not in calendar.years_without_makeup_days()
    if not any(d.year == 2027 for d in calendar.makeup_working_days):
        assert calendar.years_without_makeup_days() == [2027]


def test_countries_without_make_up_days_have_plain_weekends() -> None:
    us = WorkingCalendar.for_country("US", [2025])
    assert us.makeup_working_days == frozenset()
    assert us.years_without_makeup_days() == []
    assert not us.is_working_day(date(2025, 7, 4))
    assert not us.is_working_day(date(2025, 7, 5))
    assert us.is_working_day(date(2025, 7, 7))


def test_unknown_country_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="no calendar"):
        WorkingCalendar.for_country("XX", [2025])
