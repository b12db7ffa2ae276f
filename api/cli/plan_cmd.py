"""`wattdesk plan rolling | missed`: the month's rolling reading plan (滚动抄表) over working days,
and the due accounts whose meters were not read (listed, never estimated)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import typer
from rich.table import Table

from api.cli.common import clock, console, fail, settings, unit_of_work
from billing_core.calendar import WorkingCalendar
from billing_core.readings.plans_service import (
    DEFAULT_READING_WINDOW_DAYS,
    MissedAccount,
    RollingPlan,
    due_account_count,
    missed_readings,
    rolling_plan,
)

app = typer.Typer(help="Reading plans: rolling reading and missed readings.", no_args_is_help=True)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH = re.compile(r"\d{4}-\d{2}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@app.command("rolling")
def rolling(
    month: str = typer.Option(..., "--month", help="The month to plan, YYYY-MM."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Spread the reading books over the month's working days, evenly by account load."""
    first = _parse_month(month)
    with unit_of_work(write=False) as session:
        calendar = WorkingCalendar.for_country(settings().holiday_country, [first.year])
        plan = rolling_plan(session=session, month=first, calendar=calendar)
    warnings = [
        f"the holidays package has no make-up working days (调休) for {year}: the arrangement "
        "may not be published yet; upgrade the package when it is"
        for year in calendar.years_without_makeup_days()
    ]
    if as_json:
        typer.echo(json.dumps(_plan_json(plan, calendar, warnings), ensure_ascii=False, indent=2))
        return
    _print_plan(plan, warnings)


@app.command("missed")
def missed(
    on: str | None = typer.Option(
        None, "--date", help="The reading day, YYYY-MM-DD (default: today, local time)."
    ),
    window: int = typer.Option(
        DEFAULT_READING_WINDOW_DAYS,
        "--window",
        min=0,
        help="A reading up to this many days before the date counts.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the accounts due on a date whose meters have no reading: never estimated."""
    tz = settings().tz
    day = _parse_day(on) if on else clock().now().astimezone(tz).date()
    with unit_of_work(write=False) as session:
        rows = missed_readings(session=session, on=day, tz=tz, grace_days=window)
        due = due_account_count(session=session, on=day)
    accounts = len({row.account_number for row in rows})
    since = day - timedelta(days=window)
    if as_json:
        payload = {
            "date": day.isoformat(),
            "window_from": since.isoformat(),
            "due_accounts": due,
            "missed_accounts": accounts,
            "missed": [_missed_json(row) for row in rows],
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    if rows:
        table = Table(title=f"Missed readings due {day}")
        for header in ("Book", "Account", "Meter", "Last actual reading"):
            table.add_column(header)
        for row in rows:
            book = f"{row.book_code} {row.book_name}" if row.book_code else "(no book)"
            table.add_row(
                book,
                row.account_number,
                row.meter_serial or "(no meter)",
                str(row.last_read_on) if row.last_read_on else "never",
            )
        console.print(table)
        console.print(
            f"{accounts} of {due} due accounts ({len(rows)} meters) have no reading from "
            f"{since} to {day}: listed as missed, not estimated.",
            soft_wrap=True,
        )
    else:
        console.print(
            f"0 of {due} due accounts missed: every meter was read from {since} to {day}.",
            soft_wrap=True,
        )


def _parse_month(text: str) -> date:
    parsed = _date_or_none(_MONTH, text, "-01")
    if parsed is None:
        fail(f"--month must be a month as YYYY-MM (e.g. 2026-03), not {text!r}")
    assert parsed is not None  # fail() raised typer.Exit
    return parsed


def _parse_day(text: str) -> date:
    parsed = _date_or_none(_DAY, text)
    if parsed is None:
        fail(f"--date must be a date as YYYY-MM-DD (e.g. 2026-03-05), not {text!r}")
    assert parsed is not None  # fail() raised typer.Exit
    return parsed


def _date_or_none(shape: re.Pattern[str], text: str, suffix: str = "") -> date | None:
    # The shape is checked first: date.fromisoformat alone also takes 20260305 and 2026-W10.
    if not shape.fullmatch(text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip() + suffix)
    except ValueError:
        return None


def _print_plan(plan: RollingPlan, warnings: list[str]) -> None:
    label = plan.month.strftime("%Y-%m")
    for warning in warnings:
        console.print(f"[yellow]note[/]: {warning}", soft_wrap=True)
    if plan.accounts_without_book:
        console.print(
            f"[yellow]note[/]: {plan.accounts_without_book} active accounts are in no reading "
            "book and are not in this plan",
            soft_wrap=True,
        )
    if plan.load.books == 0:
        console.print(f"No reading books: nothing to plan for {label}.", soft_wrap=True)
        return
    table = Table(title=f"Rolling reading plan {label}")
    table.add_column("Working day")
    table.add_column("Books")
    table.add_column("Accounts", justify="right")
    for day, books in plan.days.items():
        codes = ", ".join(book.code for book in books) or "—"
        accounts = sum(book.accounts for book in books)
        table.add_row(f"{day} {WEEKDAYS[day.weekday()]}", codes, f"{accounts:,}")
    console.print(table)
    load = plan.load
    console.print(
        f"Load a day: min {load.min_load:,}, max {load.max_load:,}, mean {load.mean_load:,.1f}; "
        f"spread {load.spread:,} (largest book {load.largest_book:,}); "
        f"imbalance {load.imbalance:.1%}",
        soft_wrap=True,
    )
    console.print(
        f"Spread {load.books} books ({load.total:,} accounts) over {load.days} working days "
        f"of {label}: {load.min_load:,}–{load.max_load:,} accounts a day.",
        soft_wrap=True,
    )


def _plan_json(plan: RollingPlan, calendar: WorkingCalendar, warnings: list[str]) -> Any:
    return {
        "month": plan.month.strftime("%Y-%m"),
        "country": calendar.country,
        "days": [
            {
                "date": day.isoformat(),
                "accounts": sum(book.accounts for book in books),
                "books": [asdict(book) for book in books],
            }
            for day, books in plan.days.items()
        ],
        "load": asdict(plan.load),
        "accounts_without_book": plan.accounts_without_book,
        "warnings": warnings,
    }


def _missed_json(row: MissedAccount) -> dict[str, Any]:
    values = asdict(row)
    values["due_on"] = row.due_on.isoformat()
    values["last_read_on"] = row.last_read_on.isoformat() if row.last_read_on else None
    return values
