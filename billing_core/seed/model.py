"""Pure generation of a synthetic population: rows for every seeded table from a config and a
seed, with no database, so the same seed always yields the same rows."""

from __future__ import annotations

import math
import random
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise
from typing import ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from billing_core.bills.model import BusinessChangeKind
from billing_core.customers.model import (
    AccountStatus,
    Channel,
    CustomerKind,
    Language,
    SensitivityKind,
)
from billing_core.errors import InvalidInput
from billing_core.readings.model import MeterRow as _MeterColumns
from billing_core.readings.model import ReadingSource

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
# reading window (run_service.READING_WINDOW_DAYS before the reading day), so replacements
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
    payment_terms_days: int
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


# ---------------------------------------------------------------------------------------------
# Regions, seasons and names

# Relative monthly consumption, January first: winter heating and summer air conditioning.
# Smooth on purpose: neighbouring months differ by at most ~15 %, so that, with the monthly
# noise below, the ±30 % usage-swing review rule fires on a few per cent of bills (mostly the
# planted anomalies), as a utility's real population does.
MONTHLY_NOISE = 0.05  # sigma of the month-to-month lognormal noise
SEASON_NORTH = (1.25, 1.20, 1.05, 0.92, 0.88, 1.00, 1.15, 1.20, 1.05, 0.92, 1.00, 1.15)
SEASON_SOUTH = (1.05, 1.00, 0.92, 0.88, 0.98, 1.12, 1.25, 1.28, 1.12, 0.98, 0.90, 0.98)
SEASON_US = (1.10, 1.05, 0.95, 0.88, 0.95, 1.08, 1.22, 1.25, 1.10, 0.96, 0.92, 1.02)
SEASON_BUSINESS = (1.00, 0.92, 0.96, 0.96, 1.00, 1.10, 1.22, 1.22, 1.08, 0.98, 0.96, 1.00)


@dataclass(frozen=True)
class Region:
    tariff_code: str
    tou: bool
    season: tuple[float, ...]
    monthly_kwh: float  # a typical three-person household
    cities: tuple[tuple[str, tuple[str, ...]], ...]
    flat_register: bool = True  # False: a two-rate (peak/valley) meter, as in Zhejiang


_BEIJING = (("北京市", ("朝阳区", "海淀区", "东城区", "西城区", "丰台区", "通州区", "昌平区")),)
_ZHEJIANG = (
    ("浙江省杭州市", ("西湖区", "上城区", "拱墅区", "滨江区", "余杭区")),
    ("浙江省宁波市", ("鄞州区", "海曙区", "江北区")),
)
_GUANGDONG = (
    ("广东省广州市", ("天河区", "越秀区", "海珠区", "白云区")),
    ("广东省深圳市", ("南山区", "福田区", "宝安区", "龙岗区")),
)
_US = (
    ("Washington, DC", ("20001", "20002", "20003", "20009")),
    ("New York, NY", ("10001", "10011", "10025", "10128")),
    ("Boston, MA", ("02108", "02115", "02130")),
)

REGIONS: dict[str, Region] = {
    "beijing": Region("beijing-residential", False, SEASON_NORTH, 170.0, _BEIJING),
    "zhejiang": Region("zhejiang-residential", False, SEASON_SOUTH, 190.0, _ZHEJIANG),
    "zhejiang-tou": Region(
        "zhejiang-residential-tou", True, SEASON_SOUTH, 190.0, _ZHEJIANG, flat_register=False
    ),
    "guangdong": Region("guangdong-residential", False, SEASON_SOUTH, 210.0, _GUANGDONG),
    "us": Region("us-example-tiered-tou", True, SEASON_US, 850.0, _US),
}
CN_RESIDENTIAL_WEIGHTS = (
    ("beijing", 40),
    ("zhejiang", 20),
    ("zhejiang-tou", 10),
    ("guangdong", 30),
)
BUSINESS_TARIFF = "cn-general-commercial"
CN_REGION_KEYS = ("beijing", "zhejiang", "guangdong")

HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_WEIGHTS = (15, 28, 30, 15, 8, 4)
HOUSEHOLD_FACTOR = {1: 0.6, 2: 0.85, 3: 1.0, 4: 1.15, 5: 1.3, 6: 1.4}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉力斌宇浩凯鹏晨欣怡子涵梓轩雨桐"
)
ROADS = ("和平路", "建设路", "人民路", "解放路", "长安街", "光明路", "新华路", "文化路", "青年路")
FIRST_NAMES = (
    "Olivia", "Liam", "Ava", "Noah", "Sophia", "James", "Mia", "Lucas", "Amelia", "Ethan",
    "Harper", "Mason", "Ella", "Logan", "Grace", "Daniel", "Chloe", "Henry", "Nora", "Samuel",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson", "Lee", "Walker",
    "Hall", "Young", "King",
)  # fmt: skip
STREETS = ("Maple", "Oak", "Cedar", "Elm", "Pine", "Walnut", "Chestnut", "Spruce", "Willow")
BUSINESS_PREFIXES = ("青禾", "远航", "恒川", "星河", "云帆", "嘉木", "明泉", "瑞丰", "启航", "松石")
BUSINESS_KINDS = (
    "便利店",
    "餐饮有限公司",
    "服装店",
    "五金商行",
    "美容店",
    "药房",
    "文具店",
    "面包坊",
)
GROUP_KINDS = ("连锁超市集团", "餐饮集团", "药业连锁集团", "酒店管理集团")
SENSITIVITY_NOTES = {
    SensitivityKind.medical_equipment: ("家中使用制氧机", "uses a home oxygen concentrator"),
    SensitivityKind.elderly_alone: ("独居老人", "elderly, living alone"),
    SensitivityKind.hardship: ("低保户", "registered hardship"),
}


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


# ---------------------------------------------------------------------------------------------
# Generation


@dataclass
class _Meter:
    """What the reading generator needs to know about one meter."""

    id: int
    account_id: int
    tou: bool
    digits: int
    multiplier: int
    installed_on: date
    parent_meter_id: int | None
    source: str
    reader_id: str | None
    day_starts: list[datetime]  # 09:00 local on each reading date, in UTC
    anomalies: bool
    rollover: bool
    reactive: bool = False  # non-residential: a reactive-energy (kvarh) register too
    flat_register: bool = True  # False: peak and valley only (the flat register stays 0)
    book_id: int | None = None  # for the per-book quotas of planted events; None: none
    timezone: str | None = None  # the customer's, None for the utility's
    # A new meter (a new connection, or a replacement): its registers start near zero and are
    # stored as its initial values; it has no opening reading.
    new: bool = False
    removed_on: date | None = None
    plain_from: int | None = None  # readings from this index on are never missing or estimated


WHOLE_POPULATION = 0  # a quota key that is no book's id: one count for the whole population


class _Quota:
    """Plants one kind of event in every `every`-th candidate of a book, the book's first
    candidate included: an exact rate, deterministic, and at least one in every book that has a
    candidate, so that even a small population exercises every review rule. A candidate that
    is owed an event but cannot take it (it already carries another) leaves it to the next.
    Keyed by WHOLE_POPULATION instead of a book id, it counts over the whole population."""

    def __init__(self, rate: float) -> None:
        self.every = max(1, round(1 / rate))
        self._seen: Counter[int] = Counter()
        self._owed: Counter[int] = Counter()

    def offer(self, book_id: int) -> bool:
        """Count one more candidate in the book; True when the book is owed an event."""
        if self._seen[book_id] % self.every == 0:
            self._owed[book_id] += 1
        self._seen[book_id] += 1
        return self._owed[book_id] > 0

    def take(self, book_id: int) -> None:
        self._owed[book_id] -= 1

    def pick(self, book_id: int) -> bool:
        """Offer and, when owed, take at once."""
        if self.offer(book_id):
            self.take(book_id)
            return True
        return False


class SeedPopulation:
    """Generates the rows of a population. Iterate `rows()` once; `anomalies` then counts what
    was planted (by `Anomaly` value) and `customers_made` how many customers were generated."""

    def __init__(self, config: SeedConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.tz = ZoneInfo(config.timezone)
        self.anomalies: Counter[str] = Counter()
        self.customers_made = 0
        self._next_id = {table: config.first_ids.get(table, 1) for table in TABLE_ORDER}
        self._account_seq = 0
        self._cn_phone_seq = 0
        self._us_phone_seq = 0
        self._telegram_seq = 0
        self._books: list[ReadingBookRow] = []
        self._dates: dict[int, list[date]] = {}
        self._factors: dict[tuple[int, tuple[float, ...]], list[float]] = {}
        self._day_starts: dict[tuple[int, str], list[datetime]] = {}
        self._quotas = {
            Anomaly.new_connection: _Quota(RATE_NEW_CONNECTION),
            Anomaly.meter_replacement: _Quota(RATE_METER_REPLACEMENT),
            Anomaly.meter_fault: _Quota(RATE_METER_FAULT),
            Anomaly.capacity_change: _Quota(RATE_CAPACITY_CHANGE),
            Anomaly.meter_parameter_change: _Quota(RATE_METER_PARAMETER_CHANGE),
            Anomaly.tariff_change: _Quota(RATE_TARIFF_CHANGE),
            Anomaly.tou_drift: _Quota(RATE_LAST_TOU_DRIFT),
            Anomaly.power_factor_drop: _Quota(RATE_LAST_POWER_FACTOR_DROP),
            Anomaly.child_exceeds_parent: _Quota(RATE_LAST_CHILD_EXCEEDS_PARENT),
        }
        # Readings and contacts made for a new connection must not be later than `until`.
        self._until_start = datetime.combine(config.until, time(0, 0), self.tz).astimezone(UTC)

    # -- ids and calendars --------------------------------------------------------------------

    def _take_id(self, table: str) -> int:
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    def dates_for(self, reading_day: int) -> list[date]:
        dates = self._dates.get(reading_day)
        if dates is None:
            dates = reading_dates(reading_day, self.config.until, self.config.months)
            self._dates[reading_day] = dates
        return dates

    def _factors_for(self, reading_day: int, season: tuple[float, ...]) -> list[float]:
        key = (reading_day, season)
        factors = self._factors.get(key)
        if factors is None:
            factors = period_factors(self.dates_for(reading_day), season)
            self._factors[key] = factors
        return factors

    def _starts_for(self, reading_day: int, timezone: str | None) -> list[datetime]:
        # No DST change falls between 09:00 and 17:00 in these zones, so 09:00 local + minutes
        # is exact in UTC.
        name = timezone or self.config.timezone
        key = (reading_day, name)
        starts = self._day_starts.get(key)
        if starts is None:
            zone = ZoneInfo(name)
            starts = [
                datetime.combine(day, time(9, 0), zone).astimezone(UTC)
                for day in self.dates_for(reading_day)
            ]
            self._day_starts[key] = starts
        return starts

    def _local_instant(self, day: date, at: time, timezone: str | None) -> datetime:
        zone = ZoneInfo(timezone) if timezone else self.tz
        return datetime.combine(day, at, zone).astimezone(UTC)

    def _by_until(self, instant: datetime) -> datetime:
        """No later than the start of `until` (a new connection's contacts are recent)."""
        return min(instant, self._until_start)

    def _last_period(self, reading_day: int) -> tuple[date, date]:
        """The latest period of a reading day: (previous reading date, last reading date)."""
        dates = self.dates_for(reading_day)
        return dates[-2], dates[-1]

    def _day_in_last_period(self, reading_day: int, *, days_before_reading: int = 1) -> date:
        """A day after the previous reading date and at least `days_before_reading` days
        before the last one."""
        start, end = self._last_period(reading_day)
        return start + timedelta(days=self.rng.randint(1, (end - start).days - days_before_reading))

    # -- the population -----------------------------------------------------------------------

    def rows(self) -> Iterator[Row]:
        """Every row, parents before children (see TABLE_ORDER): books, then one unit of
        customers at a time (a household, a business, a group or a parent/child cluster)."""
        config = self.config
        if config.customers == 0:
            return
        yield from self._make_books()
        rng = self.rng
        while self.customers_made < config.customers:
            remaining = config.customers - self.customers_made
            draw = rng.random()
            if draw < SHARE_CLUSTER_UNITS and remaining >= 3:
                yield from self._cluster(min(rng.randint(3, 6), remaining))
            elif draw < _UP_TO_GROUPS and remaining >= 2:
                yield from self._group(min(rng.randint(3, 6), remaining))
            elif draw < _UP_TO_BUSINESS:
                yield from self._business(self._pick_book(), group_id=None)
            elif draw < _UP_TO_US:
                yield from self._household("us")
            else:
                yield from self._household(self._pick_cn_region())

    def _make_books(self) -> Iterator[ReadingBookRow]:
        config, rng = self.config, self.rng
        expected_accounts = config.customers * (1 + SHARE_SECOND_ACCOUNT)
        count = max(1, math.ceil(expected_accounts / config.accounts_per_book))
        if count >= 28:
            days = [1 + (index * 28) // count for index in range(count)]
        else:
            days = sorted(rng.sample(range(1, 29), count))
        for index, day in enumerate(days, start=1):
            book = ReadingBookRow(
                id=self._take_id("reading_book"),
                code=f"B{index:04d}",
                name=f"抄表段 B{index:04d}（例日 {day} 日）",
                reading_day=day,
            )
            self._books.append(book)
            yield book

    def _pick_book(self) -> ReadingBookRow:
        return self._books[self.rng.randrange(len(self._books))]

    def _pick_cn_region(self) -> str:
        draw = self.rng.randrange(100)
        for key, weight in CN_RESIDENTIAL_WEIGHTS:
            if draw < weight:
                return key
            draw -= weight
        return CN_RESIDENTIAL_WEIGHTS[-1][0]

    # -- units --------------------------------------------------------------------------------

    def _household(self, region_key: str) -> Iterator[Row]:
        rng = self.rng
        region = REGIONS[region_key]
        us = region_key == "us"
        size = rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0]
        monthly = region.monthly_kwh * HOUSEHOLD_FACTOR[size] * rng.lognormvariate(0.0, 0.45)
        book = self._pick_book()
        timezone = US_TIMEZONE if us else None
        opened_on = self.dates_for(book.reading_day)[0] - timedelta(days=rng.randint(30, 5000))
        new_connection = self._new_connection(book)
        if new_connection:
            opened_on = self._day_in_last_period(
                book.reading_day, days_before_reading=NEW_CONNECTION_MIN_DAYS
            )
        customer = self._customer(
            name=self._english_name() if us else self._chinese_name(),
            kind=CustomerKind.residential,
            language=Language.en if us else Language.zh_cn,
            timezone=timezone,
            household_size=size,
            group_id=None,
            opened_on=opened_on,
        )
        yield customer
        yield from self._sensitivity(customer, opened_on, english=us)
        yield from self._contacts(customer, opened_on, country="US" if us else "CN")
        yield from self._account_with_meter(
            customer=customer,
            book=book,
            region=region,
            address=self._us_address() if us else self._cn_address(region, residential=True),
            monthly_kwh=monthly,
            opened_on=opened_on,
            timezone=timezone,
            new_connection=new_connection,
        )
        if not us and not new_connection and rng.random() < SHARE_SECOND_ACCOUNT:
            second_book = self._pick_book()
            yield from self._account_with_meter(
                customer=customer,
                book=second_book,
                region=region,
                address=self._cn_address(region, residential=True),
                monthly_kwh=monthly * 0.4,
                opened_on=self.dates_for(second_book.reading_day)[0]
                - timedelta(days=rng.randint(30, 3000)),
                timezone=None,
            )

    def _business(
        self, book: ReadingBookRow, *, group_id: int | None, name: str | None = None
    ) -> Iterator[Row]:
        rng = self.rng
        region = REGIONS[rng.choice(CN_REGION_KEYS)]
        monthly = min(max(rng.lognormvariate(math.log(2500.0), 0.9), 150.0), 200_000.0)
        opened_on = self.dates_for(book.reading_day)[0] - timedelta(days=rng.randint(30, 5000))
        new_connection = self._new_connection(book)
        if new_connection:
            opened_on = self._day_in_last_period(
                book.reading_day, days_before_reading=NEW_CONNECTION_MIN_DAYS
            )
        customer = self._customer(
            name=name or rng.choice(BUSINESS_PREFIXES) + rng.choice(BUSINESS_KINDS),
            kind=CustomerKind.non_residential,
            language=Language.zh_cn,
            timezone=None,
            household_size=1,
            group_id=group_id,
            opened_on=opened_on,
        )
        yield customer
        yield from self._contacts(customer, opened_on, country="CN", business=True)
        yield from self._account_with_meter(
            customer=customer,
            book=book,
            region=Region(BUSINESS_TARIFF, True, SEASON_BUSINESS, monthly, region.cities),
            address=self._cn_address(region, residential=False),
            monthly_kwh=monthly,
            opened_on=opened_on,
            timezone=None,
            multiplier=rng.choice((20, 40, 80)) if monthly > 8000 else 1,
            new_connection=new_connection,
        )

    def _group(self, members: int) -> Iterator[Row]:
        rng = self.rng
        group_id = self._take_id("customer_group")
        prefix = rng.choice(BUSINESS_PREFIXES)
        group_name = f"{prefix}{rng.choice(GROUP_KINDS)}"
        yield CustomerGroupRow(
            id=group_id, code=f"G{group_id:06d}", name=group_name, consolidated_notice=True
        )
        for index in range(1, members + 1):
            branch = f"{group_name}第{index}分店"
            yield from self._business(self._pick_book(), group_id=group_id, name=branch)

    def _cluster(self, size: int) -> Iterator[Row]:
        """A landlord (物业) whose parent meter (母表) feeds its tenants' child meters (子表)."""
        rng = self.rng
        book = self._pick_book()
        dates = self.dates_for(book.reading_day)
        region_key = rng.choice(CN_REGION_KEYS)
        region = REGIONS[region_key]
        starts = self._starts_for(book.reading_day, None)
        parent_multiplier = rng.choice((1, 10, 20))
        parent_meter_id = self._take_id("meter")

        # The tenants' consumption comes first: the landlord's meter measures it plus its own.
        tenants: list[tuple[Region, bool, list[int]]] = []
        child_sum = [0] * self.config.months
        for _ in range(size - 1):
            shop = rng.random() < 0.5
            tenant_region = (
                Region(BUSINESS_TARIFF, True, SEASON_BUSINESS, 0.0, region.cities)
                if shop
                else region
            )
            monthly = (
                rng.lognormvariate(math.log(1200.0), 0.6)
                if shop
                else region.monthly_kwh * rng.lognormvariate(0.0, 0.45)
            )
            deltas = self._deltas(
                monthly, self._factors_for(book.reading_day, tenant_region.season), 1
            )
            child_sum = [total + delta for total, delta in zip(child_sum, deltas, strict=True)]
            tenants.append((tenant_region, shop, deltas))

        parent_deltas: list[int] = []
        parent_tags: list[str | None] = []
        short_period = -1
        if self.config.anomalies:
            if self._quotas[Anomaly.child_exceeds_parent].pick(WHOLE_POPULATION):
                short_period = self.config.months - 1  # the period the next bill run bills
            elif rng.random() < P_CHILD_EXCEEDS_PARENT:
                short_period = rng.randrange(self.config.months)
        for index, children in enumerate(child_sum):
            if index == short_period and children > 0:
                kwh_centi = int(children * rng.uniform(0.80, 0.92))
                parent_deltas.append(kwh_centi // parent_multiplier)
                parent_tags.append(Anomaly.child_exceeds_parent)
                self.anomalies[Anomaly.child_exceeds_parent] += 1
            else:
                kwh_centi = int(children * rng.uniform(1.15, 1.6)) + 1
                parent_deltas.append(-(-kwh_centi // parent_multiplier))
                parent_tags.append(None)

        opened_on = dates[0] - timedelta(days=rng.randint(365, 5000))
        landlord = self._customer(
            name=f"{rng.choice(BUSINESS_PREFIXES)}物业管理有限公司",
            kind=CustomerKind.non_residential,
            language=Language.zh_cn,
            timezone=None,
            household_size=1,
            group_id=None,
            opened_on=opened_on,
        )
        yield landlord
        yield from self._contacts(landlord, opened_on, country="CN", business=True)
        account = self._account(
            landlord, book, self._cn_address(region, residential=False), opened_on
        )
        yield account
        yield self._tariff(account.id, BUSINESS_TARIFF, opened_on)
        yield from self._meter_rows(
            _Meter(
                id=parent_meter_id,
                account_id=account.id,
                tou=True,
                digits=7,
                multiplier=parent_multiplier,
                installed_on=opened_on,
                parent_meter_id=None,
                source=ReadingSource.smart,
                reader_id=None,
                day_starts=starts,
                anomalies=False,
                rollover=False,
                reactive=True,
            ),
            parent_deltas,
            parent_tags,
        )
        for tenant_region, shop, deltas in tenants:
            tenant_opened = dates[0] - timedelta(days=rng.randint(30, 3000))
            tenant = self._customer(
                name=(rng.choice(BUSINESS_PREFIXES) + rng.choice(BUSINESS_KINDS))
                if shop
                else self._chinese_name(),
                kind=CustomerKind.non_residential if shop else CustomerKind.residential,
                language=Language.zh_cn,
                timezone=None,
                household_size=1 if shop else rng.choices(HOUSEHOLD_SIZES, HOUSEHOLD_WEIGHTS)[0],
                group_id=None,
                opened_on=tenant_opened,
            )
            yield tenant
            yield from self._contacts(tenant, tenant_opened, country="CN", business=shop)
            tenant_account = self._account(
                tenant, book, self._cn_address(region, residential=not shop), tenant_opened
            )
            yield tenant_account
            yield self._tariff(tenant_account.id, tenant_region.tariff_code, tenant_opened)
            yield from self._meter_rows(
                _Meter(
                    id=self._take_id("meter"),
                    account_id=tenant_account.id,
                    tou=tenant_region.tou,
                    flat_register=tenant_region.flat_register,
                    digits=6,
                    multiplier=1,
                    installed_on=tenant_opened,
                    parent_meter_id=parent_meter_id,
                    source=ReadingSource.smart if tenant_region.tou else ReadingSource.reader,
                    reader_id=None if tenant_region.tou else f"R{book.id:04d}",
                    day_starts=starts,
                    anomalies=False,
                    rollover=False,
                    reactive=shop,
                ),
                deltas,
                [None] * len(deltas),
            )

    def demo_rows(self, demo: DemoCustomer, book_id: int) -> Iterator[Row]:
        """Rows for one documented demo customer: clean readings, no anomalies, and the same
        values whatever the population's seed."""
        saved = self.rng
        self.rng = random.Random(f"demo:{demo.account_number}")
        try:
            region = REGIONS[demo.region]
            opened_on = self.dates_for(demo.reading_day)[0] - timedelta(days=900)
            customer = self._customer(
                name=demo.name,
                kind=CustomerKind.residential,
                language=demo.language,
                timezone=demo.timezone,
                household_size=demo.household_size,
                group_id=None,
                opened_on=opened_on,
            )
            yield customer
            created = customer.created_at
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.sms,
                address=e164(demo.phone),
                verified=True,
                verified_at=created + timedelta(hours=1),
                notify=True,
                opted_out=False,
                opted_out_at=None,
                allowed_from=time(8, 0),
                allowed_until=time(21, 0),
            )
            account = AccountRow(
                id=self._take_id("account"),
                number=demo.account_number,
                customer_id=customer.id,
                service_address=demo.service_address,
                reading_book_id=book_id,
                reading_day=demo.reading_day,
                billing_cycle_months=1,
                status=AccountStatus.active,
                payment_terms_days=15,
                opened_on=opened_on,
                closed_on=None,
            )
            yield account
            yield self._tariff(account.id, demo.tariff_code, opened_on)
            factors = self._factors_for(demo.reading_day, region.season)
            yield from self._meter_rows(
                _Meter(
                    id=self._take_id("meter"),
                    account_id=account.id,
                    tou=demo.tou,
                    digits=6,
                    multiplier=1,
                    installed_on=opened_on,
                    parent_meter_id=None,
                    source=ReadingSource.smart if demo.tou else ReadingSource.reader,
                    reader_id=None if demo.tou else "R0000",
                    day_starts=self._starts_for(demo.reading_day, demo.timezone),
                    anomalies=False,
                    rollover=False,
                ),
                self._deltas(demo.monthly_kwh, factors, 1),
                [None] * len(factors),
            )
        finally:
            self.rng = saved

    # -- rows for one customer ----------------------------------------------------------------

    def _customer(
        self,
        *,
        name: str,
        kind: str,
        language: str,
        timezone: str | None,
        household_size: int,
        group_id: int | None,
        opened_on: date,
    ) -> CustomerRow:
        self.customers_made += 1
        return CustomerRow(
            id=self._take_id("customer"),
            name=name,
            kind=kind,
            language=language,
            timezone=timezone,
            household_size=household_size,
            group_id=group_id,
            created_at=self._local_instant(opened_on, time(10, 0), timezone),
        )

    def _sensitivity(
        self, customer: CustomerRow, opened_on: date, *, english: bool
    ) -> Iterator[SensitivityRow]:
        rng = self.rng
        if rng.random() >= SHARE_SENSITIVE:
            return
        kind = rng.choice(tuple(SensitivityKind))
        valid_from = min(opened_on + timedelta(days=rng.randint(0, 2000)), self.config.until)
        expired = rng.random() < 0.2
        yield SensitivityRow(
            id=self._take_id("customer_sensitivity"),
            customer_id=customer.id,
            kind=kind,
            valid_from=valid_from,
            valid_to=valid_from + timedelta(days=365) if expired else None,
            note=SENSITIVITY_NOTES[kind][1 if english else 0],
        )

    def _contacts(
        self, customer: CustomerRow, opened_on: date, *, country: str, business: bool = False
    ) -> Iterator[ContactRow]:
        rng = self.rng
        created = customer.created_at
        if rng.random() < 0.97:
            opted_out = rng.random() < 0.01
            verified = rng.random() < 0.85
            late_hours = rng.random() < 0.02
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.sms,
                address=self._us_phone() if country == "US" else self._cn_phone(),
                verified=verified,
                verified_at=self._by_until(created + timedelta(minutes=rng.randint(5, 43_200)))
                if verified
                else None,
                notify=True,
                opted_out=opted_out,
                opted_out_at=self._by_until(created + timedelta(days=rng.randint(1, 25)))
                if opted_out
                else None,
                allowed_from=time(9, 0) if late_hours else time(8, 0),
                allowed_until=time(20, 0) if late_hours else time(21, 0),
            )
        if rng.random() < (0.30 if country == "US" else 0.12):
            self._telegram_seq += 1
            verified = rng.random() < 0.8
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.telegram,
                address=str(TELEGRAM_FIRST_ID + self._telegram_seq),
                verified=verified,
                verified_at=self._by_until(created + timedelta(days=rng.randint(1, 25)))
                if verified
                else None,
                notify=True,
                opted_out=False,
                opted_out_at=None,
                allowed_from=time(8, 0),
                allowed_until=time(21, 0),
            )
        if rng.random() < (0.5 if country == "US" or business else 0.15):
            if business:
                address = f"billing{customer.id}@example.net"
            elif country == "US":
                first, last = customer.name.lower().split(" ", 1)
                address = f"{first}.{last}.{customer.id}@example.com"
            else:
                address = f"customer{customer.id}@example.com"
            verified = rng.random() < 0.6
            yield ContactRow(
                id=self._take_id("contact"),
                customer_id=customer.id,
                channel=Channel.email,
                address=address,
                verified=verified,
                verified_at=self._by_until(created + timedelta(days=rng.randint(1, 25)))
                if verified
                else None,
                notify=True,
                opted_out=False,
                opted_out_at=None,
                allowed_from=time(8, 0),
                allowed_until=time(21, 0),
            )

    def _account(
        self, customer: CustomerRow, book: ReadingBookRow, address: str, opened_on: date
    ) -> AccountRow:
        number = str(FIRST_SYNTHETIC_ACCOUNT + self._account_seq)
        self._account_seq += 1
        return AccountRow(
            id=self._take_id("account"),
            number=number,
            customer_id=customer.id,
            service_address=address,
            reading_book_id=book.id,
            reading_day=book.reading_day,
            billing_cycle_months=1,
            status=AccountStatus.active,
            payment_terms_days=15,
            opened_on=opened_on,
            closed_on=None,
        )

    def _tariff(self, account_id: int, tariff_code: str, opened_on: date) -> TariffAssignmentRow:
        return TariffAssignmentRow(
            id=self._take_id("tariff_assignment"),
            account_id=account_id,
            tariff_code=tariff_code,
            effective_from=opened_on,
            effective_to=None,
            reason="seed: tariff at connection",
        )

    def _account_with_meter(
        self,
        *,
        customer: CustomerRow,
        book: ReadingBookRow,
        region: Region,
        address: str,
        monthly_kwh: float,
        opened_on: date,
        timezone: str | None,
        multiplier: int = 1,
        new_connection: bool = False,
    ) -> Iterator[Row]:
        """An account, its tariff and its meter with readings. A new connection (opened in the
        latest period) has one partial period; an older account may carry a business change
        in its latest period (see `_account_event`)."""
        rng = self.rng
        account = self._account(customer, book, address, opened_on)
        yield account
        tariff = self._tariff(account.id, region.tariff_code, opened_on)
        factors = self._factors_for(book.reading_day, region.season)
        day_starts = self._starts_for(book.reading_day, timezone)
        if new_connection:
            start, end = self._last_period(book.reading_day)
            factors = [factors[-1] * (end - opened_on).days / (end - start).days]
            day_starts = [self._local_instant(opened_on, time(9, 0), timezone), day_starts[-1]]
        deltas = self._deltas(monthly_kwh, factors, multiplier)
        anomalies = self.config.anomalies
        rollover = (
            anomalies
            and not region.tou
            and not new_connection
            and rng.random() < SHARE_ROLLOVER_METERS
        )
        event = Anomaly.new_connection if new_connection else None
        if anomalies and not rollover and not new_connection:
            event = self._account_event(book, region)
        changed_on = opened_on
        if event == Anomaly.meter_replacement:
            changed_on = self._last_period(book.reading_day)[1] - timedelta(
                days=rng.randint(1, REPLACEMENT_WINDOW_DAYS)
            )
        elif event is not None and event != Anomaly.new_connection:
            changed_on = self._day_in_last_period(book.reading_day)
        if event == Anomaly.tariff_change:
            tariff.effective_to = changed_on - timedelta(days=1)  # its last day
            yield tariff
            yield TariffAssignmentRow(
                id=self._take_id("tariff_assignment"),
                account_id=account.id,
                tariff_code=TARIFF_CHANGES[region.tariff_code],
                effective_from=changed_on,
                effective_to=None,
                reason=CHANGE_NOTES[Anomaly.tariff_change],
            )
        else:
            yield tariff
        if event is not None and event != Anomaly.meter_replacement:
            yield self._business_change(account.id, event, changed_on, timezone)
        tags: list[str | None] = [None] * len(deltas)
        if anomalies and not rollover and not new_connection:
            self._plant_usage_anomalies(deltas, tags)
        if region.tou:
            digits = 6 if multiplier == 1 and monthly_kwh < 5000 else 7
        else:
            digits = 5 if rollover or rng.random() < 0.1 else 6
        meter = _Meter(
            id=self._take_id("meter"),
            account_id=account.id,
            tou=region.tou,
            flat_register=region.flat_register,
            digits=digits,
            multiplier=multiplier,
            installed_on=opened_on,
            parent_meter_id=None,
            source=ReadingSource.smart if region.tou else ReadingSource.reader,
            reader_id=None if region.tou else f"R{book.id:04d}",
            day_starts=day_starts,
            anomalies=anomalies and not rollover,
            rollover=rollover,
            reactive=customer.kind == CustomerKind.non_residential,
            book_id=book.id,
            timezone=timezone,
            new=new_connection,
        )
        if event == Anomaly.meter_replacement:
            yield from self._replaced_meter_rows(meter, deltas, tags, changed_on)
        else:
            yield from self._meter_rows(meter, deltas, tags)

    def _new_connection(self, book: ReadingBookRow) -> bool:
        """Whether the next customer of this book is a new connection (新装)."""
        if not self.config.anomalies:
            return False
        if self._quotas[Anomaly.new_connection].pick(book.id):
            self.anomalies[Anomaly.new_connection] += 1
            return True
        return False

    def _account_event(self, book: ReadingBookRow, region: Region) -> Anomaly | None:
        """The business change in this account's latest period, if any: at most one, each kind
        at its rate among the accounts it can happen to (every quota counts the candidate)."""
        candidates = (
            # On a TOU meter the bill run carries every register across the replacement.
            (Anomaly.meter_replacement, True),
            (Anomaly.meter_fault, True),
            (Anomaly.capacity_change, True),
            (Anomaly.meter_parameter_change, True),
            (Anomaly.tariff_change, region.tariff_code in TARIFF_CHANGES),
        )
        event = None
        for kind, possible in candidates:
            quota = self._quotas[kind]
            if possible and quota.offer(book.id) and event is None:
                quota.take(book.id)
                event = kind
        if event is not None:
            self.anomalies[event] += 1
        return event

    def _business_change(
        self, account_id: int, kind: Anomaly, on: date, timezone: str | None, note: str = ""
    ) -> BusinessChangeRow:
        return BusinessChangeRow(
            id=self._take_id("business_change"),
            account_id=account_id,
            kind=kind.value,
            effective_on=on,
            note=note or CHANGE_NOTES[kind],
            created_at=self._local_instant(on, time(16, 0), timezone),
        )

    def _replaced_meter_rows(
        self, meter: _Meter, deltas: list[int], tags: list[str | None], on: date
    ) -> Iterator[Row]:
        """A meter replaced (换表) on `on`, late in its latest period: the old meter's readings
        end with a final reading that day and it is removed; a new meter (a new serial, its
        starting register as initial values) is installed the same day and read on the
        reading day; and the business change records it."""
        start, end = self._last_period_of(meter)
        share = (on - start).days / (end - start).days
        before = round(deltas[-1] * share)
        at = self._local_instant(on, time(9, 0), meter.timezone)
        old = replace(
            meter,
            removed_on=on,
            day_starts=[*meter.day_starts[:-1], at],
            plain_from=len(deltas) - 1,  # the bill needs the previous and final readings
        )
        old_tags = [*tags[:-1], tags[-1] or Anomaly.meter_replacement]
        yield from self._meter_rows(old, [*deltas[:-1], before], old_tags)
        new = replace(
            meter,
            id=self._take_id("meter"),
            installed_on=on,
            new=True,
            anomalies=False,
            day_starts=[at, meter.day_starts[-1]],
            removed_on=None,
            plain_from=None,
        )
        yield from self._meter_rows(new, [deltas[-1] - before], [None])
        note = f"{CHANGE_NOTES[Anomaly.meter_replacement]}: {_serial(old.id)} → {_serial(new.id)}"
        yield self._business_change(
            meter.account_id, Anomaly.meter_replacement, on, meter.timezone, note
        )

    def _last_period_of(self, meter: _Meter) -> tuple[date, date]:
        zone = ZoneInfo(meter.timezone) if meter.timezone else self.tz
        return (
            meter.day_starts[-2].astimezone(zone).date(),
            meter.day_starts[-1].astimezone(zone).date(),
        )

    # -- consumption and readings -------------------------------------------------------------

    def _deltas(self, monthly_kwh: float, factors: list[float], multiplier: int) -> list[int]:
        """Register advance per period in 0.01 units: seasonal, with month-to-month noise."""
        lognorm = self.rng.lognormvariate
        scale = monthly_kwh * 100.0 / multiplier
        return [round(scale * factor * lognorm(0.0, MONTHLY_NOISE)) for factor in factors]

    def _plant_usage_anomalies(self, deltas: list[int], tags: list[str | None]) -> None:
        rng = self.rng
        for index in range(len(deltas)):
            draw = rng.random()
            if draw < P_ZERO_USAGE:
                deltas[index] = 0
                tags[index] = Anomaly.zero_usage
                self.anomalies[Anomaly.zero_usage] += 1
            elif draw < P_ZERO_USAGE + P_USAGE_SWING:
                high = rng.random() < 0.6
                factor = rng.uniform(2.5, 4.0) if high else rng.uniform(0.1, 0.3)
                deltas[index] = round(deltas[index] * factor)
                tags[index] = Anomaly.usage_swing
                self.anomalies[Anomaly.usage_swing] += 1

    def _meter_rows(
        self, meter: _Meter, deltas: list[int], tags: list[str | None]
    ) -> Iterator[MeterRow | ReadingRow]:
        """The meter and its readings: an opening reading (none for a new meter, whose
        starting registers are its initial values), then one per period. Registers are
        cumulative and wrap at 10**digits; the TOU registers add up to the total except where
        one lags (Anomaly.tou_drift)."""
        rng = self.rng
        drop_last = meter.reactive and self._plants_last(Anomaly.power_factor_drop, meter, tags)
        reactive = (
            self._reactive_deltas(meter, deltas, tags, drop_last=drop_last)
            if meter.reactive
            else None
        )
        advance = max(sum(deltas), sum(reactive or ()))
        digits = meter.digits
        # A register must hold the whole window (twice over, to leave room for a random start),
        # except on a rollover meter, which must pass its maximum once.
        while digits < 10 and 10**digits * 100 < advance * (2 if not meter.rollover else 1.25):
            digits += 1
        cap = 10**digits * 100
        rollover = meter.rollover and advance >= 10
        if meter.new:
            start = rng.randint(0, NEW_METER_START_MAX)
        elif rollover:
            start = cap - rng.randint(max(1, advance // 5), max(1, advance * 4 // 5))
        else:
            start = rng.randint(0, max(0, cap - advance - 1))

        if meter.tou:
            peak_share = rng.uniform(0.30, 0.45)
            valley_share = rng.uniform(0.20, 0.35)
            if not meter.flat_register:
                valley_share = 1 - peak_share
            registers = [*_tou_parts(start, peak_share, valley_share, meter.flat_register), 0]
            if reactive is not None:
                registers[3] = rng.randint(0, max(0, cap - sum(reactive) - 1))
            parts = []
            for index, delta in enumerate(deltas):
                jitter = rng.uniform(-0.03, 0.03)
                peak, flat, valley = _tou_parts(
                    delta, peak_share + jitter, valley_share - jitter, meter.flat_register
                )
                parts.append((peak, flat, valley, 0 if reactive is None else reactive[index]))
            lags = self._tou_drifts(meter, parts, tags)
            initial = [to_kwh(value) for value in registers[:3]] if meter.new else [Decimal(0)] * 3
            yield MeterRow(
                id=meter.id,
                serial=_serial(meter.id),
                account_id=meter.account_id,
                multiplier=Decimal(meter.multiplier),
                digits=digits,
                tou=True,
                parent_meter_id=meter.parent_meter_id,
                installed_on=meter.installed_on,
                removed_on=meter.removed_on,
                initial_total=sum(initial, Decimal(0)),
                initial_peak=initial[0],
                initial_flat=initial[1],
                initial_valley=initial[2],
            )
            yield from self._tou_readings(meter, registers, parts, tags, lags)
            return

        yield MeterRow(
            id=meter.id,
            serial=_serial(meter.id),
            account_id=meter.account_id,
            multiplier=Decimal(meter.multiplier),
            digits=digits,
            tou=False,
            parent_meter_id=meter.parent_meter_id,
            installed_on=meter.installed_on,
            removed_on=meter.removed_on,
            initial_total=to_kwh(start) if meter.new else Decimal(0),
            initial_peak=None,
            initial_flat=None,
            initial_valley=None,
        )
        yield from self._total_readings(meter, start, cap, deltas, tags, rollover)

    def _plants_last(self, kind: Anomaly, meter: _Meter, tags: list[str | None]) -> bool:
        """Whether `kind` goes into the meter's latest period by its book's quota. A candidate
        has both its latest periods free of other anomalies, so that the bill run compares
        the latest period with a clean previous one (the previous bill, for the power factor);
        the readings that bound them are then never missing or estimated."""
        if (
            not meter.anomalies
            or meter.book_id is None
            or meter.new
            or len(tags) < 2
            or tags[-1] is not None
            or tags[-2] is not None
        ):
            return False
        if not self._quotas[kind].pick(meter.book_id):
            return False
        meter.plain_from = len(tags) - 1
        return True

    def _tou_drifts(
        self, meter: _Meter, parts: list[tuple[int, int, int, int]], tags: list[str | None]
    ) -> dict[int, tuple[int, int]]:
        """Periods where one TOU register lags the total register (a stuck or slow register,
        分时度差 ≥ 3 kWh): {period: (register index, 0.01 kWh it lags by)}. The flat register
        lags; on a two-rate meter (no flat register) the peak or valley one would."""
        if not meter.anomalies or not (meter.flat_register or TOU_DRIFT_ON_TWO_RATE_METERS):
            return {}
        rng = self.rng
        register = 1 if meter.flat_register else rng.choice((0, 2))
        lags: dict[int, tuple[int, int]] = {}

        def can_lag(index: int) -> bool:
            return (
                tags[index] is None and parts[index][register] * meter.multiplier >= TOU_DRIFT_MIN
            )

        last = len(parts) - 1
        forced = can_lag(last) and self._plants_last(Anomaly.tou_drift, meter, tags)
        for index, part in enumerate(parts):
            chosen = rng.random() < P_TOU_DRIFT
            if forced and index >= last - 1:
                chosen = index == last  # the latest period, against a clean previous one
            if chosen and can_lag(index):
                lags[index] = (register, int(part[register] * rng.uniform(0.3, 0.9)))
                tags[index] = Anomaly.tou_drift
                self.anomalies[Anomaly.tou_drift] += 1
        return lags

    def _reactive_deltas(
        self, meter: _Meter, deltas: list[int], tags: list[str | None], *, drop_last: bool = False
    ) -> list[int]:
        """Reactive energy per period from a power factor around the meter's own; with
        `drop_last`, the power factor drops in the latest period (and not the one before)."""
        rng = self.rng
        # Most customers compensate (capacitor banks) to earn the full credit; the others sit
        # around the standard, where a month's step up or down the table swings the adjustment.
        compensated = rng.random() < SHARE_COMPENSATED
        power_factor = rng.uniform(0.95, 0.98) if compensated else rng.uniform(0.80, 0.94)
        last = len(deltas) - 1
        reactive = []
        for index, delta in enumerate(deltas):
            if drop_last and index >= last - 1:
                dropped = index == last
            else:
                dropped = (
                    meter.anomalies and tags[index] is None and rng.random() < P_POWER_FACTOR_DROP
                )
            if dropped:
                period_factor = rng.uniform(0.60, 0.70)
                tags[index] = Anomaly.power_factor_drop
                self.anomalies[Anomaly.power_factor_drop] += 1
            else:
                jitter = rng.uniform(-POWER_FACTOR_JITTER, POWER_FACTOR_JITTER)
                period_factor = min(0.99, power_factor + jitter)
            reactive.append(round(delta * math.tan(math.acos(period_factor))))
        return reactive

    def _recorded_anomaly(self, meter: _Meter, tou: bool, index: int) -> str | None:
        """What happens to reading `index` as recorded: missing, estimated, reversed or None."""
        if not meter.anomalies or (meter.plain_from is not None and index >= meter.plain_from):
            return None
        draw = self.rng.random()
        if draw < P_MISSING:
            return Anomaly.missing_reading
        if draw < P_MISSING + P_ESTIMATED:
            return Anomaly.estimated
        if not tou and draw < P_MISSING + P_ESTIMATED + P_REVERSE:
            return Anomaly.reverse_reading
        return None

    def _total_readings(
        self,
        meter: _Meter,
        start: int,
        cap: int,
        deltas: list[int],
        tags: list[str | None],
        rollover: bool,
    ) -> Iterator[ReadingRow]:
        rng = self.rng
        randrange = rng.randrange
        starts = meter.day_starts
        true = start
        recorded = start  # the last stored value, wrapped
        if not meter.new:
            opening_at = starts[0] + timedelta(minutes=randrange(480))
            yield self._reading(meter, opening_at, start, None, None, None, None)
        for index, delta in enumerate(deltas, start=1):
            true += delta
            read_at = starts[index] + timedelta(minutes=randrange(480))
            tag = tags[index - 1]
            kind = None if tag else self._recorded_anomaly(meter, False, index)
            if kind == Anomaly.missing_reading:
                self.anomalies[kind] += 1
                continue
            if kind == Anomaly.estimated:
                value = recorded + int((true - recorded) * rng.uniform(0.6, 0.95))
                self.anomalies[kind] += 1
                recorded = value
                yield self._reading(meter, read_at, value, None, None, None, kind, estimated=True)
                continue
            if kind == Anomaly.reverse_reading and recorded >= 200:
                value = recorded - rng.randint(100, min(5000, recorded))
                self.anomalies[kind] += 1
                recorded = value
                yield self._reading(meter, read_at, value, None, None, None, kind)
                continue
            value = true % cap
            if rollover and value < recorded:
                tag = Anomaly.rollover
                self.anomalies[tag] += 1
            recorded = value
            yield self._reading(meter, read_at, value, None, None, None, tag)

    def _tou_readings(
        self,
        meter: _Meter,
        registers: list[int],
        parts: list[tuple[int, int, int, int]],
        tags: list[str | None],
        lags: dict[int, tuple[int, int]],
    ) -> Iterator[ReadingRow]:
        """Readings of a TOU meter: registers are [peak, flat, valley, reactive]; `lags` (see
        `_tou_drifts`) holds a TOU register back from the period on, the total goes on."""
        rng = self.rng
        randrange = rng.randrange
        starts = meter.day_starts
        true = list(registers)
        recorded = list(registers)
        lag = [0, 0, 0]
        if not meter.new:
            opening_at = starts[0] + timedelta(minutes=randrange(480))
            yield self._tou_reading(meter, opening_at, true, lag, None)
        for index, part in enumerate(parts, start=1):
            true = [register + delta for register, delta in zip(true, part, strict=True)]
            if index - 1 in lags:
                register, behind = lags[index - 1]
                lag[register] += behind
            read_at = starts[index] + timedelta(minutes=randrange(480))
            tag = tags[index - 1]
            kind = None if tag else self._recorded_anomaly(meter, True, index)
            if kind == Anomaly.missing_reading:
                self.anomalies[kind] += 1
                continue
            if kind == Anomaly.estimated:
                share = rng.uniform(0.6, 0.95)
                recorded = [
                    old + int((new - old) * share) for old, new in zip(recorded, true, strict=True)
                ]
                self.anomalies[kind] += 1
                yield self._tou_reading(meter, read_at, recorded, lag, kind, estimated=True)
                continue
            recorded = true
            yield self._tou_reading(meter, read_at, true, lag, tag)

    def _tou_reading(
        self,
        meter: _Meter,
        read_at: datetime,
        registers: list[int],
        lag: list[int],
        anomaly: str | None,
        *,
        estimated: bool = False,
    ) -> ReadingRow:
        peak, flat, valley, reactive = registers
        reading = self._reading(
            meter,
            read_at,
            peak + flat + valley,
            peak - lag[0],
            flat - lag[1],
            valley - lag[2],
            anomaly,
            estimated=estimated,
        )
        if meter.reactive:
            reading.reactive = to_kwh(reactive)
        return reading

    def _reading(
        self,
        meter: _Meter,
        read_at: datetime,
        total: int,
        peak: int | None,
        flat: int | None,
        valley: int | None,
        anomaly: str | None,
        *,
        estimated: bool = False,
    ) -> ReadingRow:
        return ReadingRow(
            id=self._take_id("meter_reading"),
            meter_id=meter.id,
            read_at=read_at,
            total=to_kwh(total),
            peak=None if peak is None else to_kwh(peak),
            flat=None if flat is None else to_kwh(flat),
            valley=None if valley is None else to_kwh(valley),
            source=ReadingSource.estimated if estimated else meter.source,
            reader_id=None if estimated else meter.reader_id,
            estimated=estimated,
            anomaly=anomaly,
        )

    # -- names, addresses, phones -------------------------------------------------------------

    def _chinese_name(self) -> str:
        rng = self.rng
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
        return rng.choice(SURNAMES) + given

    def _english_name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _cn_address(self, region: Region, *, residential: bool) -> str:
        rng = self.rng
        city, districts = rng.choice(region.cities)
        street = f"{city}{rng.choice(districts)}{rng.choice(ROADS)}{rng.randint(1, 300)}号"
        if residential:
            return (
                f"{street}{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元"
                f"{rng.randint(1, 33)}{rng.randint(1, 8):02d}室"
            )
        return f"{street}{rng.randint(1, 5)}层{rng.randint(1, 40)}号铺"

    def _us_address(self) -> str:
        rng = self.rng
        city, zips = rng.choice(_US)
        return (
            f"{rng.randint(10, 9999)} {rng.choice(STREETS)} St, Apt {rng.randint(1, 40)}, "
            f"{city} {rng.choice(zips)}"
        )

    def _cn_phone(self) -> str:
        span = CN_FICTION_LAST - CN_SYNTHETIC_FIRST + 1
        number = CN_SYNTHETIC_FIRST + self._cn_phone_seq % span  # shared numbers past the span
        self._cn_phone_seq += 1
        return e164(f"+86{number}")

    def _us_phone(self) -> str:
        sequence = self._us_phone_seq
        self._us_phone_seq += 1
        area = US_AREA_CODES[(sequence // len(US_FICTION_LINES)) % len(US_AREA_CODES)]
        line = US_FICTION_LINES[sequence % len(US_FICTION_LINES)]
        return e164(f"+1{area}555{line:04d}")


def generate_population(config: SeedConfig) -> Iterator[Row]:
    """Every row of a population, parents before children. Same config, same rows."""
    return SeedPopulation(config).rows()
