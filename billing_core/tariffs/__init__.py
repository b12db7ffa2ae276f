"""Tariffs: the YAML format, its compilation into plain values, and pure pricing of a billing
period into rounded bill lines (see docs/tariffs.md)."""

from billing_core.tariffs.catalog import SHIPPED_TARIFFS_DIR, TariffCatalog
from billing_core.tariffs.lines import power_factor_adjustment, round_money
from billing_core.tariffs.model import (
    MINIMUM_TOP_UP,
    POWER_FACTOR_ADJUSTMENT,
    AccountAttributes,
    BillLine,
    ChargeBasis,
    Consumption,
    Interval,
    PricedBill,
    Tariff,
    TariffError,
    TariffVersion,
    UnknownTariff,
)
from billing_core.tariffs.pricing import price_period, price_period_exact
from billing_core.tariffs.schema import load_tariff, parse_tariff

__all__ = [
    "MINIMUM_TOP_UP",
    "POWER_FACTOR_ADJUSTMENT",
    "SHIPPED_TARIFFS_DIR",
    "AccountAttributes",
    "BillLine",
    "ChargeBasis",
    "Consumption",
    "Interval",
    "PricedBill",
    "Tariff",
    "TariffCatalog",
    "TariffError",
    "TariffVersion",
    "UnknownTariff",
    "load_tariff",
    "parse_tariff",
    "power_factor_adjustment",
    "price_period",
    "price_period_exact",
    "round_money",
]
