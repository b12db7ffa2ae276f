"""What every file import (readings, payments) checks the same way: a date and time given in
a file, read as an aware instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

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
