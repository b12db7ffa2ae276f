"""`wattdesk readings import FILE`: import a reader's CSV or a Green Button XML file as one
batch and print its report (exit 0 when processed, 2 when the file is refused)."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from api.cli.common import clock, console, fail, settings, unit_of_work
from billing_core.readings.importing import (
    ImportRefused,
    ParsedBatch,
    parse_csv,
    parse_green_button,
)
from billing_core.readings.service import ImportReport, ReportLine, import_readings

app = typer.Typer(help="Meter readings: import files.", no_args_is_help=True)


class ImportFormat(StrEnum):
    csv = "csv"
    green_button = "green-button"


_BY_SUFFIX = {".csv": ImportFormat.csv, ".xml": ImportFormat.green_button}


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., help="A CSV file or a Green Button (ESPI) XML file."),
    file_format: ImportFormat | None = typer.Option(
        None, "--format", help="csv or green-button (default: from the file's extension)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    show: int = typer.Option(20, "--show", min=0, help="Rejected and flagged lines to print."),
) -> None:
    """Import a file of readings as one batch. Importing the same file again changes nothing."""
    chosen = file_format or _BY_SUFFIX.get(file.suffix.lower())
    if chosen is None:
        fail(f"cannot tell the format of {file.name}: pass --format csv or --format green-button")
        return
    try:
        content = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
        return
    config = settings()
    now = clock().now()
    try:
        parsed = _parse(content, chosen, config.tz, now)
    except ImportRefused as exc:
        fail(f"{file.name}: {exc}")
        return
    source = "csv" if chosen is ImportFormat.csv else "green_button"
    with unit_of_work() as session:
        report = import_readings(
            session=session,
            clock=clock(),
            parsed=parsed,
            source=source,
            name=file.name,
            content=content,
            actor="cli",
            tz=config.tz,
        )
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, show)


def _parse(content: bytes, chosen: ImportFormat, tz: tzinfo, now: datetime) -> ParsedBatch:
    if chosen is ImportFormat.green_button:
        return parse_green_button(content, tz=tz, now=now)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(
            f"not UTF-8 text (byte {exc.start}): save the CSV as UTF-8 (Excel: 'CSV UTF-8')"
        ) from None
    return parse_csv(text, tz=tz, now=now)


def _print_report(report: ImportReport, show: int) -> None:
    if report.already_imported:
        console.print(
            f"[yellow]already imported[/] as batch {report.batch_id} on "
            f"{report.imported_at:%Y-%m-%d %H:%M} UTC by {report.actor}: nothing changed. "
            "To retry rejected lines, import a file holding only them."
        )
    console.print(
        f"batch [bold]{report.batch_id}[/] {report.name} ({report.source}): "
        f"{report.received} received, [green]{report.accepted} accepted[/] "
        f"({report.flagged} flagged), [red]{report.rejected} rejected[/], "
        f"{report.duplicates} already stored"
    )
    _print_lines("rejected", report.rejected_lines, report.rejected, show)
    _print_lines("flagged", report.flagged_lines, report.flagged, show)


def _print_lines(title: str, lines: tuple[ReportLine, ...], count: int, show: int) -> None:
    if not lines or not show:
        return
    table = Table(title=title, title_justify="left")
    table.add_column("where", overflow="fold")
    table.add_column("meter")
    table.add_column("reason")
    for line in lines[:show]:
        table.add_row(line.where, line.meter or "", line.reason)
    console.print(table)
    if count > show:
        console.print(f"… and {count - show} more {title} (--json prints the stored report)")
