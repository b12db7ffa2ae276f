"""Power-factor (力率) adjustment tables for non-residential accounts: the standard 0.90, 0.85
and 0.80 tables, a lookup by measured power factor, and the power factor from kWh and kvarh."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal

_CTX = Context(prec=40, rounding=ROUND_HALF_UP)
_PF_QUANTUM = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class PowerFactorTable:
    """A step table: for a measured power factor (two decimals), the bill change in percent.

    `rows` holds (lowest power factor, percent) pairs, highest power factor first; a measured
    value takes the first row whose power factor it reaches. Positive percent increases the
    bill, negative percent is a credit.
    """

    standard: Decimal
    rows: tuple[tuple[Decimal, Decimal], ...]

    def percent_for(self, power_factor: Decimal) -> Decimal:
        measured = round_power_factor(power_factor)
        for lowest, percent in self.rows:
            if measured >= lowest:
                return percent
        return self.rows[-1][1]


def round_power_factor(value: Decimal) -> Decimal:
    """Power factor is taken to two decimals, half up, before the table is read."""
    return _CTX.quantize(value, _PF_QUANTUM)


def power_factor_from(kwh: Decimal, kvarh: Decimal) -> Decimal:
    """Monthly average power factor from active (kWh) and reactive (kvarh) energy."""
    if kwh < 0 or kvarh < 0:
        raise ValueError("active and reactive energy must not be negative")
    if kwh == 0:
        return Decimal(0) if kvarh else Decimal(1)
    apparent = _CTX.sqrt(kwh * kwh + kvarh * kvarh)
    return round_power_factor(_CTX.divide(kwh, apparent))


def _standard_table(
    standard: str,
    credits: list[str],
    half_percent_down_to: str,
    one_percent_down_to: str,
) -> PowerFactorTable:
    """Build one of the 1983 tables (功率因数调整电费办法, (83)水电财字第215号).

    `credits` are the reductions (in percent, as positive numbers) for each 0.01 above the
    standard, the last one holding up to 1.00. Below the standard the bill rises 0.5 % per
    0.01 down to `half_percent_down_to`, then 1 % per 0.01 down to `one_percent_down_to`,
    then 2 % per 0.01 below that.
    """
    std = Decimal(standard)
    step = Decimal("0.01")
    rows: list[tuple[Decimal, Decimal]] = []
    # Above the standard: credits, the last credit covering everything up to 1.00.
    for index in range(len(credits) - 1, -1, -1):
        rows.append((std + step * (index + 1), -Decimal(credits[index])))
    rows.append((std, Decimal(0)))
    percent = Decimal(0)
    pf = std
    half_floor = Decimal(half_percent_down_to)
    one_floor = Decimal(one_percent_down_to)
    while pf > 0:
        pf -= step
        if pf >= half_floor:
            percent += Decimal("0.5")
        elif pf >= one_floor:
            percent += Decimal(1)
        else:
            percent += Decimal(2)
        rows.append((pf, percent))
    return PowerFactorTable(standard=std, rows=tuple(rows))


STANDARD_TABLES: dict[str, PowerFactorTable] = {
    # 0.90: industrial high-voltage customers above 160 kVA, among others.
    "0.90": _standard_table("0.90", ["0.15", "0.30", "0.45", "0.60", "0.75"], "0.70", "0.65"),
    # 0.85: other industrial and non-industrial customers of 100 kVA and above.
    "0.85": _standard_table(
        "0.85",
        ["0.1", "0.2", "0.3", "0.4", "0.5", "0.65", "0.80", "0.95", "1.10"],
        "0.65",
        "0.60",
    ),
    # 0.80: agricultural customers and wholesale (趸售) customers of 100 kVA and above.
    "0.80": _standard_table(
        "0.80",
        [
            "0.1",
            "0.2",
            "0.3",
            "0.4",
            "0.5",
            "0.6",
            "0.7",
            "0.8",
            "0.9",
            "1.0",
            "1.15",
            "1.30",
        ],
        "0.60",
        "0.55",
    ),
}
