"""Parsing payments from other channels: the CSV's header, each bad line with its reason and
number, exact amounts, local times, and the API's JSON items — no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.payments.importing import (
    ImportRefused,
    ParsedPayments,
    PaymentChannel,
    parse_api_json,
    parse_csv,
)

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
HEADER = "channel,reference,account_number,amount,currency,paid_at,bill_id,payer_note\n"


def csv_of(*lines: str, header: str = HEADER) -> ParsedPayments:
    return parse_csv(header + "".join(line + "\n" for line in lines), tz=TZ, currency="CNY",
                     now=NOW)  # fmt: skip


def reasons(parsed: ParsedPayments) -> dict[str, str]:
    return {r.where: r.reason for r in parsed.rejections}


def test_a_good_line_becomes_a_payment_with_local_time_in_utc() -> None:
    parsed = csv_of("bank,B-001,9000000001,120.50,CNY,2026-11-20T09:30,17,张三 代缴")
    assert parsed.rejections == ()
    (payment,) = parsed.payments
    assert payment.channel is PaymentChannel.bank
    assert (payment.reference, payment.account_number) == ("B-001", "9000000001")
    assert payment.amount == Decimal("120.50") and payment.currency == "CNY"
    assert payment.paid_at == datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
    assert (payment.bill_id, payment.payer_note) == (17, "张三 代缴")
    assert (payment.where, payment.position) == ("line 2", 2)


def test_optional_columns_may_be_left_out_and_an_offset_is_kept() -> None:
    parsed = csv_of(
        "ATM,ref 9,9000000002,80,2026-11-20T09:30:00+00:00",
        header="channel,reference,account_number,amount,paid_at\n",
    )
    (payment,) = parsed.payments
    assert payment.channel is PaymentChannel.atm  # channel names are case-insensitive
    assert payment.amount == Decimal("80.00") and payment.currency == "CNY"
    assert payment.paid_at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert payment.bill_id is None and payment.payer_note is None


def test_each_bad_line_is_rejected_with_its_number_and_every_reason() -> None:
    parsed = csv_of(
        "bank,B-1,9000000001,10.00,CNY,2026-11-20T09:30,,",  # line 2: good
        "cheque,B-2,9000000001,10.00,,2026-11-20T09:30,,",  # 3: unknown channel
        "bank,,9000000001,10.00,,2026-11-20T09:30,,",  # 4: no reference
        "bank,B-4,,10.00,,2026-11-20T09:30,,",  # 5: no account
        "bank,B-5,9000000001,10.001,,2026-11-20T09:30,,",  # 6: three places
        "bank,B-6,9000000001,-5,,2026-11-20T09:30,,",  # 7: negative
        "bank,B-7,9000000001,0,,2026-11-20T09:30,,",  # 8: zero
        "bank,B-8,9000000001,ten,,2026-11-20T09:30,,",  # 9: not a number
        "bank,B-9,9000000001,NaN,,2026-11-20T09:30,,",  # 10: not a number either
        "bank,B-10,9000000001,10,USD,2026-11-20T09:30,,",  # 11: foreign currency
        "bank,B-11,9000000001,10,,2026-11-20,,",  # 12: no time of day
        "bank,B-12,9000000001,10,,20/11/2026 09:30,,",  # 13: not ISO 8601
        "bank,B-13,9000000001,10,,2026-11-27T09:30,,",  # 14: tomorrow
        "bank,B-14,9000000001,10,,2026-11-20T09:30,abc,",  # 15: bill id
        "bank,B-15,9000000001,10,,2026-11-20T09:30,-3,",  # 16: bill id
        "bank,B-16,9000000001,10,CNY,2026-11-20T09:30",  # 17: too few fields
        "kiosk,,,,,,,",  # 18: everything missing at once
        f"bank,{'R' * 129},9000000001,10,,2026-11-20T09:30,,",  # 19: reference too long
        "bank,B-19,9000000001,1e30,,2026-11-20T09:30,,",  # 20: too large
    )
    assert [p.reference for p in parsed.payments] == ["B-1"]
    got = reasons(parsed)
    assert list(got) == [f"line {n}" for n in range(3, 21)]
    assert "channel 'cheque' is not one of bank, counter, atm" in got["line 3"]
    assert got["line 4"] == "reference is missing"
    assert got["line 5"] == "account_number is missing"
    assert got["line 6"] == "amount '10.001' has more than 2 decimal places"
    assert got["line 7"] == "amount '-5' must be more than zero"
    assert got["line 8"] == "amount '0' must be more than zero"
    assert got["line 9"] == "amount 'ten' is not a number"
    assert got["line 10"] == "amount 'NaN' is not a number"
    assert got["line 11"] == "currency 'USD' is not CNY, the utility's currency"
    assert "needs a time of day" in got["line 12"]
    assert "is not an ISO 8601 date and time" in got["line 13"]
    assert "is in the future" in got["line 14"]
    assert got["line 15"] == "bill_id 'abc' is not a bill number"
    assert got["line 16"] == "bill_id '-3' is not a bill number"
    assert got["line 17"] == "6 fields, the header has 8"
    assert got["line 18"] == (
        "reference is missing; account_number is missing; amount is missing; paid_at is missing"
    )
    assert "longer than 128 characters" in got["line 19"]
    assert got["line 20"] == "amount '1e30' is too large"
    assert parsed.received == 19


def test_trailing_zeros_and_a_lower_case_currency_are_fine() -> None:
    (payment,) = csv_of("counter,C-1,9000000001,12.300,cny,2026-11-20 09:30,,").payments
    assert payment.amount == Decimal("12.30")


def test_a_blank_line_is_skipped_and_a_bad_quote_is_one_rejection() -> None:
    parsed = csv_of(
        "bank,B-1,9000000001,10,,2026-11-20T09:30,,",
        ",,,,,,,",
        "",
        'bank,"B-2,9000000001,10,,2026-11-20T09:30,,',
    )
    assert [p.reference for p in parsed.payments] == ["B-1"]
    (rejection,) = parsed.rejections
    assert rejection.where.startswith("line 5") and "unclosed quote" in rejection.reason


def test_a_repeated_reference_is_left_for_the_import_to_report() -> None:
    parsed = csv_of(
        "bank,B-1,9000000001,10,,2026-11-20T09:30,,",
        "bank,B-1,9000000001,10,,2026-11-20T09:30,,",
    )
    assert [p.where for p in parsed.payments] == ["line 2", "line 3"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("channel,reference,account_number,amount,paid_at,memo\n", "unknown column(s) 'memo'"),
        ("channel,reference,account_number,paid_at\n", "the header lacks amount"),
        ("channel,reference,account_number,amount,amount,paid_at\n", "amount appear more"),
        ("channel;reference;account_number;amount;paid_at\n", "not comma-separated"),
        ("", "the file is empty"),
    ],
)
def test_a_bad_header_refuses_the_whole_file(header: str, message: str) -> None:
    text = header + "bank,B-1,9000000001,10,2026-11-20T09:30\n" if header else ""
    with pytest.raises(ImportRefused) as refused:
        parse_csv(text, tz=TZ, currency="CNY", now=NOW)
    assert message in str(refused.value)


def test_a_byte_order_mark_and_header_case_are_tolerated() -> None:
    text = (
        "\ufeffChannel, Reference ,ACCOUNT_NUMBER,amount,paid_at\n"
        "bank,B-1,9000000001,5,2026-11-20T09:30\n"
    )
    parsed = parse_csv(text, tz=TZ, currency="CNY", now=NOW)
    assert [p.reference for p in parsed.payments] == ["B-1"]


# --- the API's JSON items -------------------------------------------------------------------


def api(items: object) -> ParsedPayments:
    return parse_api_json(items, tz=TZ, currency="CNY", now=NOW)


def test_api_items_share_the_csv_checks_and_numbers_are_exact() -> None:
    body = json.loads(
        '[{"channel": "third_party", "reference": "T-1", "account_number": "9000000001",'
        ' "amount": 99.95, "paid_at": "2026-11-20T09:30", "bill_id": 4},'
        ' {"channel": "phone", "reference": "P-1", "account_number": "9000000001",'
        ' "amount": "10.5", "paid_at": "2026-11-20T09:30"},'
        ' {"channel": "bank", "reference": "B-1", "account_number": "9000000001",'
        ' "amount": 10, "paid_at": "2026-11-20T09:30", "currency": "EUR"}]',
        parse_float=Decimal,
    )
    parsed = api(body)
    assert [(p.reference, p.amount, p.bill_id) for p in parsed.payments] == [
        ("T-1", Decimal("99.95"), 4),
        ("P-1", Decimal("10.50"), None),
    ]
    assert reasons(parsed) == {"payments[2]": "currency 'EUR' is not CNY, the utility's currency"}


def test_api_items_of_the_wrong_shape_are_rejected_one_by_one() -> None:
    base = {"channel": "bank", "reference": "B", "account_number": "9",
            "paid_at": "2026-11-20T09:30"}  # fmt: skip
    parsed = api([
        "not an object",
        {**base, "amount": 1.5},  # a binary float: json.loads without parse_float=Decimal
        {**base, "amount": "1", "memo": "x"},
        {"channel": "bank"},
        {**base, "amount": "1", "bill_id": True},
    ])  # fmt: skip
    got = reasons(parsed)
    assert got["payments[0]"] == "not an object"
    assert got["payments[1]"] == "amount must be a string or an exact number (not a float)"
    assert got["payments[2]"] == "unknown field 'memo'"
    assert got["payments[3]"].startswith("reference is missing; account_number is missing")
    assert "bill_id" in got["payments[4]"]
    assert parsed.payments == ()


def test_api_payload_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ImportRefused):
        api({"channel": "bank"})


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2))
def test_any_amount_in_cents_is_read_exactly(amount: Decimal) -> None:
    (payment,) = csv_of(f"bank,B-1,9000000001,{amount},,2026-11-20T09:30,,").payments
    assert payment.amount == amount
