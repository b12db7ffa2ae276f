"""What every file import (readings, payments) does the same way: reading a CSV file record
by record, refusing or rejecting with the place and the reason, and reading a date and time
as an aware instant."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import NamedTuple

from billing_core.errors import InvalidInput

FUTURE_TOLERANCE = timedelta(minutes=5)  # device and bank clocks drift a little


def parse_instant(
    raw: str, *, field: str, tz: tzinfo, now: datetime, problems: list[str]
) -> datetime | None:
    """An ISO 8601 date and time, as UTC; without an offset it is local time in `tz`. A
    problem is appended (naming `field`) and None returned when it is not acceptable: not
    ISO 8601, no time of day, a local time a daylight-saving change skipped, out of range,
    or in the future."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(f"{field} {raw!r} is not an ISO 8601 date and time")
        return None
    if "T" not in raw.upper() and " " not in raw.strip():
        problems.append(f"{field} {raw!r} needs a time of day, e.g. {raw}T09:30")
        return None
    if parsed.tzinfo is None:
        local = parsed.replace(tzinfo=tz)
        # A wall-clock time skipped by a daylight-saving change does not exist there.
        try:
            back = local.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        except OverflowError:
            problems.append(f"{field} {raw!r} is out of range")
            return None
        if back != parsed:
            problems.append(f"{field} {raw!r} does not exist in {tz} (clocks went forward)")
            return None
        parsed = local
    try:
        at = parsed.astimezone(UTC)
    except OverflowError:
        problems.append(f"{field} {raw!r} is out of range")
        return None
    if at > now + FUTURE_TOLERANCE:
        problems.append(f"{field} {raw!r} is in the future")
        return None
    return at


class ImportRefused(InvalidInput):
    """The whole file, body or document is refused (no header, unknown columns, hostile
    XML): nothing is read."""


@dataclass(frozen=True)
class Rejection:
    """One line (CSV), item (API) or element (XML) that cannot be imported, and why."""

    where: str  # "line 7", "readings[2]", "IntervalBlock #3 (…/IntervalBlock/3)"
    reason: str
    position: int = 0  # the line number, item index or entry number, to keep the file's order

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


class CsvRecord(NamedTuple):
    where: str  # "line 7", or "lines 7–8" for a record with a quoted line break
    position: int  # its first line
    fields: dict[str, str]  # by lower-cased header name


def csv_records(
    text: str, check_header: Callable[[Sequence[str]], None]
) -> Iterator[CsvRecord | Rejection]:
    """The records of a CSV file with a header row, in order; a record that cannot be read
    (bad quoting, the wrong number of fields) comes as a Rejection and reading goes on. The
    header (names lower-cased) goes to `check_header`, which raises ImportRefused to refuse
    the file."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused("the file is empty: a header row is required") from None
    except csv.Error as exc:
        raise ImportRefused(f"line 1: {exc}") from None
    columns = [name.strip().lower() for name in header]
    check_header(columns)
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # Bad quoting: this record is refused and reading goes on after it.
            hint = " (an unclosed quote?)" if "end of data" in str(exc) else ""
            yield Rejection(_lines(first, reader.line_num), f"{exc}{hint}", first)
            continue
        if not row or all(not cell.strip() for cell in row):
            continue
        where = _lines(first, reader.line_num)
        if len(row) != len(columns):
            yield Rejection(where, f"{len(row)} fields, the header has {len(columns)}", first)
            continue
        yield CsvRecord(where, first, dict(zip(columns, row, strict=True)))


def decimal_places(value: Decimal) -> int:
    """Places after the point that carry a digit ("12.50" has 1)."""
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def text_field(name: str, raw: str, max_length: int, problems: list[str]) -> str | None:
    """A text field, stripped (empty: None); too long or holding control characters, a
    problem is added (naming the field and the start of the value) and None returned."""
    value = raw.strip()
    if len(value) > max_length:
        problems.append(f"{name} {value[:40]!r} is longer than {max_length} characters")
        return None
    if any(not ch.isprintable() for ch in value):
        problems.append(f"{name} {value[:40]!r} holds control characters")
        return None
    return value or None


def check_header(
    columns: Sequence[str],
    *,
    known: Sequence[str],
    required: Sequence[str],
    one_of: tuple[Sequence[str], str] | None = None,
) -> None:
    """Refuse a CSV header (ImportRefused, naming what is wrong) that is not comma-separated,
    names a column not `known` or one twice, or lacks a `required` one (or, with `one_of`
    = (names, how to say them), has none of those names)."""
    if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|")):
        raise ImportRefused("line 1: the header is not comma-separated; separate columns by ','")
    unknown = [name for name in columns if name not in known]
    if unknown:
        raise ImportRefused(
            f"line 1: unknown column(s) {', '.join(repr(n) for n in unknown)}; "
            f"known columns: {', '.join(known)}"
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ImportRefused(f"line 1: column(s) {', '.join(repeated)} appear more than once")
    missing = [name for name in required if name not in columns]
    if one_of is not None and not any(name in columns for name in one_of[0]):
        missing.insert(0, one_of[1])
    if missing:
        raise ImportRefused(f"line 1: the header lacks {', '.join(missing)}")


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first >= last else f"lines {first}–{last}"
