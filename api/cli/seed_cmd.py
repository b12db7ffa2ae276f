"""`wattdesk seed`: fill an empty database with the demo customers and a deterministic
synthetic population (for demos and benchmarks)."""

from __future__ import annotations

import time
from datetime import date

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.common import clock, console, engine, fail, settings, unit_of_work
from billing_core.db import migrate
from billing_core.seed.model import MAX_MONTHS
from billing_core.seed.service import SeedReport, seed_is_needed, seed_population


def register(app: typer.Typer) -> None:
    app.command("seed")(seed)


def seed(
    customers: int = typer.Option(
        1000, "--customers", min=0, help="Synthetic customers (besides the two demo ones)."
    ),
    months: int = typer.Option(
        13, "--months", min=1, max=MAX_MONTHS, help="Months of meter readings per meter."
    ),
    seed_value: int = typer.Option(
        1, "--seed", help="Random seed: the same seed always gives the same data."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        metavar="YYYY-MM-DD",
        help="Last day with readings (default: today in the utility's time zone).",
    ),
) -> None:
    """Seed an empty database: the demo customers plus CUSTOMERS synthetic ones, in one
    transaction. Refused when the database already holds customers."""
    until_date = _parse_until(until)
    if not migrate.is_current(engine()):
        fail("the database schema is not current: run `wattdesk db upgrade` first")
    started = time.perf_counter()
    with unit_of_work() as session:
        if not seed_is_needed(session):
            fail("database already seeded: it holds customers (seed an empty database)")
        progress = Progress(
            TextColumn("seeding"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("customers"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        with progress:
            task = progress.add_task("seeding", total=customers)
            report = seed_population(
                session=session,
                customers=customers,
                months=months,
                seed=seed_value,
                until=until_date,
                clock=clock(),
                timezone=settings().timezone,
                on_progress=lambda done: progress.update(task, completed=done),
            )
        committing = time.perf_counter()
    finished = time.perf_counter()
    _print_report(report, total=finished - started, commit=finished - committing)


def _parse_until(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date as YYYY-MM-DD", param_hint="'--until'"
        ) from None


def _print_report(report: SeedReport, *, total: float, commit: float) -> None:
    table = Table("table", "rows", title=f"seed {report.seed}, readings up to {report.until}")
    for name, count in report.counts.items():
        table.add_row(name, f"{count:,}")
    table.add_row("[bold]total[/]", f"[bold]{report.total_rows:,}[/]")
    console.print(table)
    planted = ", ".join(f"{kind} {count:,}" for kind, count in sorted(report.anomalies.items()))
    console.print(f"planted anomalies: {planted or 'none'}")
    console.print(
        f"seeded {report.customers:,} customers × {report.months} months "
        f"in {total:.1f} s (generate and insert {report.elapsed_seconds:.1f} s, "
        f"commit {commit:.1f} s)"
    )
