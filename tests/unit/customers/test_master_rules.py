"""The pure master data rules: tariff assignments never overlap, parent links never loop,
register values fit the meter, contact addresses are stored one way; each refusal names
its field."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.customers.model import (
    FieldConflict,
    FieldError,
    check_account_number,
    check_text,
    closing_day,
    contact_address,
)
from billing_core.readings.model import Registers, makes_cycle, register_problems

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))


@given(st.lists(days, min_size=1, max_size=12))
def test_assignments_made_in_any_order_never_overlap(starts: list[date]) -> None:
    """Applying assignments one by one, each accepted one starts after the latest and closes
    it the day before: the periods tile the calendar without overlap or gap."""
    periods: list[list[date | None]] = []
    for start in starts:
        latest = periods[-1][0] if periods else None
        try:
            last_day = closing_day(latest, start)
        except FieldConflict as refused:
            assert refused.field == "effective_from"
            assert latest is not None and start <= latest
            continue
        if periods:
            periods[-1][1] = last_day
        periods.append([start, None])
    for (start, end), (following, _) in pairwise(periods):
        assert start is not None and end is not None and following is not None
        assert start <= end < following and end + timedelta(days=1) == following


@given(st.dictionaries(st.integers(1, 30), st.none() | st.integers(1, 30), max_size=30),
       st.integers(1, 30), st.integers(1, 30))  # fmt: skip
def test_a_cycle_is_found_exactly_when_the_meter_is_among_the_new_parents_ancestors(
    parents: dict[int, int | None], meter: int, parent: int
) -> None:
    ancestors = []
    current: int | None = parent
    while current is not None and current not in ancestors:
        ancestors.append(current)
        current = parents.get(current)
    assert makes_cycle(meter, parent, parents) == (meter in ancestors)


def test_registers_fit_the_meter_and_tou_registers_only_on_tou_meters() -> None:
    assert register_problems(Registers(Decimal("999999.9")), tou=False, digits=6, prefix="") == []
    too_big = register_problems(Registers(Decimal("1000000")), tou=False, digits=6, prefix="final.")
    assert too_big == ["final.total: must be from 0 to below 1000000 (6 digits)"]
    assert register_problems(Registers(Decimal(5)), tou=True, digits=6, prefix="") == [
        "peak: required on a time-of-use meter",
        "flat: required on a time-of-use meter",
        "valley: required on a time-of-use meter",
    ]
    flat_only = Registers(Decimal(5), flat=Decimal(1))
    assert register_problems(flat_only, tou=False, digits=6, prefix="new.initial.") == [
        "new.initial.flat: only on a time-of-use meter"
    ]


@pytest.mark.parametrize(
    ("channel", "raw", "stored"),
    [
        ("sms", "139 1234 5678", "+8613912345678"),
        ("sms", "+86 139-1234-5678", "+8613912345678"),
        ("telegram", "123456789", "123456789"),
        ("email", " Li@Example.COM ", "li@example.com"),
    ],
)
def test_contact_addresses_are_stored_one_way(channel: str, raw: str, stored: str) -> None:
    assert contact_address(channel, raw, region="CN") == stored


@pytest.mark.parametrize(
    ("channel", "raw", "field"),
    [
        ("sms", "12345", "address"),
        ("telegram", "@someone", "address"),
        ("telegram", "0123", "address"),
        ("email", "no-at-sign.example.com", "address"),
        ("email", "a@localhost", "address"),
        ("fax", "123", "channel"),
        ("sms", "   ", "address"),
    ],
)
def test_a_bad_contact_names_its_field(channel: str, raw: str, field: str) -> None:
    with pytest.raises(FieldError) as refused:
        contact_address(channel, raw, region="CN")
    assert refused.value.field == field
    assert str(refused.value).startswith(f"{field}: ")


@given(st.text(max_size=25))
def test_account_numbers_are_one_to_twenty_ascii_digits(number: str) -> None:
    ok = number.isascii() and number.isdigit() and 1 <= len(number) <= 20
    if ok:
        assert check_account_number(number) == number
    else:
        with pytest.raises(FieldError):
            check_account_number(number)


@pytest.mark.parametrize("text", ["a\x00b", "line\none", "\x1b[31m"])
def test_text_with_control_characters_is_refused_by_name(text: str) -> None:
    with pytest.raises(FieldError) as refused:
        check_text("service_address", text, max_length=300)
    assert refused.value.field == "service_address"
