"""The shipped tariffs: all valid, sourced, marked as examples, and found by code."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing_core.customers.model import CustomerKind
from billing_core.tariffs import (
    SHIPPED_TARIFFS_DIR,
    AccountAttributes,
    Consumption,
    Interval,
    TariffCatalog,
    TariffError,
    UnknownTariff,
    price_period,
)

SEEDED_CODES = {
    "beijing-residential",
    "zhejiang-residential",
    "zhejiang-residential-tou",
    "guangdong-residential",
    "cn-general-commercial",
    "us-example-tiered-tou",
}


def test_every_shipped_tariff_loads_and_the_seeded_codes_exist() -> None:
    catalog = TariffCatalog.load()
    assert set(catalog.codes()) >= SEEDED_CODES
    assert catalog.get("beijing-residential").code == "beijing-residential"


@pytest.mark.parametrize("path", sorted(SHIPPED_TARIFFS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_shipped_tariff_names_its_source_and_says_it_is_an_example(path: Path) -> None:
    tariff = TariffCatalog.load().get(path.stem)
    assert tariff.source is not None and tariff.source.publisher and tariff.source.date
    assert "check against the current official tariff" in tariff.source.note
    assert "check against the current official tariff" in path.read_text("utf-8").lower()


def test_unknown_code_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UnknownTariff, match="beijing-residential"):
        TariffCatalog.load().get("atlantis-residential")


def test_a_bad_file_stops_the_catalog_and_is_named(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        (SHIPPED_TARIFFS_DIR / "beijing-residential.yaml").read_text("utf-8"), "utf-8"
    )
    (tmp_path / "bad.yaml").write_text("name: x\n", "utf-8")
    with pytest.raises(TariffError) as caught:
        TariffCatalog.load(tmp_path)
    assert all(line.startswith("bad.yaml: ") for line in caught.value.problems)


def test_bill_line_names_fit_the_64_character_column() -> None:
    catalog = TariffCatalog.load()
    start, end = date(2026, 10, 15), date(2026, 11, 14)  # straddles a season and a month
    for tariff in catalog:
        version = tariff.versions[-1]
        kind = tariff.customer_kinds[0]
        account = AccountAttributes(customer_kind=kind, ytd_kwh=Decimal(4000))
        if version.time_of_use:
            zone = tariff.zone
            intervals = [
                Interval(start=datetime(2026, 10, 15, tzinfo=zone) + timedelta(hours=h),
                         kwh=Decimal(3))
                for h in range(24 * 20)
            ]  # fmt: skip
            consumption = Consumption.of_intervals(intervals, power_factor=Decimal("0.8"))
        else:
            consumption = Consumption.total(2000, power_factor=Decimal("0.8"))
        bill = price_period(tariff, start=start, end=end, consumption=consumption, account=account)
        assert bill.lines
        for line in bill.lines:
            assert len(line.component) <= 64, line.component
        if kind is CustomerKind.non_residential:
            assert bill.lines[-1].component.startswith("Power factor adjustment")
