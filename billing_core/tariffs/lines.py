"""What both pricing paths share: money rounded half-up in one decimal context, the names
of bill lines, the power-factor line, and TOU registers in the tariff's period order."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction

from billing_core.tariffs.model import (
    POWER_FACTOR_ADJUSTMENT,
    BillLine,
    Consumption,
    PricedBill,
    Season,
    Tariff,
    TariffError,
    TariffVersion,
)
from billing_core.tariffs.power_factor import PowerFactorTable, round_power_factor

# One context for every money operation (products, roundings, sums), so that a caller's
# thread-local context cannot change a bill; 40 digits hold any realistic product exactly.
_CTX = Context(prec=40, rounding=ROUND_HALF_UP)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_QUANTITY_PLACES = 3  # a prorated quantity that has no exact decimal is shown to 0.001


def round_money(value: Decimal | Fraction, minor_unit: int = 2) -> Decimal:
    """Half-up (away from zero on a tie) to the currency's minor unit, exactly."""
    if isinstance(value, Decimal):
        return _CTX.quantize(value, Decimal(1).scaleb(-minor_unit))
    scaled = value * 10**minor_unit
    magnitude = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    units = magnitude if scaled >= 0 else -magnitude
    return Decimal(units).scaleb(-minor_unit)


def _quantity(value: Fraction) -> Decimal:
    """A quantity as a Decimal: exact where it has a finite decimal form, else to 0.001."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den == 1:
        places = max(twos, fives)
        return Decimal(value.numerator * 10**places // value.denominator).scaleb(-places)
    return round_money(value, _QUANTITY_PLACES)


def _block_names(version: TariffVersion, season: Season) -> tuple[tuple[str, ...], ...]:
    """Line names [period][block]."""
    blocks = len(season.limits) + 1
    suffix = f", {season.name}" if len(version.seasons) > 1 else ""
    names = []
    for period in version.periods:
        row = []
        for block in range(blocks):
            parts = ["Energy"]
            if period:
                parts.append(period)
            if blocks > 1:
                parts.append(f"block {block + 1}")
            row.append(" ".join(parts) + suffix)
        names.append(tuple(row))
    return tuple(names)


def _surcharge_names(version: TariffVersion, season: Season) -> tuple[str, ...]:
    suffix = f", {season.name}" if len(version.seasons) > 1 else ""
    return tuple(f"Block {i + 1} surcharge{suffix}" for i in range(len(season.limits) + 1))


def _period_names(version: TariffVersion) -> tuple[str, ...]:
    return tuple(f"Energy {period}" if period else "Energy" for period in version.periods)


def _power_factor_line(
    table: PowerFactorTable, measured: Decimal, base: Decimal, quantum: Decimal
) -> BillLine:
    """The adjustment applies to the fixed and energy charges (基本电费 + 电度电费)."""
    rate = _CTX.divide(table.percent_for(measured), _HUNDRED)
    amount = _CTX.quantize(_CTX.multiply(base, rate), quantum)
    name = f"{POWER_FACTOR_ADJUSTMENT} (PF {round_power_factor(measured)}, std {table.standard})"
    return BillLine(name, base, rate, amount)


def power_factor_adjustment(bill: PricedBill) -> Decimal | None:
    """The bill's power-factor adjustment (sum over its parts), or None if it has none."""
    total: Decimal | None = None
    for line in bill.lines:
        if line.component.startswith(POWER_FACTOR_ADJUSTMENT):
            total = _CTX.add(total or _ZERO, line.amount)
    return total


def _registers_in_order(
    tariff: Tariff, version: TariffVersion, consumption: Consumption
) -> list[Decimal]:
    registers = consumption.registers
    periods = version.periods
    if registers is None:
        raise TariffError(
            [
                f"consumption: {tariff.code} prices by time of use: give register kWh for"
                f" {', '.join(periods)}, or interval data"
            ]
        )
    try:
        values = [registers[name] for name in periods]
    except KeyError as exc:
        raise TariffError(
            [f"registers.{exc.args[0]}: missing; {tariff.code} needs {', '.join(periods)}"]
        ) from None
    if len(registers) != len(values):
        # A register the tariff has no period for may be read as zero; energy is never dropped.
        extra = sorted(name for name in registers if name not in periods and registers[name])
        if extra:
            raise TariffError(
                [
                    f"registers.{name}: {registers[name]} kWh, but {tariff.code} has no period"
                    f" {name!r} (periods: {', '.join(periods)})"
                    for name in extra
                ]
            )
    return values
