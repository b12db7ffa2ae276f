"""`wattdesk bill-run` (in worker processes) and `wattdesk bench bill-run`, through the CLI
root, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import app
from billing_core.bills.tables import Bill
from billing_core.db import create_db_engine
from billing_core.db.columns import table_of
from tests.integration.bills.helpers import busiest_reading_date, seed


def test_bill_run_in_two_workers_then_again_bills_each_account_once(
    cli_database: str, cli_env: CliRunner
) -> None:
    engine = create_db_engine(cli_database)
    seed(engine, customers=300)
    day = busiest_reading_date(engine).isoformat()
    first = cli_env.invoke(app, ["bill-run", "--date", day, "--workers", "2", "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    stored = summary["issued"] + summary["in_review"]
    assert stored > 0 and summary["failed"] == 0
    with engine.connect() as connection:
        bills = connection.execute(select(func.count()).select_from(table_of(Bill))).scalar_one()
    assert bills == stored
    again = cli_env.invoke(app, ["bill-run", "--date", day, "--workers", "2", "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["already_billed"] == stored
    engine.dispose()


def test_bench_bill_run_prints_both_rates_and_the_ratio_and_leaves_no_bill(
    cli_database: str, cli_env: CliRunner
) -> None:
    result = cli_env.invoke(
        app,
        ["bench", "bill-run", "--accounts", "150", "--database-url", cli_database,
         "--workers", "2", "--chunk-size", "50"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert re.search(r"bill run, end to end: [\d,]+ bills .* = [\d,]+ bills/s", text), text
    assert re.search(r"bare bulk insert of the same rows: .* = [\d,]+ bills/s", text), text
    assert re.search(r"time by phase, .*: load [\d.]+ s, draft [\d.]+ s, store [\d.]+ s", text)
    assert re.search(r"bill run / bare insert: \d+\.\d\d", text), text
    engine = create_db_engine(cli_database)
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(table_of(Bill))).scalar() == 0
    engine.dispose()
