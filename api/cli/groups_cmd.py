"""`wattdesk groups notice CODE`: a group customer's consolidated bill notice, on or off, and
the customer who gets it (docs/messages.md)."""

from __future__ import annotations

import typer

from api.cli.common import clock, console, unit_of_work
from billing_core.notices.groups import notice_state, set_group_notice

app = typer.Typer(help="Group customers (集团客户).", no_args_is_help=True)


@app.command("notice")
def notice(
    code: str = typer.Argument(..., help="The group's code."),
    consolidated: bool | None = typer.Option(
        None, "--consolidated/--per-account", help="One notice for all accounts, or one each."
    ),
    contact: int | None = typer.Option(
        None, "--contact", help="The id of the customer who gets the group's notice."
    ),
    no_contact: bool = typer.Option(False, "--no-contact", help="Clear the contact."),
) -> None:
    """Set the group's notice: consolidated or per account, and its contact customer. A
    consolidated group without a contact is notified per account."""
    with unit_of_work() as session:
        group = set_group_notice(
            session=session, clock=clock(), group_code=code, actor="cli",
            consolidated=consolidated, contact_customer_id=contact, clear_contact=no_contact,
        )  # fmt: skip
        console.print(f"group {group.code}: {notice_state(group)}")
