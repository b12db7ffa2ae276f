"""Validation of readings (the V of VEE) and consumption from registers: pure functions over
plain values. A reverse reading is told apart (rollover, meter replacement, error) and is
never billed automatically; multipliers are applied; a replaced meter is billed as
old final − previous + new current − initial."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing_core.readings.model import ZERO, RegisterDelta, ReverseKind, register_delta

TOU_REGISTER_NAMES = ("peak", "flat", "valley")


@dataclass(frozen=True)
class Replacement:
    """A meter replacement (换表) inside the period: the old meter's final reading and the new
    meter's initial values, for the total register and, on TOU meters, for each TOU register
    (None where a meter has no such register)."""

    old_final: Decimal
    new_initial: Decimal
    old_final_peak: Decimal | None = None
    old_final_flat: Decimal | None = None
    old_final_valley: Decimal | None = None
    new_initial_peak: Decimal | None = None
    new_initial_flat: Decimal | None = None
    new_initial_valley: Decimal | None = None

    def register(self, name: str) -> Replacement | None:
        """The replacement as one TOU register (`peak`, `flat` or `valley`) sees it, to pass to
        `meter_consumption` with that register's readings; None when either meter lacks it."""
        if name not in TOU_REGISTER_NAMES:
            raise ValueError(f"not a TOU register: {name!r}")
        old_final = getattr(self, f"old_final_{name}")
        new_initial = getattr(self, f"new_initial_{name}")
        if old_final is None or new_initial is None:
            return None
        return Replacement(old_final=old_final, new_initial=new_initial)


def meter_consumption(
    previous: Decimal,
    current: Decimal,
    *,
    multiplier: Decimal,
    digits: int,
    rollover_max: Decimal,
    replacement: Replacement | None = None,
) -> RegisterDelta:
    """kWh for the period: (current − previous) × multiplier, handling rollover, and a
    replacement as old final − previous + new current − initial."""
    if replacement is not None:
        old = register_delta(
            previous, replacement.old_final, digits=digits, rollover_max=rollover_max
        )
        new = register_delta(
            replacement.new_initial, current, digits=digits, rollover_max=rollover_max
        )
        reverse = old.reverse or new.reverse or ReverseKind.meter_replaced
        if ReverseKind.error in (old.reverse, new.reverse):
            reverse = ReverseKind.error
        return RegisterDelta((old.advance + new.advance) * multiplier, reverse)
    delta = register_delta(previous, current, digits=digits, rollover_max=rollover_max)
    return RegisterDelta(delta.advance * multiplier, delta.reverse)


def tou_mismatch(
    total_advance: Decimal, tou_advances: Sequence[Decimal], *, threshold: Decimal
) -> Decimal | None:
    """The gap between the total register and the sum of the TOU registers (分时度差), when it
    reaches the threshold (default 3 kWh); None when the registers agree."""
    if not tou_advances:
        return None
    gap = abs(total_advance - sum(tou_advances, ZERO))
    return gap if gap >= threshold else None
