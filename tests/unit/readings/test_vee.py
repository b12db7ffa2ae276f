"""Consumption from registers (vee.py): rollover, reading errors, multipliers, meter
replacement and the TOU gap."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing_core.readings.vee import (
    RegisterDelta,
    Replacement,
    ReverseKind,
    meter_consumption,
    register_delta,
    tou_mismatch,
)

D = Decimal
PLENTY = D(10) ** 12  # a rollover limit that never gets in the way


def test_forward_reading_advances_with_no_reverse() -> None:
    assert register_delta(D(1200), D(1450), digits=6, rollover_max=PLENTY) == RegisterDelta(D(250))


def test_register_passing_its_maximum_rolls_over_at_10_to_the_digits() -> None:
    delta = register_delta(D(999_990), D(15), digits=6, rollover_max=D(1000))

    assert delta == RegisterDelta(D(25), ReverseKind.rollover)


def test_wrap_exactly_at_the_rollover_limit_is_still_a_rollover() -> None:
    delta = register_delta(D(9_990), D(15), digits=4, rollover_max=D(25))

    assert delta == RegisterDelta(D(25), ReverseKind.rollover)


def test_implausible_wrap_is_an_error_with_zero_advance() -> None:
    delta = register_delta(D(500_000), D(100), digits=6, rollover_max=D(1000))

    assert delta == RegisterDelta(D(0), ReverseKind.error)


def test_multiplier_is_applied_to_the_advance() -> None:
    delta = meter_consumption(D(100), D(150), multiplier=D(40), digits=6, rollover_max=PLENTY)

    assert delta == RegisterDelta(D(2000))


def test_multiplier_is_applied_to_a_rollover_advance() -> None:
    delta = meter_consumption(D(99_995), D(5), multiplier=D(30), digits=5, rollover_max=D(100))

    assert delta == RegisterDelta(D(300), ReverseKind.rollover)


def test_reading_error_bills_nothing_whatever_the_multiplier() -> None:
    delta = meter_consumption(D(5000), D(4000), multiplier=D(80), digits=6, rollover_max=D(100))

    assert delta == RegisterDelta(D(0), ReverseKind.error)


def test_replacement_bills_old_final_minus_previous_plus_new_current_minus_initial() -> None:
    delta = meter_consumption(
        D(1000),
        D(55),
        multiplier=D(2),
        digits=6,
        rollover_max=D(1000),
        replacement=Replacement(old_final=D(1100), new_initial=D(5)),
    )

    # (1100 − 1000) + (55 − 5) = 150 register units, × 2
    assert delta == RegisterDelta(D(300), ReverseKind.meter_replaced)


def test_replacement_whose_old_meter_rolled_over_reports_the_rollover() -> None:
    delta = meter_consumption(
        D(999_950),
        D(30),
        multiplier=D(1),
        digits=6,
        rollover_max=D(1000),
        replacement=Replacement(old_final=D(20), new_initial=D(0)),
    )

    assert delta == RegisterDelta(D(100), ReverseKind.rollover)


def test_replacement_with_a_reading_error_on_either_meter_is_an_error() -> None:
    new_meter_error = meter_consumption(
        D(1000),
        D(3),
        multiplier=D(1),
        digits=6,
        rollover_max=D(1000),
        replacement=Replacement(old_final=D(1100), new_initial=D(500)),
    )

    assert new_meter_error.reverse is ReverseKind.error
    assert new_meter_error.advance == D(100)  # only the old meter's part is counted


def test_tou_gap_of_exactly_three_is_a_mismatch() -> None:
    assert tou_mismatch(D(100), [D(40), D(30), D(27)], threshold=D(3)) == D(3)


def test_tou_gap_just_under_three_is_not_a_mismatch() -> None:
    assert tou_mismatch(D(100), [D(40), D(30), D("27.001")], threshold=D(3)) is None


def test_tou_registers_adding_up_to_more_than_the_total_is_a_mismatch() -> None:
    assert tou_mismatch(D(100), [D(40), D(30), D(35)], threshold=D(3)) == D(5)


def test_meter_without_tou_registers_has_no_tou_gap() -> None:
    assert tou_mismatch(D(100), [], threshold=D(3)) is None


readings = st.decimals(min_value=0, max_value=10**9, places=2)
multipliers = st.decimals(min_value=1, max_value=5000, places=1)


@given(a=readings, b=readings, multiplier=multipliers)
def test_forward_advance_is_the_difference_times_the_multiplier(
    a: Decimal, b: Decimal, multiplier: Decimal
) -> None:
    previous, current = min(a, b), max(a, b)

    delta = meter_consumption(
        previous, current, multiplier=multiplier, digits=10, rollover_max=D(0)
    )

    assert delta.reverse is None
    assert delta.advance == (current - previous) * multiplier


@given(data=st.data(), digits=st.integers(min_value=3, max_value=10))
def test_a_wrap_advances_from_previous_through_10_to_the_digits_to_current(
    data: st.DataObject, digits: int
) -> None:
    top = D(10) ** digits
    previous = data.draw(st.decimals(min_value=D("0.01"), max_value=top - 1, places=2))
    current = data.draw(st.decimals(min_value=0, max_value=previous - D("0.01"), places=2))

    delta = register_delta(previous, current, digits=digits, rollover_max=top)

    assert delta.reverse is ReverseKind.rollover
    assert delta.advance + previous - top == current


def test_replacement_gives_each_tou_register_its_own_final_and_initial_values() -> None:
    replacement = Replacement(
        old_final=D(1100),
        new_initial=D(9),
        old_final_peak=D(500),
        old_final_flat=D(0),
        old_final_valley=D(600),
        new_initial_peak=D(4),
        new_initial_flat=D(0),
        new_initial_valley=D(5),
    )

    assert replacement.register("peak") == Replacement(old_final=D(500), new_initial=D(4))
    delta = meter_consumption(
        D(450),
        D(30),
        multiplier=D(1),
        digits=6,
        rollover_max=D(1000),
        replacement=replacement.register("valley"),
    )
    # valley: (600 − 450) + (30 − 5)
    assert delta == RegisterDelta(D(175), ReverseKind.meter_replaced)


def test_replacement_without_a_registers_values_has_none_for_it() -> None:
    replacement = Replacement(old_final=D(1100), new_initial=D(9), old_final_peak=D(500))

    assert replacement.register("peak") is None  # the new meter's initial peak is unknown
    assert replacement.register("flat") is None
