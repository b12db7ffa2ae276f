"""The register-advance rule (readings.model.register_delta) that reading validation and the
bill run share: properties over any register size and any values it can show."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from billing_core.readings.model import RegisterDelta, ReverseKind, register_delta

DIGITS = st.integers(min_value=3, max_value=10)


@st.composite
def register_values(draw: st.DrawFn, digits: int, low: int = 0, high: int | None = None) -> Decimal:
    """A value the register can show, in thousandths of a kWh (as the column stores it)."""
    top = 10**digits * 1000 - 1 if high is None else high
    return Decimal(draw(st.integers(min_value=low, max_value=top))).scaleb(-3)


@given(data=st.data(), digits=DIGITS)
def test_a_normal_advance_is_the_difference(data: st.DataObject, digits: int) -> None:
    previous = data.draw(register_values(digits))
    current = data.draw(register_values(digits, low=int(previous * 1000)))

    assert register_delta(previous, current, digits=digits) == RegisterDelta(current - previous)


@given(data=st.data(), digits=DIGITS)
def test_a_rollover_within_a_tenth_of_the_range_gives_the_wrapped_advance(
    data: st.DataObject, digits: int
) -> None:
    span = Decimal(10) ** digits
    advance = data.draw(register_values(digits, low=1, high=10**digits * 100))  # ≤ a tenth
    previous = data.draw(register_values(digits, low=int((span - advance) * 1000)))
    current = previous + advance - span
    assume(current >= 0)  # the register wrapped past its range

    delta = register_delta(previous, current, digits=digits)

    assert delta == RegisterDelta(advance, ReverseKind.rollover)
    assert current < previous


@given(data=st.data(), digits=DIGITS)
def test_a_reverse_reading_beyond_a_tenth_of_the_range_is_flagged_with_no_advance(
    data: st.DataObject, digits: int
) -> None:
    span = Decimal(10) ** digits
    previous = data.draw(register_values(digits, low=1))
    current = data.draw(register_values(digits, high=int(previous * 1000) - 1))
    assume(current + span - previous > span / 10)

    assert register_delta(previous, current, digits=digits) == RegisterDelta(
        Decimal(0), ReverseKind.error
    )


@given(data=st.data(), digits=DIGITS)
def test_any_reverse_reading_is_flagged_and_never_advances_past_the_limit(
    data: st.DataObject, digits: int
) -> None:
    previous = data.draw(register_values(digits, low=1))
    current = data.draw(register_values(digits, high=int(previous * 1000) - 1))
    limit = data.draw(register_values(digits))

    delta = register_delta(previous, current, digits=digits, rollover_max=limit)

    assert delta.reverse in (ReverseKind.rollover, ReverseKind.error)
    assert Decimal(0) <= delta.advance <= limit
    if delta.reverse is ReverseKind.rollover:
        assert current - previous + Decimal(10) ** digits == delta.advance


def test_the_limit_given_replaces_the_tenth_of_the_range() -> None:
    wrapped = Decimal(2_000)  # 9,000 -> 10,000 -> 1,000 on a 4-digit register
    assert register_delta(Decimal(9_000), Decimal(1_000), digits=4).reverse is ReverseKind.error
    assert register_delta(
        Decimal(9_000), Decimal(1_000), digits=4, rollover_max=wrapped
    ) == RegisterDelta(wrapped, ReverseKind.rollover)
