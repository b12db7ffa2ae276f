"""Send windows (docs/domain.md §3): an automated message goes out only inside the recipient's
allowed hours, local time; one due outside them waits for the next opening. A reply to the
customer's own message goes at once. Pure functions over aware datetimes.

Allowed hours are local wall-clock times `[allowed_from, allowed_until)`. A window whose
end is earlier than its start crosses midnight (22:00–06:00); equal times mean "any time".
Daylight saving is handled by wall time: on the night the clocks spring forward over the
opening (02:30 does not exist), the window opens at the first instant the wall clock reads
later than the opening (03:00); when they fall back over it, at its first occurrence.

The utility's default hours are policy (`policies/outbox.yaml`, `billing_core.outbox.policy`):
they apply to a recipient with no contact row and to a contact that keeps the default hours
(`CONTACT_DEFAULT`, the hours every contact starts with); hours a customer chose are theirs
(`effective_window`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

REPLY = "reply"  # the outbox's kinds (billing_core.outbox.service), repeated to stay pure
_DAYS_AHEAD = 4  # a window that never opens in this many days cannot exist (DST eats ≤ 1 day)


@dataclass(frozen=True)
class SendWindow:
    """Allowed hours, local wall-clock `[allowed_from, allowed_until)`."""

    allowed_from: time
    allowed_until: time


# The hours a contact starts with (the `contact` table's column defaults, the HOURS menu's
# "default"): a contact that still has them follows the policy's default window.
CONTACT_DEFAULT = SendWindow(time(8, 0), time(21, 0))


def effective_window(contact: SendWindow | None, *, default: SendWindow) -> SendWindow:
    """The hours a recipient's automated messages may go in: the policy's `default` for a
    recipient with no contact or a contact that keeps the default hours, else the contact's."""
    if contact is None or contact == CONTACT_DEFAULT:
        return default
    return contact


def in_window(local: time, *, allowed_from: time, allowed_until: time) -> bool:
    """Whether a local wall-clock time is inside the allowed hours."""
    local = local.replace(tzinfo=None, fold=0)
    if allowed_from == allowed_until:
        return True
    if allowed_from < allowed_until:
        return allowed_from <= local < allowed_until
    return local >= allowed_from or local < allowed_until


def is_allowed_at(
    instant: datetime, *, allowed_from: time, allowed_until: time, tz: tzinfo
) -> bool:
    """Whether an automated message may go out at this instant."""
    return in_window(
        instant.astimezone(tz).time(), allowed_from=allowed_from, allowed_until=allowed_until
    )


def next_send_time(
    now: datetime, *, kind: str, allowed_from: time, allowed_until: time, tz: tzinfo
) -> datetime:
    """When a message may go out: a reply now; an automated message now if the recipient's
    window is open, else at the window's next opening (in UTC)."""
    if now.tzinfo is None:
        raise ValueError("next_send_time needs an aware datetime")
    if kind == REPLY or is_allowed_at(
        now, allowed_from=allowed_from, allowed_until=allowed_until, tz=tz
    ):
        return now
    today = now.astimezone(tz).date()
    for offset in range(-1, _DAYS_AHEAD):
        opening = _opening(today + timedelta(days=offset), allowed_from, tz)
        # On the day the clocks skip a short window entirely, its "opening" lands past it.
        if opening > now and is_allowed_at(
            opening, allowed_from=allowed_from, allowed_until=allowed_until, tz=tz
        ):
            return opening
    raise AssertionError(f"no send window opens within {_DAYS_AHEAD} days")  # pragma: no cover


def _opening(day: date, at: time, tz: tzinfo) -> datetime:
    """The first instant (UTC) of `day` at which the local wall clock reads `at` or later."""
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = wall.replace(tzinfo=tz).astimezone(UTC)  # fold=0: the earlier of two, if repeated
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # `at` does not exist that day (the clocks sprang forward over it). fold=1 reads it with
    # the offset after the jump, which lands before the gap; the jump itself is the opening.
    low = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = first
    if low > high:  # pragma: no cover - zoneinfo always puts fold=1 before fold=0 in a gap
        low, high = high, low
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high
