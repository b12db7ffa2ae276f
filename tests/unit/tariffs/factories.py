"""Tariff data for tests: small valid tariffs as plain data, to vary one field at a time."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing_core.tariffs import SHIPPED_TARIFFS_DIR, Tariff, load_tariff, parse_tariff

SOURCE = {"publisher": "test", "date": date(2026, 1, 1), "note": "test data"}
D = Decimal


def shipped(code: str) -> Tariff:
    return load_tariff(SHIPPED_TARIFFS_DIR / f"{code}.yaml")


def shipped_path(code: str) -> Path:
    return SHIPPED_TARIFFS_DIR / f"{code}.yaml"


def tariff_data(
    energy: dict[str, Any] | None = None,
    *,
    kinds: tuple[str, ...] = ("residential",),
    versions: list[dict[str, Any]] | None = None,
    **version_fields: Any,
) -> dict[str, Any]:
    """One version from 2020-01-01 with these energy charges (default: monthly blocks
    100 / 300 kWh at 0.50 + 0.10 / + 0.40)."""
    if energy is None:
        energy = blocks_energy()
    version = {"effective_from": date(2020, 1, 1), "energy": energy, **version_fields}
    return {
        "name": "Test tariff",
        "currency": "CNY",
        "timezone": "Asia/Shanghai",
        "customer_kinds": list(kinds),
        "source": dict(SOURCE),
        "versions": copy.deepcopy(versions) if versions is not None else [version],
    }


def blocks_energy(
    limits: tuple[str, ...] = ("100", "300"),
    surcharges: tuple[str, ...] = ("0.10", "0.40"),
    price: str = "0.50",
    basis: str = "monthly",
) -> dict[str, Any]:
    tiers: list[dict[str, Any]] = [{"up_to": D(limits[0])}]
    for index, surcharge in enumerate(surcharges):
        tier: dict[str, Any] = {"surcharge": D(surcharge)}
        if index + 1 < len(limits):
            tier["up_to"] = D(limits[index + 1])
        tiers.append(tier)
    return {"price": D(price), "blocks": {"basis": basis, "tiers": tiers}}


def peak_valley_energy(
    peak: str = "0.60", valley: str = "0.30", blocks: dict[str, Any] | None = None
) -> dict[str, Any]:
    energy: dict[str, Any] = {
        "tou": {
            "periods": [{"name": "peak", "price": D(peak)}, {"name": "valley", "price": D(valley)}],
            "hours": [
                {"period": "peak", "from": 8, "to": 22},
                {"period": "valley", "from": 22, "to": 8},
            ],
        }
    }
    if blocks is not None:
        energy["blocks"] = blocks
    return energy


def build(data: dict[str, Any], code: str = "test") -> Tariff:
    return parse_tariff(data, code=code)
