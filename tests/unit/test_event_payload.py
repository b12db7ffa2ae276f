"""A "bill issued" payload written out as text ahead of its bill id (a bill run on SQLite)
reads back as the payload recorded one event at a time."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from billing_core.events.service import IssuedBill, bill_issued_event, issued_payload_text

bills = st.builds(
    IssuedBill,
    account_id=st.integers(min_value=1, max_value=2**40),
    total=st.decimals(allow_nan=False, allow_infinity=False, places=2),
    currency=st.text(min_size=1, max_size=8),  # quotes, backslashes, any script
    due_date=st.dates(min_value=date(1900, 1, 1)),
    period_start=st.dates(min_value=date(1900, 1, 1)),
    period_end=st.dates(min_value=date(1900, 1, 1)),
)


@given(bill=bills, bill_id=st.integers(min_value=1, max_value=2**62))
def test_the_text_around_a_bill_id_reads_back_as_the_payload(
    bill: IssuedBill, bill_id: int
) -> None:
    before, after = issued_payload_text(bill)
    recorded = bill_issued_event(bill_id=bill_id, **bill._asdict())["payload"]
    assert json.loads(f"{before}{bill_id}{after}") == recorded


def test_a_payload_as_text_for_a_plain_bill() -> None:
    bill = IssuedBill(7, Decimal("76.92"), "CNY", date(2026, 11, 25), date(2026, 10, 10),
                      date(2026, 11, 9))  # fmt: skip
    before, after = issued_payload_text(bill)
    assert json.loads(f"{before}123{after}") == {
        "bill_id": 123, "total": "76.92", "currency": "CNY", "due_date": "2026-11-25",
        "period_start": "2026-10-10", "period_end": "2026-11-09",
    }  # fmt: skip
