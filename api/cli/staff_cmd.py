"""`wattdesk staff add`: create staff users; `wattdesk staff token create | list | revoke`:
their personal API tokens (`Authorization: Bearer …` on the staff API), which expire."""

from __future__ import annotations

import sys

import typer

from api.cli.common import clock, console, fail, unit_of_work
from billing_core.staff import tokens
from billing_core.staff.model import Role
from billing_core.staff.service import add_staff

app = typer.Typer(help="Staff users, roles and API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens, with a lifetime.", no_args_is_help=True)
app.add_typer(token_app, name="token")


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


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", "-u", help="The staff user the token signs in."),
    days: int = typer.Option(
        ..., "--days", min=1, max=tokens.MAX_DAYS, help="How long it is valid."
    ),
    label: str = typer.Option("", "--label", help="What it is for (shown by `list`)."),
) -> None:
    """Make a token and print it, once: only its hash is stored."""
    with unit_of_work() as session:
        row, token = tokens.create_token(
            session=session, clock=clock(), username=user, days=days, label=label, actor="cli"
        )
    # The token alone on standard output (for `$(wattdesk staff token create …)`); the
    # rest on standard error.
    typer.echo(token)
    typer.echo(
        f"token {row.id} for {user}, valid until {row.expires_at.isoformat(timespec='seconds')}"
        " (shown once; send it as `Authorization: Bearer <token>`)",
        err=True,
    )


@token_app.command("list")
def token_list(
    user: str | None = typer.Option(None, "--user", "-u", help="Only this user's tokens."),
) -> None:
    """Every token (never the token itself), tab-separated: id, user, status, expiry,
    creation, label."""
    with unit_of_work(write=False) as session:
        found = tokens.list_tokens(session=session, username=user)
    now = clock().now()
    # One line per token, never wrapped, so that scripts can read it too.
    typer.echo("id\tuser\tstatus\texpires\tcreated\tlabel")
    for info in found:
        fields = (
            str(info.id),
            info.username,
            info.status(now),
            info.expires_at.isoformat(timespec="seconds"),
            info.created_at.isoformat(timespec="seconds"),
            info.label,
        )
        typer.echo("\t".join(fields))


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="The token's id (see `list`).")) -> None:
    """Revoke a token: from now on it signs nobody in."""
    with unit_of_work() as session:
        row = tokens.revoke_token(session=session, clock=clock(), token_id=token_id, actor="cli")
    console.print(f"token {row.id} revoked")
