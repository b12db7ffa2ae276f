"""`wattdesk arrears run`: the daily arrears ladder by hand (or to catch up after a day the
server was down; the job also runs at start). Idempotent: a second run adds nothing."""

from __future__ import annotations

import json

import typer

from api.cli.common import clock, console, engine, fail, settings
from billing_core.errors import WattdeskError
from billing_core.ledger.policy import load_late_fee_policy
from billing_core.notices.policy import load_notices_policy
from billing_core.payments.policy import load_payments_policy, payment_context
from scheduler.jobs import JobContext, ladder_run

app = typer.Typer(help="The arrears ladder (docs/arrears.md).", no_args_is_help=True)


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
