"""`wattdesk db upgrade | downgrade | current`: schema migrations."""

from __future__ import annotations

import typer

from api.cli.common import console, engine
from billing_core.db import migrate

app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrate.upgrade(engine(), revision)
    console.print(f"database at revision [bold]{migrate.current_revision(engine())}[/]")


@app.command("downgrade")
def downgrade(
    revision: str = typer.Argument("-1", help="Target revision (default: one step back)."),
) -> None:
    """Migrate the database down to REVISION (default: one step back)."""
    migrate.downgrade(engine(), revision)
    console.print(f"database at revision [bold]{migrate.current_revision(engine()) or 'empty'}[/]")


@app.command("current")
def current() -> None:
    """Print the database's revision and whether it is the newest."""
    now, head = migrate.current_revision(engine()), migrate.head_revision(engine())
    state = "up to date" if now == head else f"behind (newest is {head})"
    console.print(f"revision {now or 'none'}: {state}")
