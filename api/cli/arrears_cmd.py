"""`wattdesk arrears run`: the daily arrears ladder by hand (or to catch up after a day the
server was down; the job also runs at start). Idempotent: a second run adds nothing.
`wattdesk arrears forecast import FILE`: a daily weather forecast the ladder heeds."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.common import clock, console, engine, err_console, fail, settings, unit_of_work
from billing_core.arrears.forecast import import_forecast, parse_forecast_csv
from billing_core.errors import InvalidInput, WattdeskError
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.payments.policy import load_payments_policy, payment_context
from scheduler.jobs import JobContext, ladder_run

app = typer.Typer(help="The arrears ladder (docs/arrears.md).", no_args_is_help=True)
forecast_app = typer.Typer(
    help="The daily weather forecast the ladder heeds.", no_args_is_help=True
)
app.add_typer(forecast_app, name="forecast")


@app.command("run")
def run(as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Run the daily ladder now over every account owing something."""
    config = settings()
    try:
        context = JobContext(
            engine=engine(),
            clock=clock(),
            tz=config.tz,
            payments_context=payment_context(config, load_payments_policy(config.policy_dir)),
            notices_policy=load_notices_policy(config.policy_dir),
            late_fee_policy=load_late_fee_policy(config.policy_dir),
        )
        report = ladder_run(context)
    except WattdeskError as exc:
        fail(str(exc))
        raise
    if as_json:
        typer.echo(json.dumps(report.as_json()))
        return
    for name, value in report.as_json().items():
        console.print(f"{name.replace('_', ' ')}: {value:,}")


@forecast_app.command("import")
def forecast_import(
    file: Path = typer.Argument(..., help="A CSV file: date,low_c,high_c (docs/arrears.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Store a daily forecast (one line per day: date, lowest and highest °C). Days imported
    before are replaced. A file with any bad line stores nothing and lists every bad line.
    No disconnection is planned or approved on a day reaching the policy's limits."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
        return
    except UnicodeDecodeError as exc:
        fail(f"{file.name}: not UTF-8 text (byte {exc.start}): save the CSV as UTF-8")
        return
    try:
        parsed = parse_forecast_csv(text)
    except InvalidInput as exc:
        fail(f"{file.name}: {exc}")
        return
    if parsed.rejections:
        for rejection in parsed.rejections:
            err_console.print(f"{file.name}: {rejection}", markup=False, highlight=False)
        fail(f"{file.name}: {len(parsed.rejections)} bad line(s); nothing was stored")
        return
    config = settings()
    rules = payment_context(config, load_payments_policy(config.policy_dir)).arrears
    with unit_of_work() as session:
        summary = import_forecast(
            session=session, clock=clock(), text=text, source=f"file:{file.name}",
            actor="cli", rules=rules,
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(summary))
        return
    console.print(
        f"{file.name}: {summary['days']} day(s) stored ({summary['first']} to {summary['last']}; "
        f"{summary['replaced']} replaced)", markup=False, highlight=False,
    )  # fmt: skip
    extreme = summary.get("extreme_days") or []
    console.print(f"days no disconnection may be planned on: {', '.join(extreme) or 'none'}",
                  markup=False, highlight=False)  # fmt: skip
