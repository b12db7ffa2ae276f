"""The `wattdesk` command line (typer): the entry point for every operator task.

Each command group lives in its own module and is registered here."""

from __future__ import annotations

import typer

from api.cli import (
    arrears_cmd,
    bill_runs_cmd,
    bills_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    dispatch_cmd,
    groups_cmd,
    ledger_cmd,
    messages_cmd,
    nlu_cmd,
    payments_cmd,
    plan_cmd,
    readings_cmd,
    seed_cmd,
    simulate_cmd,
    staff_cmd,
    tariff_cmd,
    telegram_cmd,
)
from bench.cli import app as bench_app

app = typer.Typer(
    name="wattdesk",
    help="wattdesk: an electricity utility's self-service desk.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(staff_cmd.app, name="staff")
app.add_typer(tariff_cmd.app, name="tariff")
# The benchmarks live in their own package (`bench`), registered here as a sub-app: the one
# import of `bench` a product package may make (an import-linter contract says so).
app.add_typer(bench_app, name="bench")
app.add_typer(plan_cmd.app, name="plan")
app.add_typer(readings_cmd.app, name="readings")
app.add_typer(ledger_cmd.app, name="ledger")
app.add_typer(payments_cmd.app, name="payments")
app.add_typer(nlu_cmd.app, name="nlu")
app.add_typer(telegram_cmd.app, name="telegram")
app.add_typer(simulate_cmd.app, name="simulate")
app.add_typer(arrears_cmd.app, name="arrears")
app.add_typer(bill_runs_cmd.app, name="bill-runs")
app.add_typer(messages_cmd.app, name="messages")
app.add_typer(groups_cmd.app, name="groups")
demo_cmd.register(app)
dispatch_cmd.register(app)
seed_cmd.register(app)
bills_cmd.register(app)


def main() -> None:
    app()
