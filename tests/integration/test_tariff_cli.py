"""`wattdesk tariff` and `wattdesk bench price` on the shipped tariffs, through the CLI root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from billing_core.tariffs import SHIPPED_TARIFFS_DIR, load_tariff

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "urdb"
BEIJING = str(SHIPPED_TARIFFS_DIR / "beijing-residential.yaml")
OCTOBER = ["--start", "2026-10-01", "--end", "2026-10-31"]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("path", sorted(SHIPPED_TARIFFS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_check_accepts_every_shipped_tariff(runner: CliRunner, path: Path) -> None:
    result = runner.invoke(app, ["tariff", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ")


def test_check_refuses_a_malformed_tariff_with_paths_and_reasons(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = (SHIPPED_TARIFFS_DIR / "zhejiang-residential-tou.yaml").read_text("utf-8")
    text = text.replace("up_to: 4800", "up_to: 2000").replace('from: "22:00"', 'from: "21:00"')
    text = text.replace("price: 0.288", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, "utf-8")
    result = runner.invoke(app, ["tariff", "check", str(bad)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for line in [
        "versions.0.energy.tou.periods.1.price: missing: give price (or tier_prices)",
        "versions.0.energy.tou.hours.1: hours 21:00 overlap versions.0.energy.tou.hours.0 (peak)",
        "versions.0.energy.blocks.tiers.1.up_to: limits must increase: 2000 after 2760 gives"
        " a block of -760 kWh",
    ]:
        assert line in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_price_prints_the_beijing_bill_as_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["tariff", "price", BEIJING, *OCTOBER, "--kwh", "300", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "currency": "CNY",
        "lines": [
            {"component": "Energy block 1", "quantity": "240", "unit_price": "0.4883",
             "amount": "117.19"},
            {"component": "Energy block 2", "quantity": "60", "unit_price": "0.5383",
             "amount": "32.30"},
        ],
        "total": "149.49",
    }  # fmt: skip


def test_price_prints_a_table_with_the_total(runner: CliRunner) -> None:
    result = runner.invoke(app, ["tariff", "price", BEIJING, *OCTOBER, "--kwh", "300"])
    assert result.exit_code == 0, result.output
    assert "Energy block 2" in result.output
    assert "149.49" in result.output


def test_price_with_registers_and_year_to_date(runner: CliRunner) -> None:
    path = str(SHIPPED_TARIFFS_DIR / "zhejiang-residential-tou.yaml")
    result = runner.invoke(app, ["tariff", "price", path, *OCTOBER, "--peak", "300",
                                 "--valley", "200", "--ytd-kwh", "2600", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"] == "245.00"


def test_price_with_power_factor_for_a_commercial_account(runner: CliRunner) -> None:
    path = str(SHIPPED_TARIFFS_DIR / "cn-general-commercial.yaml")
    result = runner.invoke(app, ["tariff", "price", path, *OCTOBER, "--peak", "1000",
                                 "--flat", "2000", "--valley", "1000", "--power-factor", "0.85",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["total"] == "2717.48"


def test_price_with_an_interval_csv(runner: CliRunner, tmp_path: Path) -> None:
    csv = tmp_path / "intervals.csv"
    csv.write_text(
        "timestamp,kwh\n2026-10-05T07:00:00+08:00,2\n2026-10-05T08:00:00+08:00,3\n", "utf-8"
    )
    path = str(SHIPPED_TARIFFS_DIR / "zhejiang-residential-tou.yaml")
    result = runner.invoke(app, ["tariff", "price", path, *OCTOBER, "--interval-csv", str(csv),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = json.loads(result.output)["lines"]
    assert [(line["component"], line["quantity"]) for line in lines] == [
        ("Energy peak", "3"),
        ("Energy valley", "2"),
    ]


def test_interval_csv_without_utc_offsets_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    csv = tmp_path / "naive.csv"
    csv.write_text("2026-10-05T07:00:00,2\n", "utf-8")
    result = runner.invoke(app, ["tariff", "price", BEIJING, *OCTOBER, "--interval-csv", str(csv)])
    assert result.exit_code == 2
    assert "has no UTC offset" in result.output


def test_price_refuses_what_it_cannot_price(runner: CliRunner) -> None:
    tou = str(SHIPPED_TARIFFS_DIR / "zhejiang-residential-tou.yaml")
    cases = [
        ([BEIJING, *OCTOBER], "give --kwh"),
        ([BEIJING, *OCTOBER, "--kwh", "abc"], "--kwh: not a number"),
        ([BEIJING, "--start", "2026-13-01", "--end", "2026-10-31", "--kwh", "1"], "YYYY-MM-DD"),
        ([tou, *OCTOBER, "--kwh", "500"], "prices by time of use"),
        ([tou, *OCTOBER, "--kwh", "500", "--peak", "1", "--valley", "2"], "differs from the sum"),
    ]
    for arguments, message in cases:
        result = runner.invoke(app, ["tariff", "price", *arguments])
        assert result.exit_code == 2, (arguments, result.output)
        assert message in " ".join(result.output.split()), (arguments, result.output)


def test_import_urdb_writes_a_valid_tariff_and_names_what_it_left_out(
    runner: CliRunner, tmp_path: Path
) -> None:
    output = tmp_path / "us-example-tiered-tou.yaml"
    result = runner.invoke(app, ["tariff", "import-urdb",
                                 str(FIXTURES / "us-example-tiered-tou.json"), "-o", str(output),
                                 "--timezone", "America/Denver",
                                 "--period-names", "valley,flat,peak"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "not imported: net metering" in " ".join(result.output.split())
    text = output.read_text("utf-8")
    assert "check against the current official tariff" in text
    assert "#   - net metering / distributed generation rules (dgrules: Net Metering)" in text
    assert load_tariff(output) == load_tariff(SHIPPED_TARIFFS_DIR / "us-example-tiered-tou.yaml")


def test_import_urdb_refuses_a_rate_it_cannot_represent(runner: CliRunner, tmp_path: Path) -> None:
    rate = json.loads((FIXTURES / "tiered.json").read_text("utf-8"))
    rate["energyratestructure"][0][1]["unit"] = "kWh/kW"
    source = tmp_path / "rate.json"
    source.write_text(json.dumps(rate), "utf-8")
    result = runner.invoke(app, ["tariff", "import-urdb", str(source), "-o",
                                 str(tmp_path / "out.yaml")])  # fmt: skip
    assert result.exit_code == 2
    assert "energyratestructure.0.1.unit" in result.output
    assert not (tmp_path / "out.yaml").exists()


def test_bench_price_prints_the_rates_and_the_ratio(runner: CliRunner) -> None:
    result = runner.invoke(app, ["bench", "price", "--count", "3000"])
    assert result.exit_code == 0, result.output
    output = result.output
    for label in ["engine, tiered", "engine, TOU with tiers", "hand-written loop, tiered"]:
        assert label in output
    assert "bills/s" in output
    assert "engine / hand-written (tiered):" in output
