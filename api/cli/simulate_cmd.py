"""`wattdesk simulate arrears`: the arrears ladder's policies compared on simulated customers
(billing_core/arrears/simulate.py, docs/arrears.md)."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from api.cli.common import EXIT_USAGE, console, err_console, settings
from billing_core.arrears.checker import HardRules
from billing_core.arrears.policy import LadderPolicy, load_arrears_policy, load_ladder_policy_file
from billing_core.arrears.simulate import (
    calendar_years,
    load_mix,
    population,
    report,
    simulate,
)
from billing_core.calendar import WorkingCalendar
from billing_core.errors import InvalidInput

app = typer.Typer(help="Simulate policies on synthetic customers.", no_args_is_help=True)
START = date(2025, 1, 1)  # the calendar years the holidays package knows in full (CN)


def _policy(name: str, directory: Path) -> LadderPolicy:
    if name == "humane":
        return load_arrears_policy(directory)
    if name == "naive":
        return load_ladder_policy_file(directory / "arrears_naive.yaml")
    return load_ladder_policy_file(Path(name))


@app.command("arrears")
def arrears(
    customers: int = typer.Option(1000, "--customers", min=1, max=1_000_000),
    months: int = typer.Option(12, "--months", min=1, max=24),
    seed: int = typer.Option(1, "--seed", help="The same seed gives the same customers."),
    policies: list[str] = typer.Option(
        ["humane", "naive"], "--policy", help="humane, naive or a policy FILE; repeatable."
    ),
    mix_name: str = typer.Option("default", "--mix", help="default, hardship, affluent or FILE."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Run the same simulated customers through each policy on the real working calendar and
    print, per policy, the money collected within 30/60/90 days of the due date,
    disconnections (of sensitive customers too), messages, calls, arrangements and the humane
    rules broken (counted by an independent checker)."""
    configured = settings()
    try:
        humane = load_arrears_policy(configured.policy_dir)
        chosen = {name: _policy(name, configured.policy_dir) for name in policies}
        mix = load_mix(mix_name)
        calendar = WorkingCalendar.for_country(
            configured.holiday_country, calendar_years(START, months)
        )
    except InvalidInput as exc:
        # soft_wrap: a path in the message stays whole, whatever the terminal's width.
        err_console.print(f"[bold red]cannot simulate[/]: {exc}", soft_wrap=True)
        raise typer.Exit(code=EXIT_USAGE) from None
    missing = calendar.years_without_makeup_days()
    if missing:
        err_console.print(f"warning: the calendar does not know the make-up days of {missing}")
    people = population(mix, customers, months, seed)
    rules = HardRules.from_policy(humane)
    results: dict[str, dict[str, Any]] = {}
    for name, policy in chosen.items():
        started = time.perf_counter()
        tally = simulate(
            policy=policy,
            rules=rules,
            mix=mix,
            calendar=calendar,
            tz=configured.tz,
            customers=people,
            start=START,
            months=months,
        )
        results[name] = report(tally, customers) | {
            "seconds": round(time.perf_counter() - started, 2)
        }
    if as_json:
        typer.echo(json.dumps({"mix": mix.name, "customers": customers, "policies": results}))
        return
    _print(results, mix.name, customers, months)


def _print(results: dict[str, dict[str, Any]], mix: str, customers: int, months: int) -> None:
    names = list(results)
    table = Table("", *names, title=f"{customers} customers, {months} months, mix {mix}")
    rows = [k for k in next(iter(results.values())) if k != "violations_by_rule"]
    for row in rows:
        table.add_row(row, *(str(results[n][row]) for n in names))
    console.print(table)
    for name in names:
        for rule, count in results[name]["violations_by_rule"].items():
            typer.echo(f"{name}: {count} × {rule}")
    if "humane" in results and "naive" in results:
        humane, naive = results["humane"], results["naive"]
        share = float(humane["collected_90d"]) / float(naive["collected_90d"] or 1)
        cuts = humane["disconnections"] / (naive["disconnections"] or 1)
        typer.echo(
            f"humane/naive: {share:.2%} of the money within 90 days, {cuts:.1%} of the"
            f" disconnections, {humane['violations']} vs {naive['violations']} violations"
        )
