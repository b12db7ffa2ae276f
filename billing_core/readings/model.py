"""Plain values for meters and readings."""

from __future__ import annotations

from enum import StrEnum


class ReadingSource(StrEnum):
    reader = "reader"  # meter-reader upload (CSV)
    smart = "smart"  # smart-meter interval data
    api = "api"
    customer = "customer"  # customer self-read by SMS or chat
    estimated = "estimated"  # only where policy allows; marked on the bill
