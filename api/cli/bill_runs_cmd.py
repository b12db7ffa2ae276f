"""`wattdesk bill-runs list` and `show`: the scheduler's daily bill runs and a run's missed
readings, as `GET /api/v1/bill-runs` shows them (docs/billing.md, "The scheduled bill run")."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from api.cli.common import console, unit_of_work
from billing_core.bills.run.summary import get_run, list_runs

app = typer.Typer(help="The scheduled daily bill runs.", no_args_is_help=True)


@app.command("list")
def list_command(
    limit: int = typer.Option(30, "--limit", min=1, max=366, help="Runs, newest day first."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The scheduled bill runs, newest reading day first, with their counts."""
    with unit_of_work(write=False) as session:
        runs = list_runs(session=session, limit=limit)
    if as_json:
        typer.echo(json.dumps(runs, default=str, ensure_ascii=False, indent=2))
        return
    table = Table("id", "day", "status", "due", "issued", "in review", "already billed",
                  "missed readings", "failed", title="scheduled bill runs")  # fmt: skip
    for r in runs:
        day = r["run_date"].isoformat() + (" (catch-up)" if r["catch_up"] else "")
        table.add_row(*map(str, (r["id"], day, r["status"], r["accounts_due"], r["issued"],
                                 r["in_review"], r["already_billed"], r["missed_readings"],
                                 r["failed"])))  # fmt: skip
    console.print(table)


@app.command("show")
def show_command(
    run_id: int = typer.Argument(..., min=1, help="The run's id (from `list`)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """One scheduled run: its counts, errors and missed readings."""
    with unit_of_work(write=False) as session:
        run = get_run(session=session, run_id=run_id)
    if as_json:
        typer.echo(json.dumps(run, default=str, ensure_ascii=False, indent=2))
        return
    console.print(
        f"bill run of {run['run_date'].isoformat()}: {run['status']}"
        + (", catch-up" if run["catch_up"] else "")
        + f"; {run['accounts_due']} due, {run['issued']} issued, {run['in_review']} in review, "
        f"{run['already_billed']} already billed, {run['failed']} failed",
        soft_wrap=True,
    )
    if run["errors"]:
        console.print(run["errors"], markup=False, soft_wrap=True)
    console.print(f"missed readings: {run['missed_readings']}")
    for m in run["missed"]:
        last = m["last_read_on"].isoformat() if m["last_read_on"] else "never"
        console.print(f"  {m['account_number']}  {m['book_code'] or '-'}  "
                      f"{m['meter_serial'] or 'no meter in service'}  last read {last}",
                      markup=False)  # fmt: skip
