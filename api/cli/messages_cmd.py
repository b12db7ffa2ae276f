"""`wattdesk messages check`: the message catalogues are complete in every language, with the
same placeholders, and every SMS (and every canned reply agents insert) fits in two segments
for the longest realistic values (docs/messages.md)."""

from __future__ import annotations

import typer

from api.cli.common import console, err_console, settings
from billing_core.conversations.policy import load_conversations_policy
from billing_core.messages.check import check, fixed_too_long
from billing_core.messages.templates import TEMPLATES

app = typer.Typer(help="Customer messages: check the catalogues.", no_args_is_help=True)


@app.command("check")
def check_command(
    base_url: str = typer.Option(
        "", "--base-url", help="The pay links' address (default: WATTDESK_PUBLIC_BASE_URL)."
    ),
) -> None:
    """Every message in every language, with the same placeholders, and every SMS within two
    segments; exit 1, listing each problem, when one is not."""
    config = settings()
    policy = load_conversations_policy(config.policy_dir)
    canned = {
        reply.code: {str(k): v for k, v in reply.text.items()} for reply in policy.canned_replies
    }
    problems = check(base_url or config.public_base_url) + fixed_too_long(canned, "canned")
    for problem in problems:
        err_console.print(f"[bold red]problem[/]: {problem}")
    if problems:
        raise typer.Exit(code=1)
    console.print(
        f"{len(TEMPLATES)} messages in every language; every SMS and {len(canned)} canned "
        "replies within two segments."
    )
