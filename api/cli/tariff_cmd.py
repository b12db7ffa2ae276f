"""`wattdesk tariff`: check a tariff file, price a billing period with it, import a URDB rate."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.common import console, err_console, fail
from billing_core.customers.model import CustomerKind
from billing_core.tariffs import (
    AccountAttributes,
    Consumption,
    Interval,
    Tariff,
    TariffError,
    load_tariff,
    parse_tariff,
    price_period,
)
from billing_core.tariffs.schema import dump_tariff_yaml
from billing_core.tariffs.urdb import read_urdb_json, urdb_to_tariff

app = typer.Typer(
    help="Tariffs: check a file, price a billing period, import a URDB rate.",
    no_args_is_help=True,
)


def _stop(message: str) -> NoReturn:
    fail(message)
    raise typer.Exit(code=2)  # not reached: fail() exits; this tells the type checker


def _refuse(exc: TariffError) -> NoReturn:
    _stop(escape(str(exc)))


def _load(file: Path) -> Tariff:
    try:
        return load_tariff(file)
    except TariffError as exc:
        _refuse(exc)


def _decimal(value: str, option: str) -> Decimal:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        _stop(f"{option}: not a number: {escape(value)!r}")
    if not number.is_finite():
        _stop(f"{option}: not a number: {escape(value)!r}")
    return number


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _stop(f"{option}: give a date as YYYY-MM-DD, not {escape(value)!r}")


def _read_intervals(path: Path) -> list[Interval]:
    """`timestamp,kwh` rows (a header row is allowed); timestamps must carry a UTC offset."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        _stop(f"--interval-csv: cannot read {path}: {exc.strerror}")
    intervals = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if number == 1 and row[0].strip().lower() == "timestamp":
            continue
        if len(row) != 2:
            _stop(f"{path}:{number}: expected timestamp,kwh")
        try:
            start = datetime.fromisoformat(row[0].strip())
        except ValueError:
            _stop(f"{path}:{number}: not an ISO 8601 timestamp: {escape(row[0])!r}")
        if start.tzinfo is None:
            _stop(f"{path}:{number}: timestamp {row[0]} has no UTC offset")
        intervals.append(Interval(start=start, kwh=_decimal(row[1], f"{path}:{number}")))
    return intervals


@app.command()
def check(file: Annotated[Path, typer.Argument(help="A tariff YAML file.")]) -> None:
    """Validate a tariff file; problems are listed as `path.to.field: reason`."""
    tariff = _load(file)
    first = tariff.versions[0].effective_from.isoformat()
    console.print(
        f"ok: {escape(str(file))}: {escape(tariff.name)} ({tariff.currency},"
        f" {len(tariff.versions)} version(s) from {first})"
    )


@app.command()
def price(
    file: Annotated[Path, typer.Argument(help="A tariff YAML file.")],
    start: Annotated[str, typer.Option(help="First day of the period, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last day of the period (included), YYYY-MM-DD.")],
    kwh: Annotated[str | None, typer.Option(help="Total kWh of the period.")] = None,
    peak: Annotated[str | None, typer.Option(help="Peak register kWh.")] = None,
    flat: Annotated[str | None, typer.Option(help="Flat (shoulder) register kWh.")] = None,
    valley: Annotated[str | None, typer.Option(help="Valley (off-peak) register kWh.")] = None,
    register: Annotated[
        list[str] | None, typer.Option(help="Any TOU register as NAME=KWH (repeatable).")
    ] = None,
    ytd_kwh: Annotated[
        str, typer.Option(help="kWh used earlier in the tariff year (annual blocks).")
    ] = "0",
    household_size: Annotated[int | None, typer.Option(min=1)] = None,
    customer_kind: Annotated[
        CustomerKind | None, typer.Option(help="Default: the tariff's first customer kind.")
    ] = None,
    power_factor: Annotated[
        str | None, typer.Option(help="Measured power factor (non-residential accounts).")
    ] = None,
    interval_csv: Annotated[
        Path | None, typer.Option(help="CSV of timestamp,kwh rows (interval start times).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Price one billing period and print the bill lines and the total."""
    tariff = _load(file)
    period_start = _date(start, "--start")
    period_end = _date(end, "--end")
    pf = _decimal(power_factor, "--power-factor") if power_factor is not None else None

    registers: dict[str, Decimal] = {}
    for name, value in (("peak", peak), ("flat", flat), ("valley", valley)):
        if value is not None:
            registers[name] = _decimal(value, f"--{name}")
    for item in register or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _stop(f"--register: give NAME=KWH, not {escape(item)!r}")
        registers[name.strip()] = _decimal(value, f"--register {name.strip()}")

    try:
        if interval_csv is not None:
            if registers:
                _stop("give --interval-csv or register kWh, not both")
            consumption = Consumption.of_intervals(_read_intervals(interval_csv), power_factor=pf)
            if kwh is not None and _decimal(kwh, "--kwh") != consumption.kwh:
                _stop(f"--kwh {kwh} differs from the intervals' total {consumption.kwh}")
        elif registers:
            consumption = Consumption.of_registers(registers, power_factor=pf)
            if kwh is not None and _decimal(kwh, "--kwh") != consumption.kwh:
                _stop(
                    f"--kwh {kwh} differs from the sum of the registers {consumption.kwh};"
                    " omit --kwh or correct the registers"
                )
        elif kwh is not None:
            consumption = Consumption.total(_decimal(kwh, "--kwh"), power_factor=pf)
        else:
            _stop("give --kwh, register kWh (--peak/--flat/--valley/--register), or --interval-csv")
        account = AccountAttributes(
            customer_kind=customer_kind or tariff.customer_kinds[0],
            household_size=household_size,
            ytd_kwh=_decimal(ytd_kwh, "--ytd-kwh"),
        )
        bill = price_period(
            tariff, start=period_start, end=period_end, consumption=consumption, account=account
        )
    except TariffError as exc:
        _refuse(exc)

    if as_json:
        typer.echo(json.dumps(bill.as_json(), ensure_ascii=False))
        return
    table = Table(title=f"{escape(tariff.name)}, {period_start} to {period_end}")
    table.add_column("Component")
    table.add_column("Quantity", justify="right")
    table.add_column("Unit price", justify="right")
    table.add_column(f"Amount ({bill.currency})", justify="right")
    for line in bill.lines:
        table.add_row(
            escape(line.component), str(line.quantity), str(line.unit_price), str(line.amount)
        )
    table.add_section()
    table.add_row("Total", "", "", str(bill.total))
    console.print(table)


@app.command("import-urdb")
def import_urdb(
    rate_json: Annotated[Path, typer.Argument(help="A URDB rate item (or API answer) as JSON.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The tariff YAML to write.")],
    timezone: Annotated[
        str, typer.Option(help="IANA time zone whose wall clock the TOU schedule follows.")
    ] = "UTC",
    period_names: Annotated[
        str | None,
        typer.Option(help="Names for the rate's periods in order, e.g. valley,flat,peak."),
    ] = None,
) -> None:
    """Convert a URDB rate into a tariff file; what it cannot represent is named."""
    names = [name.strip() for name in period_names.split(",")] if period_names else None
    try:
        item = read_urdb_json(rate_json)
        data, unsupported = urdb_to_tariff(item, timezone=timezone, period_names=names)
        tariff = parse_tariff(data, code=output.stem, source=str(rate_json))
    except TariffError as exc:
        _refuse(exc)
    header = [
        f"{tariff.name}",
        f"Imported from {rate_json.name} (OpenEI Utility Rate Database format)",
        "by `wattdesk tariff import-urdb`.",
    ]
    if item.get("source"):
        header.append(f"URDB source: {item['source']}")
    header.append("Example: check against the current official tariff.")
    if unsupported:
        header.append("Not imported (the tariff format cannot represent these):")
        header.extend(f"  - {feature}" for feature in unsupported)
    text = "".join(f"# {line}\n" for line in header) + dump_tariff_yaml(data)
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {escape(str(output))}")
    for feature in unsupported:
        err_console.print(f"[yellow]not imported[/]: {escape(feature)}")
