"""`wattdesk config show`: the effective settings, secrets masked; `wattdesk config check`:
every setting that is unsafe in production."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from api.cli.common import EXIT_USAGE, console, err_console, settings
from billing_core.settings import Environment, SettingsError, load_settings

app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


@app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the effective settings (environment, .env, defaults) with secrets masked."""
    shown = settings().masked()
    if as_json:
        typer.echo(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    table = Table("variable", "value", title="wattdesk settings")
    for name, value in shown.items():
        table.add_row(f"WATTDESK_{name.upper()}", str(value))
    console.print(table)


@app.command("check")
def check() -> None:
    """Print every setting unsafe in production (whatever WATTDESK_ENV says); exit 1 if any."""
    try:
        # Loaded as development, so the production refusals are listed here, not raised.
        checked = load_settings(env=Environment.development)
    except SettingsError as exc:
        err_console.print(f"[bold red]invalid settings[/]: {exc}")
        raise typer.Exit(code=EXIT_USAGE) from None
    problems = checked.production_problems()
    for problem in problems:
        typer.echo(f"unsafe: {problem}")
    if problems:
        typer.echo(f"{len(problems)} setting(s) unsafe in production")
        raise typer.Exit(code=1)
    typer.echo("no unsafe production settings")
