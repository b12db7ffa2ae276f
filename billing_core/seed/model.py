"""Seeded rows as plain dataclasses (one per table), the seed's configuration and rates, and
the pure rules the generator follows (reading dates, TOU splits, fictional phones)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from billing_core.bills.model import BusinessChangeKind
from billing_core.errors import InvalidInput
from billing_core.readings.model import MeterRow as _MeterColumns

DEFAULT_TIMEZONE = "Asia/Shanghai"
US_TIMEZONE = "America/New_York"
MAX_MONTHS = 120
ACCOUNTS_PER_BOOK = 1000
FIRST_SYNTHETIC_ACCOUNT = 1_000_000_101  # 1000000001..1000000100 are kept for demo customers

# Phone numbers. NANP reserves 555-0100..555-0199 in every area code for fiction. China has no
# such block: by this project's convention +86 138 0000 0000..138 0009 9999 is the demo range
# (the numbers may exist, so a real transport must never send to seeded data; see
# `is_fictional_phone`). +86 138 0000 00xx is kept for documented demo customers.
CN_FICTION_FIRST = 13_800_000_000
CN_FICTION_LAST = 13_800_099_999
CN_SYNTHETIC_FIRST = CN_FICTION_FIRST + 100
US_FICTION_LINES = range(100, 200)
# East-coast area codes (America/New_York); 202 is kept for documented demo customers.
US_AREA_CODES = (
    212, 646, 718, 917, 347, 929, 516, 631, 914, 845, 201, 973, 732, 908, 609, 215, 267, 412,
    617, 857, 781, 508, 978, 413, 401, 203, 860, 302, 410, 443, 301, 240, 703, 571, 804, 757,
    305, 786, 954, 561, 407, 321, 813, 727, 904, 404, 678, 770, 704, 980, 919, 984, 843, 216,
    440, 614, 313, 248, 586, 734,
)  # fmt: skip
TELEGRAM_FIRST_ID = 6_100_000_000  # synthetic Telegram user ids count up from here

# Shares of the population and of readings (per reading or per customer, as named).
SHARE_CLUSTER_UNITS = 0.005  # a landlord's parent meter with 2-5 tenants' child meters
SHARE_GROUP_UNITS = 0.005  # a group customer (集团) with 3-6 branch customers
SHARE_BUSINESS = 0.03  # standalone non-residential customers
SHARE_US = 0.03  # households on the US example tariff
SHARE_SECOND_ACCOUNT = 0.02  # households with a second account (a second home)
SHARE_SENSITIVE = 0.01  # residential customers with a sensitivity flag
SHARE_ROLLOVER_METERS = 0.004  # meters whose register passes 10**digits in the window
P_ZERO_USAGE = 0.002
P_USAGE_SWING = 0.002
P_MISSING = 0.004
P_ESTIMATED = 0.003
P_REVERSE = 0.002
P_CHILD_EXCEEDS_PARENT = 0.25  # per cluster: one period where the tenants exceed the landlord
P_POWER_FACTOR_DROP = 0.01  # per non-residential reading: power factor falls to 0.60-0.70
POWER_FACTOR_JITTER = 0.005  # a meter's power factor moves this much month to month
SHARE_COMPENSATED = 0.7  # non-residential meters whose power factor stays at 0.95 or more
P_TOU_DRIFT = 0.005  # per TOU meter period: one TOU register lags the total (分时度差)
TOU_DRIFT_MIN = 2000  # 0.01 kWh: the lagging register must advance 20 kWh (× multiplier)
# Two-rate (peak/valley) meters drift in the peak or valley register too: the bill run prices
# the valley as total − peak (谷 = 总 − 峰) and holds the bill for review (TOU_MISMATCH).
TOU_DRIFT_ON_TWO_RATE_METERS = True

# Events in an account's latest period, the one the next bill run bills: the business changes
# (业扩变更) that hold a bill for review, and new connections. Rates are per candidate account
# of a book, planted by `_Quota` (every 1/rate-th candidate, the book's first one included).
# REFUND_OR_REBILL is not planted: only a reviewer's correction (退补) produces it.
RATE_NEW_CONNECTION = 0.003  # households and businesses connected inside the period
RATE_METER_REPLACEMENT = 0.002  # 换表, TOU meters included
RATE_METER_FAULT = 0.001  # a fault recorded on the meter (表计故障)
RATE_CAPACITY_CHANGE = 0.002  # 增容 / 减容
RATE_METER_PARAMETER_CHANGE = 0.001  # 计量装置参数变化
RATE_TARIFF_CHANGE = 0.02  # of accounts that can change tariff (see TARIFF_CHANGES)
RATE_LAST_TOU_DRIFT = 0.005  # of TOU meters, in the latest period (on top of P_TOU_DRIFT)
RATE_LAST_POWER_FACTOR_DROP = 0.01  # of non-residential meters, in the latest period
# Clusters are too rare for one per book: this quota counts them over the whole population.
RATE_LAST_CHILD_EXCEEDS_PARENT = 0.05  # of clusters, in the latest period
# The tariff an account may move to while keeping its meter: a Zhejiang household leaving
# the peak/valley option for the flat tariff (the meter keeps its TOU registers).
TARIFF_CHANGES = {"zhejiang-residential-tou": "zhejiang-residential"}
# An old meter's final reading is on the replacement day; the bill run sees it only within its
# reading window (run.load.READING_WINDOW_DAYS before the reading day), so replacements
# fall in the last days before the reading day.
REPLACEMENT_WINDOW_DAYS = 3
NEW_CONNECTION_MIN_DAYS = 4  # a new connection is read at least this many days after it
NEW_METER_START_MAX = 5000  # 0.01 kWh: a new meter's register starts near zero
LATE_PAYER_SHARE = 0.04
_UP_TO_GROUPS = SHARE_CLUSTER_UNITS + SHARE_GROUP_UNITS
_UP_TO_BUSINESS = _UP_TO_GROUPS + SHARE_BUSINESS
_UP_TO_US = _UP_TO_BUSINESS + SHARE_US

TABLE_ORDER = (
    "reading_book",
    "customer_group",
    "customer",
    "customer_sensitivity",
    "account",
    "tariff_assignment",
    "contact",
    "business_change",
    "meter",
    "meter_reading",
)
"""Insert order that satisfies every foreign key."""


class Anomaly(StrEnum):
    """What later review rules and issues can find in the seeded data."""

    zero_usage = "zero_usage"
    usage_swing = "usage_swing"
    reverse_reading = "reverse_reading"
    missing_reading = "missing_reading"  # no row is generated; counted only
    estimated = "estimated"
    rollover = "rollover"  # the register passed 10**digits; not an error
    child_exceeds_parent = "child_exceeds_parent"  # tagged on the parent meter's reading
    power_factor_drop = "power_factor_drop"  # reactive energy jumps (力率调整 swings)
    tou_drift = "tou_drift"  # a TOU register lagged the total register (分时度差)
    # Business changes (a business_change row each; a replacement also swaps the meter, a
    # new connection is an account opened in its latest period).
    new_connection = BusinessChangeKind.new_connection.value
    capacity_change = BusinessChangeKind.capacity_change.value
    tariff_change = BusinessChangeKind.tariff_change.value
    meter_parameter_change = BusinessChangeKind.meter_parameter_change.value
    meter_replacement = BusinessChangeKind.meter_replacement.value
    meter_fault = BusinessChangeKind.meter_fault.value


CHANGE_NOTES = {
    Anomaly.new_connection: "seed: 新装 new connection",
    Anomaly.capacity_change: "seed: 增容 contracted capacity raised",
    Anomaly.tariff_change: "seed: 用电变更 left the peak/valley option for the flat tariff",
    Anomaly.meter_parameter_change: "seed: 计量装置参数变化 meter parameters reprogrammed",
    Anomaly.meter_replacement: "seed: 换表 meter replaced",
    Anomaly.meter_fault: "seed: 表计故障 meter fault reported, checked on site",
}


# ---------------------------------------------------------------------------------------------
# Rows: one dataclass per table, field names equal to column names.


@dataclass
class ReadingBookRow:
    TABLE: ClassVar[str] = "reading_book"
    id: int
    code: str
    name: str
    reading_day: int


@dataclass
class CustomerGroupRow:
    TABLE: ClassVar[str] = "customer_group"
    id: int
    code: str
    name: str
    consolidated_notice: bool


@dataclass
class CustomerRow:
    TABLE: ClassVar[str] = "customer"
    id: int
    name: str
    kind: str
    language: str
    timezone: str | None
    household_size: int
    group_id: int | None
    created_at: datetime


@dataclass
class SensitivityRow:
    TABLE: ClassVar[str] = "customer_sensitivity"
    id: int
    customer_id: int
    kind: str
    valid_from: date
    valid_to: date | None
    note: str


@dataclass
class AccountRow:
    TABLE: ClassVar[str] = "account"
    id: int
    number: str
    customer_id: int
    service_address: str
    reading_book_id: int | None
    reading_day: int
    billing_cycle_months: int
    status: str
    payment_terms_days: int | None  # empty: the policy's terms for the kind
    opened_on: date
    closed_on: date | None


@dataclass
class TariffAssignmentRow:
    TABLE: ClassVar[str] = "tariff_assignment"
    id: int
    account_id: int
    tariff_code: str
    effective_from: date
    effective_to: date | None
    reason: str


@dataclass
class BusinessChangeRow:
    TABLE: ClassVar[str] = "business_change"
    id: int
    account_id: int
    kind: str
    effective_on: date
    note: str
    created_at: datetime


@dataclass
class ContactRow:
    TABLE: ClassVar[str] = "contact"
    id: int
    customer_id: int
    channel: str
    address: str
    verified: bool
    verified_at: datetime | None
    notify: bool
    opted_out: bool
    opted_out_at: datetime | None
    allowed_from: time
    allowed_until: time


class MeterRow(_MeterColumns):
    """The meter table's row (its columns are declared once, in readings.model)."""

    __slots__ = ()
    TABLE: ClassVar[str] = "meter"


@dataclass
class ReadingRow:
    TABLE: ClassVar[str] = "meter_reading"
    id: int
    meter_id: int
    read_at: datetime
    total: Decimal
    peak: Decimal | None
    flat: Decimal | None
    valley: Decimal | None
    source: str
    reader_id: str | None
    estimated: bool
    reactive: Decimal | None = None  # kvarh register, non-residential meters only
    anomaly: str | None = None  # not a column: what this reading was made to show


Row = (
    ReadingBookRow
    | CustomerGroupRow
    | CustomerRow
    | SensitivityRow
    | AccountRow
    | TariffAssignmentRow
    | BusinessChangeRow
    | ContactRow
    | MeterRow
    | ReadingRow
)


# ---------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class SeedConfig:
    """What to generate. `first_ids` maps a table name to its first free id (default 1)."""

    customers: int
    months: int
    seed: int
    until: date
    timezone: str = DEFAULT_TIMEZONE
    accounts_per_book: int = ACCOUNTS_PER_BOOK
    first_ids: Mapping[str, int] = field(default_factory=dict)
    anomalies: bool = True

    def __post_init__(self) -> None:
        if self.customers < 0:
            raise InvalidInput(f"customers must be 0 or more, not {self.customers}")
        if not 1 <= self.months <= MAX_MONTHS:
            raise InvalidInput(f"months must be between 1 and {MAX_MONTHS}, not {self.months}")
        if self.accounts_per_book < 1:
            raise InvalidInput("accounts_per_book must be 1 or more")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(f"unknown time zone {self.timezone!r}") from exc
        unknown = set(self.first_ids) - set(TABLE_ORDER)
        if unknown:
            raise InvalidInput(f"first_ids names unknown tables: {sorted(unknown)}")


@dataclass(frozen=True)
class DemoCustomer:
    """A documented customer that always exists after seeding (see billing_core.seed.demo)."""

    name: str
    account_number: str
    phone: str
    language: str
    tariff_code: str
    timezone: str | None
    tou: bool
    region: str  # a key of REGIONS
    service_address: str
    reading_day: int
    household_size: int
    monthly_kwh: int


def to_kwh(centi: int) -> Decimal:
    """An integer count of 0.01 kWh as an exact Decimal."""
    return Decimal(centi).scaleb(-2)


def e164(number: str) -> str:
    """A phone number in E.164, formatted (and checked) by phonenumbers."""
    parsed = phonenumbers.parse(number, None)
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"not a valid phone number: {number}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_fictional_phone(number: str) -> bool:
    """True for numbers from the seed's ranges (NANP 555-01xx, or the project's CN demo block)."""
    if number.startswith("+86") and number[3:].isdigit():
        return CN_FICTION_FIRST <= int(number[3:]) <= CN_FICTION_LAST
    if number.startswith("+1") and len(number) == 12 and number[2:].isdigit():
        return number[5:8] == "555" and int(number[8:]) in US_FICTION_LINES
    return False


def is_late_payer(seed: int, account_number: str, share: float = LATE_PAYER_SHARE) -> bool:
    """Whether a seeded account is meant to pay late: a fixed subset chosen by the seed, for the
    payment and arrears issues that come later (nothing is stored for it)."""
    bucket = zlib.crc32(f"{seed}:late:{account_number}".encode()) % 10_000
    return bucket < share * 10_000


def reading_dates(reading_day: int, until: date, months: int) -> list[date]:
    """The opening reading date and one reading date per month: months + 1 dates on the reading
    day, the last one on or before `until`."""
    year, month = until.year, until.month
    if until.day < reading_day:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    dates = []
    for _ in range(months + 1):
        dates.append(date(year, month, reading_day))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    dates.reverse()
    return dates


def period_factors(dates: list[date], season: tuple[float, ...]) -> list[float]:
    """Per period between consecutive reading dates: the season factor of its middle month
    times its length in months."""
    factors = []
    for start, end in pairwise(dates):
        middle = start + (end - start) / 2
        factors.append(season[middle.month - 1] * (end - start).days / 30.44)
    return factors


def split_tou(total: int, peak_share: float, valley_share: float) -> tuple[int, int, int]:
    """Peak, flat and valley parts of a total (integers) that add up to it exactly."""
    peak = int(total * peak_share)
    valley = int(total * valley_share)
    return peak, total - peak - valley, valley


def _serial(meter_id: int) -> str:
    return f"WD{meter_id:010d}"


def _tou_parts(
    total: int, peak_share: float, valley_share: float, flat_register: bool
) -> tuple[int, int, int]:
    peak, flat, valley = split_tou(total, peak_share, valley_share)
    if not flat_register:
        return peak, 0, valley + flat
    return peak, flat, valley
