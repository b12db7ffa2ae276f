"""Plain values for meters and readings, and the register-advance rule (with rollover) that
validation and the bill run share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

ZERO = Decimal(0)


class ReadingSource(StrEnum):
    reader = "reader"  # meter-reader upload (CSV)
    smart = "smart"  # smart-meter interval data
    api = "api"
    customer = "customer"  # customer self-read by SMS or chat
    estimated = "estimated"  # only where policy allows; marked on the bill


class MeterRow(NamedTuple):
    """A meter's columns as plain values (the `meter` table's, in its order): what the bill
    run loads for each account and the seed generator writes."""

    id: int
    serial: str
    account_id: int
    multiplier: Decimal
    digits: int  # the register rolls over at 10**digits
    tou: bool
    parent_meter_id: int | None
    installed_on: date
    removed_on: date | None
    initial_total: Decimal
    initial_peak: Decimal | None
    initial_flat: Decimal | None
    initial_valley: Decimal | None


class ReverseKind(StrEnum):
    rollover = "rollover"  # the register passed 10**digits and started again
    meter_replaced = "meter_replaced"  # a new meter started from its own initial reading
    error = "error"  # a misread, a swapped meter, a typo: a person must look


class RegisterDelta(NamedTuple):
    """How far a register advanced between two readings, before the multiplier."""

    advance: Decimal
    reverse: ReverseKind | None = None


def register_delta(
    previous: Decimal, current: Decimal, *, digits: int, rollover_max: Decimal | None = None
) -> RegisterDelta:
    """The advance of one register. A current reading below the previous one is a rollover
    when wrapping at 10**digits gives a plausible advance (at most `rollover_max`, e.g. a few
    times the account's normal usage; by default a tenth of the register's range), otherwise
    an error whose advance is zero."""
    if current >= previous:
        return RegisterDelta(current - previous)
    wrap = Decimal(10) ** digits
    wrapped = current + wrap - previous
    if ZERO <= wrapped <= (wrap / 10 if rollover_max is None else rollover_max):
        return RegisterDelta(wrapped, ReverseKind.rollover)
    return RegisterDelta(ZERO, ReverseKind.error)


class Registers(NamedTuple):
    """A meter's register values at one moment: the total, and peak / flat / valley on a
    time-of-use meter (an initial reading when installed, a final one when removed)."""

    total: Decimal
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None


def register_problems(registers: Registers, *, tou: bool, digits: int, prefix: str) -> list[str]:
    """What is wrong with these register values for a meter of `digits` digits, each naming
    its field (`prefix` + total / peak / flat / valley): every value from 0 to below
    10**digits, the three time-of-use registers on a TOU meter and only there."""
    problems = []
    top = Decimal(10) ** digits
    for name in ("total", "peak", "flat", "valley"):
        value = getattr(registers, name)
        if name != "total" and (value is None) == tou:
            why = "required on a time-of-use meter" if tou else "only on a time-of-use meter"
            problems.append(f"{prefix}{name}: {why}")
        elif value is not None and not ZERO <= value < top:
            problems.append(f"{prefix}{name}: must be from 0 to below {top} ({digits} digits)")
    return problems


def makes_cycle(meter_id: int, parent_id: int, parents: Mapping[int, int | None]) -> bool:
    """Whether making `parent_id` the parent of `meter_id` closes a loop, given every other
    meter's parent (`parents`): walking up from the new parent reaches the meter itself."""
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == meter_id:
            return True
        seen.add(current)
        current = parents.get(current)
    return False
