"""Parsing of payments from other channels (bank direct debit, counter, ATM, kiosk, phone,
third-party platforms): a CSV file or the API's JSON items become plain values; each bad line
or item becomes a Rejection with its reason. Nothing here touches the database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from billing_core.importing import (
    ImportRefused,
    Rejection,
    check_header,
    csv_records,
    decimal_places,
    parse_instant,
    text_field,
)

CENT = Decimal("0.01")
# The money column holds NUMERIC(18, 2): at most 16 digits before the point.
MAX_AMOUNT = Decimal(10) ** 16
# A channel's clock may run a little ahead of ours; further ahead is a wrong date.
MAX_REFERENCE = 128  # payment.provider_reference
MAX_ACCOUNT_NUMBER = 20  # account.number
MAX_PAYER_NOTE = 300


class PaymentChannel(StrEnum):
    """The channels other than pay links (docs/domain.md §4)."""

    bank = "bank"  # bank direct debit (银行划扣) and bank transfers
    counter = "counter"  # a service hall's cashier (营业厅柜台)
    atm = "atm"
    kiosk = "kiosk"  # self-service terminal (自助缴费终端)
    phone = "phone"  # telephone banking / hotline payments
    third_party = "third_party"  # third-party platforms (第三方代收平台)


REQUIRED_CSV_COLUMNS = ("channel", "reference", "account_number", "amount", "paid_at")
OPTIONAL_CSV_COLUMNS = ("currency", "bill_id", "payer_note")
KNOWN_CSV_COLUMNS = (*REQUIRED_CSV_COLUMNS, *OPTIONAL_CSV_COLUMNS)


@dataclass(frozen=True)
class ParsedPayment:
    """A payment as the file gave it, checked for shape but not yet matched to an account."""

    where: str
    position: int
    channel: PaymentChannel
    reference: str
    account_number: str
    amount: Decimal
    currency: str
    paid_at: datetime  # aware, UTC
    bill_id: int | None = None
    payer_note: str | None = None


@dataclass(frozen=True)
class ParsedPayments:
    payments: tuple[ParsedPayment, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    @property
    def received(self) -> int:
        return len(self.payments) + len(self.rejections)


# --- field checks ---------------------------------------------------------------------------


def _amount(raw: str, problems: list[str]) -> Decimal | None:
    """A plain decimal, positive, with at most two places: more places are refused, never
    rounded (money received is what it is)."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        problems.append(f"amount {raw!r} is not a number")
        return None
    if not value.is_finite():
        problems.append(f"amount {raw!r} is not a number")
    elif value <= 0:
        problems.append(f"amount {raw!r} must be more than zero")
    elif value >= MAX_AMOUNT:
        problems.append(f"amount {raw!r} is too large")
    elif decimal_places(value) > 2:
        problems.append(f"amount {raw!r} has more than 2 decimal places")
    else:
        return value.quantize(CENT)
    return None


def _check_row(
    values: Mapping[str, str | None],
    *,
    where: str,
    position: int,
    tz: tzinfo,
    currency: str,
    now: datetime,
) -> ParsedPayment | Rejection:
    """The checks the CSV and the API share, over string fields."""
    problems: list[str] = []

    def raw(name: str) -> str:
        return (values.get(name) or "").strip()

    channel = None
    if raw("channel"):
        try:
            channel = PaymentChannel(raw("channel").lower())
        except ValueError:
            choices = ", ".join(c.value for c in PaymentChannel)
            problems.append(f"channel {raw('channel')!r} is not one of {choices}")
    else:
        problems.append("channel is missing")

    reference = text_field("reference", raw("reference"), MAX_REFERENCE, problems)
    if not reference and not raw("reference"):
        problems.append("reference is missing")
    account_number = text_field(
        "account_number", raw("account_number"), MAX_ACCOUNT_NUMBER, problems
    )
    if not account_number and not raw("account_number"):
        problems.append("account_number is missing")

    amount = _amount(raw("amount"), problems) if raw("amount") else None
    if not raw("amount"):
        problems.append("amount is missing")

    if raw("currency") and raw("currency").upper() != currency:
        problems.append(f"currency {raw('currency')!r} is not {currency}, the utility's currency")

    paid_at = None
    if raw("paid_at"):
        paid_at = parse_instant(raw("paid_at"), field="paid_at", tz=tz, now=now, problems=problems)
    else:
        problems.append("paid_at is missing")

    bill_id = None
    if raw("bill_id"):
        text = raw("bill_id")
        if text.isascii() and text.isdigit() and 0 < int(text) < 2**31:
            bill_id = int(text)
        else:
            problems.append(f"bill_id {text[:40]!r} is not a bill number")

    payer_note = text_field("payer_note", raw("payer_note"), MAX_PAYER_NOTE, problems)

    if (
        problems
        or channel is None
        or reference is None
        or account_number is None
        or amount is None
        or paid_at is None
    ):
        return Rejection(where, "; ".join(problems), position)
    return ParsedPayment(
        where=where,
        position=position,
        channel=channel,
        reference=reference,
        account_number=account_number,
        amount=amount,
        currency=currency,
        paid_at=paid_at,
        bill_id=bill_id,
        payer_note=payer_note,
    )


def _collect(items: Sequence[ParsedPayment | Rejection]) -> ParsedPayments:
    return ParsedPayments(
        tuple(i for i in items if isinstance(i, ParsedPayment)),
        tuple(i for i in items if isinstance(i, Rejection)),
    )


# --- CSV ------------------------------------------------------------------------------------


def parse_csv(text: str, *, tz: tzinfo, currency: str, now: datetime) -> ParsedPayments:
    """Payments from a CSV file with a header row (see docs/payments.md for the columns).

    Raises ImportRefused when the header is missing, repeats or lacks a column, or names an
    unknown one; every bad data line becomes a Rejection("line N", reason). A reference
    repeated in the file is not refused here: the import reports it as already recorded."""
    items: list[ParsedPayment | Rejection] = []
    for record in csv_records(text, _check_header):
        if isinstance(record, Rejection):
            items.append(record)
            continue
        items.append(
            _check_row(
                record.fields,
                where=record.where,
                position=record.position,
                tz=tz,
                currency=currency,
                now=now,
            )
        )
    return _collect(items)


def _check_header(columns: Sequence[str]) -> None:
    check_header(columns, known=KNOWN_CSV_COLUMNS, required=REQUIRED_CSV_COLUMNS)


# --- API JSON -------------------------------------------------------------------------------


class ApiPayment(BaseModel):
    """One payment in `POST /api/v1/payments`: the CSV's columns as fields. The amount is a
    string or an exact JSON number (parsed as Decimal); binary floats are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    channel: str
    reference: str
    account_number: str
    amount: str | int | Decimal
    currency: str | None = None
    paid_at: str
    bill_id: int | str | None = None
    payer_note: str | None = None


def parse_api_json(payload: Any, *, tz: tzinfo, currency: str, now: datetime) -> ParsedPayments:
    """Payments from the API body's `payments` list: one Rejection("payments[i]", reason) per
    item that is not acceptable. Raises ImportRefused when `payload` is not a list."""
    if not isinstance(payload, list):
        raise ImportRefused("payments must be a list of objects")
    items: list[ParsedPayment | Rejection] = []
    for index, item in enumerate(payload):
        where = f"payments[{index}]"
        if not isinstance(item, dict):
            items.append(Rejection(where, "not an object", index))
            continue
        try:
            payment = ApiPayment.model_validate(item)
        except ValidationError as exc:
            items.append(Rejection(where, _pydantic_reasons(exc), index))
            continue
        fields = {
            name: None if value is None else str(value)
            for name, value in payment.model_dump().items()
        }
        items.append(
            _check_row(fields, where=where, position=index, tz=tz, currency=currency, now=now)
        )
    return _collect(items)


def _pydantic_reasons(exc: ValidationError) -> str:
    reasons: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "payment"
        if error["type"] == "missing":
            reasons[name] = f"{name} is missing"
        elif error["type"] == "extra_forbidden":
            reasons[name] = f"unknown field {name!r}"
        elif name == "amount":
            reasons[name] = "amount must be a string or an exact number (not a float)"
        elif name == "bill_id":
            reasons[name] = "bill_id must be a whole number"
        else:
            reasons[name] = f"{name} must be a string"
    return "; ".join(reasons.values())
