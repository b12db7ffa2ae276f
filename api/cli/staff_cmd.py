"""`wattdesk staff add`: create staff users."""

from __future__ import annotations

import sys

import typer

from api.cli.common import clock, console, fail, unit_of_work
from billing_core.staff.model import Role
from billing_core.staff.service import add_staff

app = typer.Typer(help="Staff users and roles.", no_args_is_help=True)


@app.command("add")
def add(
    username: str = typer.Option(..., "--username", "-u"),
    role: Role = typer.Option(..., "--role", "-r"),
    full_name: str = typer.Option("", "--full-name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Create a staff user. The password is prompted for, or read from stdin."""
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on standard input")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with unit_of_work() as session:
        user = add_staff(
            session=session,
            clock=clock(),
            username=username,
            role=role,
            password=password,
            full_name=full_name,
            actor="cli",
        )
        console.print(f"staff user [bold]{user.username}[/] created with role {user.role}")
