"""The tariff file format: a bad file is refused with the field's path and the reason."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing_core.tariffs import TariffError, load_tariff, parse_tariff
from billing_core.tariffs.schema import dump_tariff_yaml, read_tariff_yaml
from tests.unit.tariffs.factories import D, peak_valley_energy, shipped_path, tariff_data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(TariffError) as caught:
        parse_tariff(data, code="bad")
    return list(caught.value.problems)


def test_a_valid_tariff_compiles() -> None:
    tariff = parse_tariff(tariff_data(), code="good")
    assert tariff.code == "good"
    assert tariff.versions[0].seasons[0].limits == (D(100), D(300))


def test_negative_block_size_is_refused_with_its_path() -> None:
    data = tariff_data()
    data["versions"][0]["energy"]["blocks"]["tiers"][1]["up_to"] = D(60)
    assert problems(data) == [
        "versions.0.energy.blocks.tiers.1.up_to: limits must increase: 60 after 100 gives a"
        " block of -40 kWh"
    ]


def test_negative_limit_is_refused() -> None:
    data = tariff_data()
    data["versions"][0]["energy"]["blocks"]["tiers"][0]["up_to"] = D(-5)
    assert problems(data) == [
        "versions.0.energy.blocks.tiers.0.up_to: Input should be greater than 0"
    ]


def test_overlapping_tou_hours_are_refused() -> None:
    data = tariff_data(peak_valley_energy())
    data["versions"][0]["energy"]["tou"]["hours"][1]["from"] = 21
    assert problems(data) == [
        "versions.0.energy.tou.hours.1: hours 21:00 overlap versions.0.energy.tou.hours.0 (peak)"
    ]


def test_hours_left_to_no_period_are_refused() -> None:
    data = tariff_data(peak_valley_energy())
    data["versions"][0]["energy"]["tou"]["hours"][1]["to"] = 7
    assert problems(data) == ["versions.0.energy.tou.hours: hours 07:00 belong to no period"]


def test_missing_price_is_refused() -> None:
    assert problems(tariff_data({})) == [
        "versions.0.energy.price: missing: give a price per kWh, priced blocks or time-of-use"
        " periods"
    ]


def test_block_without_price_or_surcharge_is_refused() -> None:
    data = tariff_data()
    del data["versions"][0]["energy"]["blocks"]["tiers"][2]["surcharge"]
    assert problems(data) == [
        "versions.0.energy.blocks.tiers.2.surcharge: missing: give the block's surcharge (0 if"
        " none)"
    ]
    del data["versions"][0]["energy"]["price"]
    assert (
        "versions.0.energy.blocks.tiers.0.price: missing: without energy.price each block"
        " needs a price"
    ) in problems(data)


def test_tou_period_without_price_is_refused() -> None:
    data = tariff_data(peak_valley_energy())
    del data["versions"][0]["energy"]["tou"]["periods"][1]["price"]
    assert problems(data) == [
        "versions.0.energy.tou.periods.1.price: missing: give price (or tier_prices)"
    ]


def schedule_energy(rows: list[Any]) -> dict[str, Any]:
    return {
        "tou": {
            "periods": [{"name": "peak", "price": D("0.6")}, {"name": "valley", "price": D("0.3")}],
            "schedule": {"weekday": rows},
        }
    }


def test_schedule_that_is_not_12_by_24_is_refused() -> None:
    good = [[0] * 8 + [1] * 16 for _ in range(12)]
    parse_tariff(tariff_data(schedule_energy(good)), code="ok")
    assert problems(tariff_data(schedule_energy(good[:11]))) == [
        "versions.0.energy.tou.schedule.weekday: must have 12 rows (one per month), has 11"
    ]
    short = copy.deepcopy(good)
    short[3] = short[3][:23]
    short[5][2] = 7
    assert problems(tariff_data(schedule_energy(short))) == [
        "versions.0.energy.tou.schedule.weekday.3: must have 24 entries (one per hour), has 23",
        "versions.0.energy.tou.schedule.weekday.5.2: period index 7 out of range 0..1",
    ]


def test_schedule_may_name_periods() -> None:
    rows = [["valley"] * 8 + ["peak"] * 16 for _ in range(12)]
    tariff = parse_tariff(tariff_data(schedule_energy(rows)), code="ok")
    assert tariff.versions[0].schedule[:9] == (1,) * 8 + (0,)


def test_unknown_field_is_refused() -> None:
    data = tariff_data()
    data["versions"][0]["energy"]["blocks"]["teirs"] = []
    assert "versions.0.energy.blocks.teirs: Extra inputs are not permitted" in problems(data)


def test_unknown_time_zone_and_currency_are_refused() -> None:
    data = tariff_data()
    data["timezone"] = "Mars/Olympus"
    data["currency"] = "XXQ"
    assert problems(data) == [
        "timezone: unknown time zone 'Mars/Olympus'",
        "currency: unknown currency 'XXQ'",
    ]


def test_versions_must_follow_each_other() -> None:
    version = tariff_data()["versions"][0]
    data = tariff_data(versions=[version, {**version, "effective_from": date(2019, 1, 1)}])
    assert problems(data) == ["versions.1.effective_from: must be after versions.0 (2020-01-01)"]


def test_last_block_is_open_ended() -> None:
    data = tariff_data()
    data["versions"][0]["energy"]["blocks"]["tiers"][2]["up_to"] = D(900)
    assert problems(data) == [
        "versions.0.energy.blocks.tiers.2.up_to: the last block is open-ended: remove up_to"
    ]


def test_seasons_must_cover_each_month_once() -> None:
    tiers = [{"up_to": D(100)}, {"surcharge": D("0.1")}]
    data = tariff_data(
        {
            "price": D("0.5"),
            "blocks": {
                "seasons": [
                    {"name": "summer", "months": [5, 6, 7, 8, 9, 10], "tiers": tiers},
                    {"name": "winter", "months": [1, 2, 3, 10, 11, 12], "tiers": tiers},
                ]
            },
        }
    )
    assert problems(data) == [
        "versions.0.energy.blocks.seasons.1.months: month 10 is already in season 'summer'",
        "versions.0.energy.blocks.seasons: months [4] are in no season",
    ]


def test_power_factor_needs_a_known_standard_and_non_residential_customers() -> None:
    data = tariff_data(power_factor={"standard": D("0.95")})
    assert problems(data) == [
        "versions.0.power_factor: applies to non-residential accounts; add non_residential to"
        " customer_kinds",
        "versions.0.power_factor.standard: no standard table for 0.95 (0.90, 0.85, 0.80); give"
        " a table",
    ]


def test_custom_power_factor_table_must_reach_zero() -> None:
    data = tariff_data(
        kinds=("non_residential",),
        power_factor={
            "standard": D("0.9"),
            "table": [{"at_least": D("0.9"), "percent": D(0)},
                      {"at_least": D("0.8"), "percent": D(5)}],
        },
    )  # fmt: skip
    assert problems(data) == [
        "versions.0.power_factor.table: the last row needs at_least: 0, so every power factor"
        " has a percent"
    ]


def test_yaml_numbers_are_exact_decimals_and_times_are_not_base_60(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("a: 0.1\nb: 22:00\nc: 010\nd: 1_000\n", encoding="utf-8")
    assert read_tariff_yaml(path) == {"a": Decimal("0.1"), "b": "22:00", "c": "010", "d": 1000}


def test_unquoted_times_work_in_hour_ranges(tmp_path: Path) -> None:
    text = shipped_path("zhejiang-residential-tou").read_text(encoding="utf-8")
    path = tmp_path / "unquoted.yaml"
    path.write_text(text.replace('"08:00"', "08:00").replace('"22:00"', "22:00"), "utf-8")
    assert load_tariff(path).versions[0].schedule[:24] == (1,) * 8 + (0,) * 14 + (1,) * 2


def test_bad_file_names_itself_and_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        shipped_path("beijing-residential")
        .read_text(encoding="utf-8")
        .replace("up_to: 400", "up_to: 200")
        .replace("currency: CNY", "currency: cny"),
        encoding="utf-8",
    )
    with pytest.raises(TariffError) as caught:
        load_tariff(path)
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"tariff {path} is invalid:\n  currency:")


def test_malformed_yaml_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(TariffError, match="line 2: not valid YAML"):
        load_tariff(path)


def test_dumped_tariff_reads_back_the_same(tmp_path: Path) -> None:
    data = tariff_data(peak_valley_energy(blocks={"basis": "annual", "tiers": [
        {"up_to": D("2760")}, {"surcharge": D("0.05")}]}))  # fmt: skip
    path = tmp_path / "roundtrip.yaml"
    path.write_text(dump_tariff_yaml(data), encoding="utf-8")
    assert load_tariff(path) == parse_tariff(data, code="roundtrip")
