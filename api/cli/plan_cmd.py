"""`wattdesk plan rolling | missed`: the month's rolling reading plan (滚动抄表) over working days,
and the due accounts whose meters were not read (listed, never estimated).

`wattdesk plan propose | approve | reject | apply | show`: applying a rolling plan to the
accounts' reading days (docs/readings.md): proposed by one staff user, approved by another
(a reviewer or an admin: four eyes, named with `--as`), the customers told through the outbox
on approval, the days changed on or after the effective date (at least 2 months ahead)."""

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
from billing_core.notices.reading_days import approve_and_notify
from billing_core.readings.plans import PlanStatus
from billing_core.readings.plans_changes import (
    apply_plan,
    get_plan,
    list_plans,
    plan_changes,
    plan_for_month,
    plan_json,
    propose_plan,
    review_plan,
)
from billing_core.readings.plans_policy import load_reading_plan_policy
from billing_core.readings.plans_service import (
    DEFAULT_READING_WINDOW_DAYS,
    MissedAccount,
    RollingPlan,
    due_account_count,
    missed_readings,
    rolling_plan,
)
from billing_core.readings.tables import ReadingPlan
from billing_core.staff.service import find_staff
from billing_core.staff.tables import StaffUser

app = typer.Typer(
    help="Reading plans: rolling reading, missed readings, applying a plan to reading days.",
    no_args_is_help=True,
)

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


AS_HELP = "The staff user doing this (four eyes: the approver is not the proposer)."


@app.command("propose")
def propose(
    month: str = typer.Option(..., "--month", help="The first month read on the new days."),
    effective: str | None = typer.Option(
        None, "--effective", help="YYYY-MM-DD (default: the month's first day)."
    ),
    user: str = typer.Option(..., "--as", help=AS_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Propose the month's rolling plan as reading-day changes (a reviewer approves it)."""
    plan = _propose(_parse_month(month), effective, user)
    _show(plan, as_json)


@app.command("approve")
def approve(
    plan_id: int = typer.Argument(..., help="The plan's id."),
    user: str = typer.Option(..., "--as", help=AS_HELP),
    note: str = typer.Option("", "--note"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Approve a proposed plan and put a notice to each customer affected in the outbox."""
    with unit_of_work() as session:
        plan = approve_and_notify(
            session=session, clock=clock(), plan_id=plan_id, reviewer=_staff(session, user),
            note=note,
        )  # fmt: skip
        _show(plan, as_json)


@app.command("reject")
def reject(
    plan_id: int = typer.Argument(..., help="The plan's id."),
    user: str = typer.Option(..., "--as", help=AS_HELP),
    note: str = typer.Option(..., "--note", help="Why it is rejected."),
) -> None:
    """Reject a proposed plan: nothing changes and no customer is told."""
    with unit_of_work() as session:
        plan = review_plan(
            session=session, clock=clock(), plan_id=plan_id, reviewer=_staff(session, user),
            approve=False, note=note,
        )  # fmt: skip
        _show(plan, False)


@app.command("apply")
def apply(
    month: str = typer.Option(..., "--month", help="The first month read on the new days."),
    effective: str | None = typer.Option(
        None, "--effective", help="For a new proposal: YYYY-MM-DD (default: the month's 1st)."
    ),
    user: str = typer.Option("cli", "--as", help=AS_HELP + " Needed to propose."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Take the month's plan one step: propose it when it has none, apply it when it is
    approved and its effective date has come; otherwise show where it stands. Approval is
    another staff user's `wattdesk plan approve ID --as REVIEWER`. Run it again: idempotent."""
    first = _parse_month(month)
    tz = settings().tz
    today = clock().now().astimezone(tz).date()
    with unit_of_work(write=False) as session:
        plan = plan_for_month(session=session, month=first)
    if plan is None:
        plan = _propose(first, effective, user)
    elif plan.status == PlanStatus.approved and today >= plan.effective_on:
        with unit_of_work() as session:
            assert plan.id is not None
            plan = apply_plan(
                session=session, clock=clock(), plan_id=plan.id, today=today, actor=user
            )
    _show(plan, as_json)
    if as_json:
        return
    if plan.status == PlanStatus.proposed:
        console.print(
            f"Waiting for approval: wattdesk plan approve {plan.id} --as REVIEWER (not "
            f"{plan.proposed_by}); the customers are told then.",
            soft_wrap=True,
        )
    elif plan.status == PlanStatus.approved:
        console.print(
            f"Approved; applies on or after {plan.effective_on}: run this again then.",
            soft_wrap=True,
        )


@app.command("show")
def show(
    plan_id: int | None = typer.Argument(None, help="A plan's id (default: the latest plans)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    changes: int = typer.Option(10, "--changes", min=0, help="Account changes to list."),
) -> None:
    """A reading plan: its status, the load a day before and after, its changes."""
    with unit_of_work(write=False) as session:
        if plan_id is None:
            plans = list_plans(session=session)
            if as_json:
                typer.echo(json.dumps([plan_json(p) for p in plans], ensure_ascii=False))
                return
            for plan in plans:
                console.print(
                    f"#{plan.id} {plan.month:%Y-%m} {plan.status}: {plan.accounts:,} accounts "
                    f"from {plan.effective_on}",
                    soft_wrap=True,
                )
            if not plans:
                console.print("No reading plans yet: wattdesk plan propose --month YYYY-MM.")
            return
        plan = get_plan(session=session, plan_id=plan_id)
        _show(plan, as_json)
        if as_json:
            return
        for change in plan_changes(session=session, plan_id=plan_id, limit=changes):
            console.print(
                f"  account {change.account_id}: day {change.old_day} → {change.new_day}, "
                f"last old reading {change.last_old_reading_on}, first new "
                f"{change.first_new_reading_on} "
                f"({(change.first_new_reading_on - change.last_old_reading_on).days} days)",
                soft_wrap=True,
            )


def _propose(first: date, effective: str | None, user: str) -> ReadingPlan:
    config = settings()
    policy = load_reading_plan_policy(config.policy_dir)
    today = clock().now().astimezone(config.tz).date()
    with unit_of_work() as session:
        calendar = WorkingCalendar.for_country(config.holiday_country, [first.year])
        return propose_plan(
            session=session, clock=clock(), calendar=calendar, policy=policy, month=first,
            proposer=_staff(session, user), today=today,
            effective_on=_parse_day(effective, "--effective") if effective else None,
        )  # fmt: skip


def _staff(session: Any, username: str) -> StaffUser:
    user = find_staff(session, username)
    if user is None or not user.active:
        fail(f"--as: no active staff user {username!r}")
    assert user is not None
    return user


def _show(plan: ReadingPlan, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(plan_json(plan), ensure_ascii=False, indent=2))
        return
    console.print(
        f"Reading plan #{plan.id} for {plan.month:%Y-%m}: {plan.status}; {plan.accounts:,} "
        f"accounts change day from {plan.effective_on} (proposed by {plan.proposed_by}"
        + (f", reviewed by {plan.reviewed_by}" if plan.reviewed_by else "")
        + (f"; {plan.notices:,} notices" if plan.notices else "")
        + ")",
        soft_wrap=True,
    )
    for label in ("before", "after"):
        load = plan.detail.get(label)
        if load:
            console.print(
                f"  {label}: {load['days']} days, {load['min_load']:,}–{load['max_load']:,} "
                f"accounts a day (mean {load['mean_load']:,.1f}), imbalance "
                f"{load['imbalance']:.1%} (tolerance {plan.tolerance:.0%})",
                soft_wrap=True,
            )


def _parse_month(text: str) -> date:
    parsed = _date_or_none(_MONTH, text, "-01")
    if parsed is None:
        fail(f"--month must be a month as YYYY-MM (e.g. 2026-03), not {text!r}")
    assert parsed is not None  # fail() raised typer.Exit
    return parsed


def _parse_day(text: str, option: str = "--date") -> date:
    parsed = _date_or_none(_DAY, text)
    if parsed is None:
        fail(f"{option} must be a date as YYYY-MM-DD (e.g. 2026-03-05), not {text!r}")
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
