"""Plain values for customers and contacts."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from enum import StrEnum

import phonenumbers

from billing_core.errors import Conflict, InvalidInput


class CustomerKind(StrEnum):
    residential = "residential"
    non_residential = "non_residential"


class Language(StrEnum):
    zh_cn = "zh-CN"
    en = "en"


class SensitivityKind(StrEnum):
    """Customers never put forward for disconnection automatically (docs/domain.md §5)."""

    medical_equipment = "medical_equipment"
    elderly_alone = "elderly_alone"
    hardship = "hardship"
    infant = "infant"  # an infant in the household


class AccountStatus(StrEnum):
    active = "active"
    disconnected = "disconnected"
    closed = "closed"


class Channel(StrEnum):
    sms = "sms"
    telegram = "telegram"
    email = "email"


# --- master data rules (pure): what staff may store, each refusal naming its field ----------

MAX_READING_DAY = 28  # a bill run selects accounts by day; 29-31 do not come every month


class FieldError(InvalidInput):
    """A value staff entered is not acceptable: `field` names it, the message says why."""

    def __init__(self, field: str, why: str) -> None:
        self.field = field
        super().__init__(f"{field}: {why}")


class FieldConflict(Conflict):
    """A value conflicts with what is stored (a duplicate, an overlap): `field` names it."""

    def __init__(self, field: str, why: str) -> None:
        self.field = field
        super().__init__(f"{field}: {why}")


def check_text(field: str, value: str, *, max_length: int, required: bool = True) -> str:
    """`value` stripped; refused when empty (if required) or longer than `max_length`."""
    text = value.strip()
    if any(unicodedata.category(c) == "Cc" for c in text):  # a NUL, a line feed, an escape
        raise FieldError(field, "must not contain control characters")
    if required and not text:
        raise FieldError(field, "must not be empty")
    if len(text) > max_length:
        raise FieldError(field, f"at most {max_length} characters")
    return text


def check_choice(field: str, value: str, choices: Iterable[str]) -> str:
    allowed = [str(choice) for choice in choices]
    if value not in allowed:
        raise FieldError(field, f"{value!r} is not one of: {', '.join(allowed)}")
    return value


def check_range(field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise FieldError(field, f"must be from {low} to {high}, not {value}")
    return value


def check_account_number(number: str) -> str:
    """An account number: 1 to 20 ASCII digits (what the bills, pay links and SMS quote)."""
    if not (number.isascii() and number.isdigit() and 1 <= len(number) <= 20):
        raise FieldError("number", "1 to 20 digits")
    return number


def contact_address(channel: str, address: str, *, region: str) -> str:
    """The address as stored for its channel: a phone in E.164 (read in `region` when it has
    no country code), a Telegram user id as its digits, an e-mail address lower-cased."""
    check_choice("channel", channel, (c.value for c in Channel))
    raw = check_text("address", address, max_length=128)
    if channel == Channel.sms:
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            raise FieldError("address", f"{raw!r} is not a valid phone number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if channel == Channel.telegram:
        if not (raw.isascii() and raw.isdigit() and raw[0] != "0" and len(raw) <= 20):
            raise FieldError("address", "a Telegram user id is a positive number")
        return raw
    local, at, domain = raw.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in raw):
        raise FieldError("address", f"{raw!r} is not an e-mail address")
    return raw.lower()


def closing_day(latest_from: date | None, new_from: date) -> date | None:
    """A tariff assignment from `new_from` after one from `latest_from`: the last day of the
    latest (the day before the new one starts), or None when there is none. History is
    kept, never rewritten: a new assignment starts after the latest one's start."""
    if latest_from is None:
        return None
    if new_from <= latest_from:
        raise FieldConflict(
            "effective_from",
            f"must be after {latest_from.isoformat()}, the start of the latest assignment "
            "(assignments are never rewritten: add one from a later day)",
        )
    return new_from - timedelta(days=1)
