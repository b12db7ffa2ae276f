"""`wattdesk ledger accrue-late-fees` and `wattdesk ledger statement`: the daily late fee
accrual (电费违约金), with an explicit back-fill, and an account's statement."""

from __future__ import annotations

import json
from datetime import date, timedelta

import typer
from rich.table import Table

from api.cli.bills_cmd import parse_day
from api.cli.common import clock, console, fail, settings, unit_of_work
from billing_core.arrears.service import AccrualReport, account_ledger, accrue_late_fees
from billing_core.errors import WattdeskError
from billing_core.ledger.policy import LateFeePolicy, load_late_fee_policy

app = typer.Typer(help="The ledger: late fees and statements.", no_args_is_help=True)

MAX_BACKFILL_DAYS = 366


def _policy() -> LateFeePolicy:
    try:
        return load_late_fee_policy(settings().policy_dir)
    except WattdeskError as exc:
        fail(str(exc))
        raise


@app.command("accrue-late-fees")
def accrue(
    on: str = typer.Option(..., "--date", help="The local day to accrue (YYYY-MM-DD)."),
    since: str | None = typer.Option(
        None, "--from", help="Back-fill: accrue every day from this one up to --date."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the reports as JSON."),
) -> None:
    """Post the late fees owed for a day. Running a day again posts nothing new. Days the job
    did not run are NOT filled in automatically: pass --from to accrue a range explicitly."""
    last = parse_day(on, "--date")
    first = parse_day(since, "--from") if since else last
    if first > last:
        fail(f"--from {first.isoformat()} is after --date {last.isoformat()}")
    if (last - first).days >= MAX_BACKFILL_DAYS:
        fail(f"back-fill at most {MAX_BACKFILL_DAYS} days at a time")
    config, policy = settings(), _policy()
    reports: list[AccrualReport] = []
    day = first
    while day <= last:
        # One transaction per day: an interrupted back-fill keeps the days it finished, and
        # running it again skips them.
        with unit_of_work() as session:
            reports.append(
                accrue_late_fees(
                    session=session, clock=clock(), tz=config.tz, on=day, policy=policy
                )
            )
        day += timedelta(days=1)
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in reports], ensure_ascii=False, indent=2))
        return
    table = Table("day", "accounts", "posted", "amount", "already posted", title="late fees")
    for r in reports:
        table.add_row(
            r.on.isoformat(), str(r.accounts), str(r.posted), str(r.amount), str(r.already_posted)
        )
    console.print(table)


@app.command("statement")
def statement(
    number: str = typer.Argument(..., help="The account number."),
    as_json: bool = typer.Option(False, "--json", help="Print the statement as JSON."),
    entries: int = typer.Option(20, "--entries", min=0, max=500, help="Recent entries to show."),
) -> None:
    """An account's balance, credit, late fees and bills, from its ledger."""
    config, policy = settings(), _policy()
    today: date = clock().now().astimezone(config.tz).date()
    with unit_of_work(write=False) as session:
        ledger = account_ledger(
            session=session,
            number=number,
            today=today,
            currency=config.currency,
            policy=policy,
            recent=entries,
        )
        shown = ledger.as_json()
    if as_json:
        typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    console.print(
        f"account {shown['account']} on {today.isoformat()}: balance {shown['balance']} "
        f"{shown['currency']}, due {shown['amount_due']}, credit {shown['credit']}, "
        f"late fees open {shown['late_fees_open']}"
    )
    bills = Table("bill", "period", "total", "open", "due date", "standing", title="bills")
    for bill in shown["bills"]:
        bills.add_row(
            str(bill["bill_id"]),
            f"{bill['period_start']} – {bill['period_end']}",
            bill["total"],
            bill["open_amount"],
            bill["due_date"] or "",
            bill["standing"],
        )
    console.print(bills)
    recent = Table("entry", "day", "kind", "amount", "bill", "note", title="recent entries")
    for entry in shown["recent_entries"]:
        recent.add_row(
            str(entry["id"]),
            entry["effective_on"],
            entry["kind"],
            entry["amount"],
            str(entry["bill_id"] or ""),
            entry["note"],
        )
    console.print(recent)
