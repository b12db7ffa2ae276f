"""`wattdesk config show`: the effective settings, secrets masked."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from api.cli.common import console, settings

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
