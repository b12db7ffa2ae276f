"""`wattdesk bill-run` and `wattdesk report review`: bill runs and the monthly review summary."""

from __future__ import annotations

import json
from datetime import date, datetime

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from api.cli.common import clock, console, engine, fail, settings, unit_of_work
from billing_core.bills.model import ReviewThresholds
from billing_core.bills.policy import load_review_policy
from billing_core.bills.review_service import monthly_summary
from billing_core.bills.run import DEFAULT_WORKERS, BillRunSummary, run_bills
from billing_core.bills.terms import load_payment_terms_policy
from billing_core.errors import WattdeskError
from billing_core.tariffs.catalog import TariffCatalog

report_app = typer.Typer(help="Reports.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("bill-run")(bill_run)
    app.add_typer(report_app, name="report")


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (YYYY-MM-DD)")
        raise


def parse_month(value: str, option: str = "--month") -> date:
    try:
        return datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007 - a calendar month
    except ValueError:
        fail(f"{option} {value!r} is not a month (YYYY-MM)")
        raise


def bill_run(
    run_date: str = typer.Option(..., "--date", help="The reading day to bill (YYYY-MM-DD)."),
    book: str | None = typer.Option(None, "--book", help="Only this reading book."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    chunk_size: int = typer.Option(5000, "--chunk-size", min=1, max=100_000),
    workers: int = typer.Option(
        DEFAULT_WORKERS, "--workers", min=1, max=64, help="Processes (default: one per core)."
    ),
) -> None:
    """Bill every account whose reading falls due on DATE: price, review, issue or hold.
    Idempotent and resumable: run it again after any interruption."""
    day = parse_day(run_date, "--date")
    config = settings()
    try:
        tariffs = TariffCatalog.load(config.tariff_dir)
        thresholds = ReviewThresholds.from_policy(load_review_policy(config.policy_dir))
        payment_terms = load_payment_terms_policy(config.policy_dir)
    except WattdeskError as exc:
        fail(str(exc))
        raise
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=as_json,
        disable=as_json,
        auto_refresh=False,  # no refresh thread: the run forks its workers
    ) as progress:
        task = progress.add_task(f"billing {day.isoformat()}", total=None)
        summary = run_bills(
            engine=engine(),
            clock=clock(),
            run_date=day,
            tz=config.tz,
            tariffs=tariffs,
            thresholds=thresholds,
            book=book,
            chunk_size=chunk_size,
            workers=workers,
            payment_terms=payment_terms,
            progress=lambda done, total: progress.update(
                task, completed=done, total=total, refresh=True
            ),
        )
    if as_json:
        typer.echo(json.dumps(summary.as_json(), ensure_ascii=False, indent=2))
    else:
        print_summary(summary)


def print_summary(summary: BillRunSummary) -> None:
    table = Table(
        "",
        "accounts",
        title=f"bill run {summary.run_id} for "
        f"{summary.run_date.isoformat()}" + (f", book {summary.book}" if summary.book else ""),
    )
    table.add_row("due", str(summary.due))
    table.add_row("issued", str(summary.issued))
    table.add_row("held in review", str(summary.in_review))
    table.add_row("already billed (skipped)", str(summary.already_billed))
    table.add_row("missed (no reading)", str(len(summary.missed)))
    table.add_row("failed", str(len(summary.failed)))
    console.print(table)
    if summary.catch_up and summary.issued_on is not None:
        console.print(
            f"catch-up: {summary.catch_up} bills for the readings of "
            f"{summary.run_date.isoformat()} were issued on {summary.issued_on.isoformat()}; "
            "their due dates count from the issue date",
            soft_wrap=True,
        )
    if summary.review_by_rule:
        console.print(
            "review rules fired: "
            + ", ".join(f"{rule} {count}" for rule, count in sorted(summary.review_by_rule.items()))
        )
    for title, rows in (("missed", summary.missed), ("failed", summary.failed)):
        for number, why in rows[:20]:
            console.print(f"  {title}: {number}: {why}")
        if len(rows) > 20:
            console.print(f"  … and {len(rows) - 20} more {title}")
    console.print(
        f"billed {summary.total_amount} in {summary.seconds:.2f} s "
        f"({summary.bills_per_second:,.0f} bills/s)"
    )
    if summary.phase_seconds:
        phases = ", ".join(f"{name} {t:.2f} s" for name, t in summary.phase_seconds.items())
        console.print(f"time by phase (summed over the parts): {phases}")


@report_app.command("review")
def review_report(
    month: str = typer.Option(..., "--month", help="YYYY-MM"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The month's review items by rule and by cause (按月汇总, 原因分析)."""
    first = parse_month(month)
    with unit_of_work(write=False) as session:
        report = monthly_summary(session=session, month=first, tz=settings().tz)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    table = Table(
        "rule",
        "open",
        "approved",
        "corrected",
        title=f"review {report['month']}: {report['bills_held']} bills held, "
        f"{report['items']} items",
    )
    for rule, counts in report["by_rule"].items():
        table.add_row(rule, str(counts["open"]), str(counts["approved"]), str(counts["corrected"]))
    console.print(table)
    causes = Table("cause", "items", title="causes (原因分析)")
    for cause, count in report["by_cause"].items():
        causes.add_row(str(cause), str(count))
    console.print(causes)
