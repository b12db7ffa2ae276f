"""`wattdesk payments link`: make a pay link for an account (to send by hand, or to try the
pay page); other payment commands join this group."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import clock, console, fail, settings, unit_of_work
from billing_core.payments.importing import ImportRefused, parse_csv
from billing_core.payments.pages import create_pay_link_for_number
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.reconcile import PaymentImportReport, PaymentLine, import_payments

app = typer.Typer(help="Payments: pay links.", no_args_is_help=True)


@app.command("link")
def link(
    account_number: str = typer.Argument(..., help="The account number, e.g. 1000000001."),
    bill_id: int | None = typer.Option(None, "--bill", help="Pay this bill only."),
) -> None:
    """Create a fresh pay link for the account's balance (or one bill) and print its URL.
    An earlier active link for the same purpose stops working. The URL is shown only once:
    only its hash is stored."""
    config = settings()
    context = payment_context(config, load_payments_policy(config.policy_dir))
    with unit_of_work() as session:
        pay_link, url = create_pay_link_for_number(
            session=session, clock=clock(), context=context, account_number=account_number,
            bill_id=bill_id,
        )  # fmt: skip
        expires = pay_link.expires_at.astimezone(config.tz)
    # soft_wrap: the URL is printed whole, on one line, whatever the terminal's width.
    console.print(url, soft_wrap=True, markup=False, highlight=False)
    console.print(f"expires {expires:%Y-%m-%d %H:%M %Z}", style="dim", soft_wrap=True)


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., help="A CSV file of payments (see docs/payments.md)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    show: int = typer.Option(20, "--show", min=0, help="Rejected, ignored and flagged lines."),
) -> None:
    """Record the payments of a bank, counter, ATM, kiosk, phone or platform file. Each
    reference is recorded once per channel: importing the file again changes nothing and
    reports its lines as already recorded."""
    try:
        content = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
        return
    config = settings()
    context = payment_context(config, load_payments_policy(config.policy_dir))
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(
            f"{file.name}: not UTF-8 text (byte {exc.start}): save the CSV as UTF-8 "
            "(Excel: 'CSV UTF-8')"
        )
        return
    try:
        parsed = parse_csv(text, tz=config.tz, currency=config.currency, now=clock().now())
    except ImportRefused as exc:
        fail(f"{file.name}: {exc}")
        return
    with unit_of_work() as session:
        report = import_payments(
            session=session, clock=clock(), context=context, parsed=parsed,
            source=f"file:{file.name}", actor="cli",
        )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, show)


def _print_report(report: PaymentImportReport, show: int) -> None:
    console.print(
        f"{report.source}: {report.received} received, [green]{report.recorded} recorded[/] "
        f"({report.amount_recorded} {report.currency}; {report.flagged} flagged as probable "
        f"duplicates), {report.ignored} already recorded, [red]{report.rejected} rejected[/]"
    )
    _print_lines("rejected", report.rejected_lines, report.rejected, show)
    _print_lines("already recorded", report.ignored_lines, report.ignored, show)
    _print_lines("flagged", report.flagged_lines, report.flagged, show)


def _print_lines(title: str, lines: tuple[PaymentLine, ...], count: int, show: int) -> None:
    if not lines or not show:
        return
    table = Table(title=title, title_justify="left")
    table.add_column("where", overflow="fold")
    table.add_column("reference", overflow="fold")
    table.add_column("reason", overflow="fold")
    for line in lines[:show]:
        table.add_row(line.where, line.reference or "", line.reason)
    console.print(table)
    if count > show:
        console.print(f"… and {count - show} more {title} (--json prints more)")
