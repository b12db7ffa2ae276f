"""The 1983 power-factor tables (功率因数调整电费办法) and the monthly power factor."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing_core.tariffs.power_factor import STANDARD_TABLES, power_factor_from

CASES = {
    "0.90": [("1.00", "-0.75"), ("0.95", "-0.75"), ("0.94", "-0.60"), ("0.91", "-0.15"),
             ("0.90", "0"), ("0.89", "0.5"), ("0.70", "10.0"), ("0.69", "11.0"),
             ("0.65", "15.0"), ("0.64", "17.0"), ("0.60", "25.0")],
    "0.85": [("1.00", "-1.10"), ("0.94", "-1.10"), ("0.91", "-0.65"), ("0.90", "-0.5"),
             ("0.86", "-0.1"), ("0.85", "0"), ("0.65", "10.0"), ("0.60", "15.0"),
             ("0.59", "17.0")],
    "0.80": [("1.00", "-1.30"), ("0.92", "-1.30"), ("0.91", "-1.15"), ("0.90", "-1.0"),
             ("0.80", "0"), ("0.60", "10.0"), ("0.55", "15.0"), ("0.54", "17.0")],
}  # fmt: skip


@pytest.mark.parametrize("standard", sorted(CASES))
def test_standard_tables_give_the_published_percentages(standard: str) -> None:
    table = STANDARD_TABLES[standard]
    for measured, percent in CASES[standard]:
        assert table.percent_for(Decimal(measured)) == Decimal(percent), measured


def test_power_factor_is_read_to_two_decimals_half_up() -> None:
    table = STANDARD_TABLES["0.90"]
    assert table.percent_for(Decimal("0.905")) == Decimal("-0.15")  # read as 0.91
    assert table.percent_for(Decimal("0.9049")) == Decimal(0)


def test_power_factor_from_active_and_reactive_energy() -> None:
    assert power_factor_from(Decimal(100), Decimal("48.43")) == Decimal("0.90")
    assert power_factor_from(Decimal(300), Decimal(400)) == Decimal("0.60")
    assert power_factor_from(Decimal(0), Decimal(0)) == Decimal(1)
