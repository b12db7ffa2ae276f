"""Importing URDB rates: what the format holds is converted, what it cannot is named."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing_core.tariffs import TariffError, load_tariff, parse_tariff
from billing_core.tariffs.model import LineStyle
from billing_core.tariffs.urdb import read_urdb_json, urdb_to_tariff
from tests.unit.tariffs.factories import shipped_path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "urdb"


def fixture(name: str) -> dict[str, Any]:
    return dict(read_urdb_json(FIXTURES / f"{name}.json"))


def test_flat_rate_becomes_one_price_and_a_monthly_charge() -> None:
    data, unsupported = urdb_to_tariff(fixture("flat"))
    version = data["versions"][0]
    assert version["energy"] == {"price": Decimal("0.1325")}
    assert version["fixed_charges"] == [
        {"name": "Fixed charge", "amount": Decimal("9.5"), "per": "month"}
    ]
    assert unsupported == []


def test_tiered_rate_adds_adj_to_rate_and_keeps_max_as_block_limits() -> None:
    data, _ = urdb_to_tariff(fixture("tiered"))
    blocks = data["versions"][0]["energy"]["blocks"]
    assert blocks["tiers"] == [
        {"up_to": Decimal(360), "price": Decimal("0.0953")},
        {"up_to": Decimal(800), "price": Decimal("0.1249")},
        {"price": Decimal("0.1640")},
    ]
    assert data["versions"][0]["minimum_charge"] == {"amount": Decimal(30), "per": "month"}


def test_tou_rate_with_tiers_keeps_the_schedules_and_a_price_per_period_and_tier() -> None:
    item = fixture("us-example-tiered-tou")
    data, unsupported = urdb_to_tariff(item, timezone="America/Denver")
    tariff = parse_tariff(data, code="us")
    version = tariff.versions[0]
    assert version.line_style is LineStyle.tou_matrix
    assert version.periods == ("period_1", "period_2", "period_3")
    assert version.seasons[0].prices[2] == (Decimal("0.2573"), Decimal("0.2786"))
    july_weekday_3pm = version.schedule[(0 * 12 + 6) * 24 + 15]
    assert july_weekday_3pm == 2
    assert unsupported == ["net metering / distributed generation rules (dgrules: Net Metering)"]


def test_periods_with_different_tier_limits_become_seasons() -> None:
    data, _ = urdb_to_tariff(fixture("tou-seasonal-tiers"))
    seasons = data["versions"][0]["energy"]["blocks"]["seasons"]
    assert [(s["name"], s["months"], s["tiers"][0]["up_to"]) for s in seasons] == [
        ("Jan-May, Oct-Dec", [1, 2, 3, 4, 5, 10, 11, 12], Decimal(400)),
        ("Jun-Sep", [6, 7, 8, 9], Decimal(700)),
    ]
    assert data["versions"][0]["fixed_charges"][0]["per"] == "day"
    parse_tariff(data, code="seasonal")


def test_what_cannot_be_represented_is_named_never_dropped_silently() -> None:
    item = fixture("tiered")
    item.update(
        {
            "demandratestructure": [[{"rate": 9.5}]],
            "flatdemandstructure": [[{"rate": 3}]],
            "coincidentratestructure": [[{"rate": 1}]],
            "fixedchargeeaaddl": 2.5,
            "mincharge": 120,
            "minchargeunits": "$/year",
            "usenetmetering": True,
            "fancyrider": "x",
        }
    )
    item["energyratestructure"][0][0]["sell"] = 0.03
    _, unsupported = urdb_to_tariff(item)
    assert unsupported == [
        "demand charges (demandratestructure)",
        "flat demand charges (flatdemandstructure)",
        "coincident demand charges (coincidentratestructure)",
        "fixed charge per additional meter (fixedchargeeaaddl)",
        "unknown field (fancyrider)",
        "net metering (usenetmetering)",
        "export (sell) rate (energyratestructure.0.0.sell)",
        "minimum charge in $/year (annual minimum, mincharge)",
    ]


def test_tiers_in_kwh_per_day_are_refused() -> None:
    item = fixture("tiered")
    item["energyratestructure"][0][0]["unit"] = "kWh daily"
    with pytest.raises(TariffError, match="'kWh daily' tiers are not supported"):
        urdb_to_tariff(item)


def test_different_tier_limits_within_one_month_are_refused() -> None:
    item = fixture("us-example-tiered-tou")
    item["energyratestructure"][2][0]["max"] = Decimal(900)
    with pytest.raises(TariffError, match="tier limits differ between periods"):
        urdb_to_tariff(item)


def test_period_names_must_match_the_periods() -> None:
    with pytest.raises(TariffError, match="3 periods"):
        urdb_to_tariff(fixture("us-example-tiered-tou"), period_names=["peak", "valley"])


def test_api_answer_with_one_item_is_read(tmp_path: Path) -> None:
    path = tmp_path / "answer.json"
    rate = json.loads((FIXTURES / "flat.json").read_text(encoding="utf-8"))
    path.write_text(json.dumps({"items": [rate]}), encoding="utf-8")
    assert read_urdb_json(path)["label"] == "wattdesk-test-flat"
    path.write_text(json.dumps({"items": [rate, rate]}), encoding="utf-8")
    with pytest.raises(TariffError, match="expected one rate item, found 2"):
        read_urdb_json(path)


def test_shipped_us_tariff_is_what_the_importer_makes_of_its_fixture() -> None:
    data, _ = urdb_to_tariff(
        fixture("us-example-tiered-tou"),
        timezone="America/Denver",
        period_names=["valley", "flat", "peak"],
    )
    shipped = load_tariff(shipped_path("us-example-tiered-tou"))
    assert shipped == parse_tariff(data, code="us-example-tiered-tou")
