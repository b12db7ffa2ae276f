"""Parsing of reading imports (CSV, Green Button / ESPI XML, API JSON) into plain values: each
bad line or element becomes a Rejection with its reason; nothing here touches the database."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from pydantic import BaseModel, ConfigDict, ValidationError

from billing_core.importing import (
    FUTURE_TOLERANCE,
    ImportRefused,
    Rejection,
    check_header,
    csv_records,
    decimal_places,
    parse_instant,
    text_field,
)
from billing_core.readings.model import ReadingSource

KWH_PLACES = 3
KWH_QUANTUM = Decimal(1).scaleb(-KWH_PLACES)
# The columns hold NUMERIC(18, 3): at most 15 digits before the point.
MAX_REGISTER = Decimal(10) ** 15
# A handheld's or a head-end's clock may run a little ahead of ours.

ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
UOM_WH = 72  # ESPI UnitSymbolKind: watt-hours
ACCUMULATION_DELTA = 4  # ESPI AccumulationKind deltaData: each interval's own consumption
FLOW_FORWARD = 1  # ESPI FlowDirectionKind: energy delivered to the customer
ESPI_INT48_LIMIT = 2**47  # keeps every sum exact within Decimal's 28 digits
ESTIMATED_QUALITIES = frozenset({8, 9})  # ESPI QualityOfReading: estimated (reference day, interp.)

PeriodOf = Callable[[datetime], str]

REQUIRED_CSV_COLUMNS = ("read_at", "total")
IDENTITY_COLUMNS = ("meter_serial", "account_number")
OPTIONAL_CSV_COLUMNS = ("peak", "flat", "valley", "reactive", "source", "reader_id")
KNOWN_CSV_COLUMNS = (*IDENTITY_COLUMNS, *REQUIRED_CSV_COLUMNS, *OPTIONAL_CSV_COLUMNS)
TOU_REGISTERS = ("peak", "flat", "valley")


@dataclass(frozen=True)
class ParsedReading:
    """A reading as the file gave it, checked for shape but not yet matched to a meter.

    `advance` readings come from interval data: their registers are the consumption from
    `period_start` to `read_at`, which the service adds to the meter's previous reading."""

    where: str
    position: int
    read_at: datetime  # aware, UTC
    total: Decimal
    meter_serial: str | None = None
    account_number: str | None = None
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None
    reactive: Decimal | None = None
    source: ReadingSource = ReadingSource.reader
    reader_id: str | None = None
    estimated: bool = False
    advance: bool = False
    period_start: datetime | None = None  # interval data only
    tou_split_assumed: bool = False  # interval data split with the default all-flat schedule
    notes: tuple[str, ...] = ()  # the parser's own flags (e.g. missing intervals)

    @property
    def identity(self) -> str:
        if self.meter_serial:
            return f"meter {self.meter_serial}"
        return f"account {self.account_number}"


@dataclass(frozen=True)
class ParsedBatch:
    readings: tuple[ParsedReading, ...] = ()
    rejections: tuple[Rejection, ...] = ()

    @property
    def received(self) -> int:
        return len(self.readings) + len(self.rejections)


# --- shared field checks --------------------------------------------------------------------


def _quantity(name: str, raw: str, problems: list[str]) -> Decimal | None:
    """A register value in kWh (or kvarh): a plain, non-negative decimal with at most three
    places. More places are refused, never rounded: a register is read, not computed."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        problems.append(f"{name} {raw!r} is not a number")
        return None
    if not value.is_finite():
        problems.append(f"{name} {raw!r} is not a number")
    elif value < 0:
        problems.append(f"{name} {raw!r} is negative")
    elif decimal_places(value) > KWH_PLACES:
        problems.append(f"{name} {raw!r} has more than {KWH_PLACES} decimal places")
    elif value >= MAX_REGISTER:
        problems.append(f"{name} {raw!r} is too large")
    else:
        return value.quantize(KWH_QUANTUM)
    return None


def _check_row(
    values: Mapping[str, str | None],
    *,
    where: str,
    position: int,
    default_source: ReadingSource,
    tz: tzinfo,
    now: datetime,
) -> ParsedReading | Rejection:
    """The checks every source of readings shares, over string fields."""
    problems: list[str] = []

    def raw(name: str) -> str:
        return (values.get(name) or "").strip()

    serial = text_field("meter_serial", raw("meter_serial"), 32, problems)
    account = text_field("account_number", raw("account_number"), 20, problems)
    if not serial and not account and not problems:
        problems.append("meter_serial or account_number is required")

    read_at = None
    if raw("read_at"):
        read_at = parse_instant(raw("read_at"), field="read_at", tz=tz, now=now, problems=problems)
    else:
        problems.append("read_at is missing")

    total = None
    if raw("total"):
        total = _quantity("total", raw("total"), problems)
    else:
        problems.append("total is missing")

    registers: dict[str, Decimal | None] = {}
    for name in (*TOU_REGISTERS, "reactive"):
        registers[name] = _quantity(name, raw(name), problems) if raw(name) else None
    given = [name for name in TOU_REGISTERS if raw(name)]
    if given and len(given) < len(TOU_REGISTERS):
        missing = ", ".join(name for name in TOU_REGISTERS if name not in given)
        problems.append(f"peak, flat and valley go together: {missing} missing")

    source = default_source
    if raw("source"):
        try:
            source = ReadingSource(raw("source").lower())
        except ValueError:
            choices = ", ".join(s.value for s in ReadingSource)
            problems.append(f"source {raw('source')!r} is not one of {choices}")

    reader_id = text_field("reader_id", raw("reader_id"), 32, problems)

    if problems or read_at is None or total is None:
        return Rejection(where, "; ".join(problems), position)
    return ParsedReading(
        where=where,
        position=position,
        read_at=read_at,
        total=total,
        meter_serial=serial,
        account_number=account,
        peak=registers["peak"],
        flat=registers["flat"],
        valley=registers["valley"],
        reactive=registers["reactive"],
        source=source,
        reader_id=reader_id,
        estimated=source is ReadingSource.estimated,
    )


def _drop_duplicates(items: Iterable[ParsedReading | Rejection]) -> ParsedBatch:
    """A second line for the same meter (or account) and instant is refused: which of the two
    is right is for a person to say, so the first is kept and the second reported."""
    readings: list[ParsedReading] = []
    rejections: list[Rejection] = []
    seen: dict[tuple[str, datetime], str] = {}
    for item in items:
        if isinstance(item, Rejection):
            rejections.append(item)
            continue
        key = (item.identity, item.read_at)
        if key in seen:
            rejections.append(
                Rejection(
                    item.where,
                    f"duplicate of {seen[key]} (same {item.identity} and read time)",
                    item.position,
                )
            )
            continue
        seen[key] = item.where
        readings.append(item)
    return ParsedBatch(tuple(readings), tuple(rejections))


# --- CSV ------------------------------------------------------------------------------------


def parse_csv(text: str, *, tz: tzinfo, now: datetime) -> ParsedBatch:
    """Readings from a CSV file with a header row (see docs/readings.md for the columns).

    Raises ImportRefused when the header is missing or names unknown columns; every bad data
    line becomes a Rejection("line N", reason)."""
    items: list[ParsedReading | Rejection] = []
    for record in csv_records(text, _check_header):
        if isinstance(record, Rejection):
            items.append(record)
            continue
        items.append(
            _check_row(
                record.fields,
                where=record.where,
                position=record.position,
                default_source=ReadingSource.reader,
                tz=tz,
                now=now,
            )
        )
    return _drop_duplicates(items)


def _check_header(columns: Sequence[str]) -> None:
    check_header(
        columns,
        known=KNOWN_CSV_COLUMNS,
        required=REQUIRED_CSV_COLUMNS,
        one_of=(IDENTITY_COLUMNS, "meter_serial or account_number"),
    )


# --- API JSON -------------------------------------------------------------------------------


class ApiReading(BaseModel):
    """One reading in `POST /api/v1/readings`. Numbers are strings or exact JSON numbers
    (parsed as Decimal); binary floats are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    meter_serial: str | None = None
    account_number: str | None = None
    read_at: str
    total: str | int | Decimal
    peak: str | int | Decimal | None = None
    flat: str | int | Decimal | None = None
    valley: str | int | Decimal | None = None
    reactive: str | int | Decimal | None = None
    source: str | None = None
    reader_id: str | None = None


def parse_api_json(payload: Any, *, tz: tzinfo, now: datetime) -> ParsedBatch:
    """Readings from the API body's `readings` list: one Rejection("readings[i]", reason) per
    item that is not acceptable. Raises ImportRefused when `payload` is not a list."""
    if not isinstance(payload, list):
        raise ImportRefused("readings must be a list of objects")
    items: list[ParsedReading | Rejection] = []
    for index, item in enumerate(payload):
        where = f"readings[{index}]"
        if not isinstance(item, dict):
            items.append(Rejection(where, "not an object", index))
            continue
        try:
            reading = ApiReading.model_validate(item)
        except ValidationError as exc:
            items.append(Rejection(where, _pydantic_reasons(exc), index))
            continue
        fields = {
            name: None if value is None else str(value)
            for name, value in reading.model_dump().items()
        }
        items.append(
            _check_row(
                fields,
                where=where,
                position=index,
                default_source=ReadingSource.api,
                tz=tz,
                now=now,
            )
        )
    return _drop_duplicates(items)


def api_content(payload: Any) -> bytes:
    """The API body's `readings`, canonically serialised: what identifies the batch (its
    sha256), so a retried call is a no-op however the caller ordered keys or spaced it."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _pydantic_reasons(exc: ValidationError) -> str:
    reasons: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "reading"
        if error["type"] == "missing":
            reasons[name] = f"{name} is missing"
        elif error["type"] == "extra_forbidden":
            reasons[name] = f"unknown field {name!r}"
        elif name in ("total", *TOU_REGISTERS, "reactive"):
            reasons[name] = f"{name} must be a string or an exact number (not a float)"
        else:
            reasons[name] = f"{name} must be a string"
    return "; ".join(reasons.values())


# --- Green Button / ESPI --------------------------------------------------------------------


def all_flat(_: datetime) -> str:
    """The default TOU schedule: every interval is flat (平)."""
    return "flat"


@dataclass
class _Entry:
    position: int
    kind: str  # UsagePoint, MeterReading, ReadingType, IntervalBlock
    title: str
    self_href: str
    up_href: str
    related: list[str]
    content: Element


@dataclass
class _ReadingType:
    uom: int | None = None
    power_of_ten: int = 0
    accumulation: int | None = None
    flow: int | None = None
    problems: list[str] = field(default_factory=list)


def parse_green_button(
    data: bytes,
    *,
    tz: tzinfo,
    now: datetime,
    period_of: PeriodOf | None = None,
) -> ParsedBatch:
    """Readings from a Green Button (ESPI) Atom feed: each IntervalBlock becomes one advance
    reading at the block's end, for the meter whose serial is the UsagePoint entry's title.

    Intervals are summed into total and, through `period_of(interval start in tz)`, into peak,
    flat and valley (default: all flat). The XML is parsed with DTDs forbidden, so entity
    bombs and external entities are refused (ImportRefused), never expanded."""
    root = _safe_root(data)
    entries = _entries(root)
    usage_points = [e for e in entries if e.kind == "UsagePoint"]
    meter_readings = [e for e in entries if e.kind == "MeterReading"]
    reading_types = [
        (e.self_href, _reading_type(e.content)) for e in entries if e.kind == "ReadingType"
    ]
    blocks = [e for e in entries if e.kind == "IntervalBlock"]
    if not blocks:
        raise ImportRefused("the feed holds no IntervalBlock: nothing to import")

    schedule = period_of or all_flat
    items: list[ParsedReading | Rejection] = []
    for number, block in enumerate(blocks, start=1):
        where = f"IntervalBlock #{number}" + (f" ({block.self_href})" if block.self_href else "")
        meter_reading = _owner(block, meter_readings, "/IntervalBlock")
        if meter_reading is None:
            items.append(Rejection(where, "no MeterReading entry links to it", block.position))
            continue
        usage_point = _owner(meter_reading, usage_points, "/MeterReading")
        if usage_point is None:
            items.append(
                Rejection(where, "its MeterReading links to no UsagePoint", block.position)
            )
            continue
        serial = usage_point.title.strip()
        if not serial or len(serial) > 32:
            items.append(
                Rejection(
                    where,
                    "its UsagePoint's <title> must hold the meter serial (1–32 characters)",
                    block.position,
                )
            )
            continue
        reading_type = _linked_reading_type(meter_reading, reading_types)
        if reading_type is None:
            items.append(
                Rejection(where, "its MeterReading links to no ReadingType", block.position)
            )
            continue
        if reading_type.problems:
            items.append(Rejection(where, "; ".join(reading_type.problems), block.position))
            continue
        items.append(
            _block_reading(
                block.content,
                where=where,
                position=block.position,
                serial=serial,
                reading_type=reading_type,
                tz=tz,
                now=now,
                period_of=schedule,
                assumed_split=period_of is None,
            )
        )
    return _drop_duplicates(items)


def _safe_root(data: bytes) -> Element:
    try:
        root: Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden:
        raise ImportRefused(
            "refused: the document declares a DTD (<!DOCTYPE …>); Green Button files have "
            "none, and entity definitions are how entity-expansion bombs and external-entity "
            "attacks work. Nothing was expanded or read."
        ) from None
    except EntitiesForbidden as exc:
        raise ImportRefused(
            f"refused: the document defines the entity {exc.name!r}; nothing was expanded or read."
        ) from None
    except DefusedXmlException as exc:
        raise ImportRefused(f"refused: unsafe XML ({type(exc).__name__})") from None
    except ParseError as exc:
        raise ImportRefused(f"not well-formed XML: {exc}") from None
    if root.tag != f"{{{ATOM_NS}}}feed":
        raise ImportRefused(f"not a Green Button feed: the root element is {_local(root.tag)!r}")
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _entries(root: Element) -> list[_Entry]:
    entries = []
    for position, entry in enumerate(root.findall(f"{{{ATOM_NS}}}entry"), start=1):
        content = entry.find(f"{{{ATOM_NS}}}content")
        if content is None:
            continue
        body = next((child for child in content if child.tag.startswith(f"{{{ESPI_NS}}}")), None)
        if body is None:
            continue
        links = entry.findall(f"{{{ATOM_NS}}}link")

        def hrefs(rel: str, links: list[Element] = links) -> list[str]:
            return [
                (link.get("href") or "").strip().rstrip("/")
                for link in links
                if (link.get("rel") or "") == rel
            ]

        entries.append(
            _Entry(
                position=position,
                kind=_local(body.tag),
                title=entry.findtext(f"{{{ATOM_NS}}}title") or "",
                self_href=next(iter(hrefs("self")), ""),
                up_href=next(iter(hrefs("up")), ""),
                related=hrefs("related"),
                content=body,
            )
        )
    return entries


def _owner(child: _Entry, parents: Sequence[_Entry], collection: str) -> _Entry | None:
    """The parent whose self link, followed by `collection`, starts the child's links (ESPI's
    …/UsagePoint/1/MeterReading/1/IntervalBlock/2 convention). A lone parent is taken only
    when the links cannot say otherwise (one side has none)."""
    for parent in parents:
        prefix = parent.self_href + collection
        if parent.self_href and any(
            href == prefix or href.startswith(prefix + "/")
            for href in (child.up_href, child.self_href)
        ):
            return parent
    if len(parents) == 1 and not (parents[0].self_href and (child.up_href or child.self_href)):
        return parents[0]
    return None


def _same_resource(a: str, b: str) -> bool:
    """Hrefs name the same resource, one perhaps relative ("ReadingType/07") to the other."""
    return bool(a and b) and (a == b or a.endswith("/" + b) or b.endswith("/" + a))


def _linked_reading_type(
    meter_reading: _Entry, reading_types: Sequence[tuple[str, _ReadingType]]
) -> _ReadingType | None:
    for href in meter_reading.related:
        for type_href, reading_type in reading_types:
            if _same_resource(href, type_href):
                return reading_type
    names_one = any("/ReadingType" in f"/{href}" for href in meter_reading.related)
    if len(reading_types) == 1 and not names_one:
        return reading_types[0][1]
    return None


def _int_child(element: Element, name: str) -> int | None:
    """An integer child element in the ESPI namespace; ValueError when it is not one."""
    text = element.findtext(f"{{{ESPI_NS}}}{name}")
    if text is None or not text.strip():
        return None
    return int(text.strip())


def _reading_type(content: Element) -> _ReadingType:
    reading_type = _ReadingType()
    try:
        reading_type.uom = _int_child(content, "uom")
        reading_type.power_of_ten = _int_child(content, "powerOfTenMultiplier") or 0
        reading_type.accumulation = _int_child(content, "accumulationBehaviour")
        reading_type.flow = _int_child(content, "flowDirection")
    except ValueError:
        reading_type.problems.append("its ReadingType holds a field that is not an integer")
        return reading_type
    problems = reading_type.problems
    if reading_type.uom is None:
        problems.append("its ReadingType has no uom")
    elif reading_type.uom != UOM_WH:
        problems.append(f"its ReadingType has uom {reading_type.uom}: only {UOM_WH} (Wh) is read")
    if reading_type.accumulation not in (None, ACCUMULATION_DELTA):
        problems.append(
            f"its ReadingType has accumulationBehaviour {reading_type.accumulation}: only "
            f"{ACCUMULATION_DELTA} (deltaData, each interval's consumption) is read"
        )
    if reading_type.flow not in (None, FLOW_FORWARD):
        problems.append(
            f"its ReadingType has flowDirection {reading_type.flow}: only {FLOW_FORWARD} "
            "(forward, energy delivered) is read"
        )
    if not -9 <= reading_type.power_of_ten <= 9:
        problems.append(
            f"its ReadingType has powerOfTenMultiplier {reading_type.power_of_ten}: out of range"
        )
    return reading_type


@dataclass(frozen=True)
class _Interval:
    start: int  # seconds since the epoch, UTC
    end: int
    value: Decimal  # in the ReadingType's unit, before the multiplier
    estimated: bool


def _interval(element: Element, index: int) -> _Interval | str:
    """One IntervalReading, or why it cannot be read."""
    period = element.find(f"{{{ESPI_NS}}}timePeriod")
    try:
        start = _int_child(period, "start") if period is not None else None
        duration = _int_child(period, "duration") if period is not None else None
    except ValueError:
        start = duration = None
    if start is None or duration is None or duration <= 0:
        return f"IntervalReading {index} has no valid timePeriod (start, duration)"
    raw = (element.findtext(f"{{{ESPI_NS}}}value") or "").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return f"IntervalReading {index} value {raw!r} is not a number"
    if not value.is_finite() or value != value.to_integral_value():
        return f"IntervalReading {index} value {raw!r} is not an integer"
    if value < 0:
        return f"IntervalReading {index} value {raw!r} is negative"
    if value >= ESPI_INT48_LIMIT:
        return f"IntervalReading {index} value {raw!r} is out of range (ESPI values are Int48)"
    qualities = {
        (q.text or "").strip()
        for q in element.findall(f"{{{ESPI_NS}}}ReadingQuality/{{{ESPI_NS}}}quality")
    }
    estimated = any(q.isdigit() and int(q) in ESTIMATED_QUALITIES for q in qualities)
    return _Interval(start, start + duration, value, estimated)


def _block_reading(
    content: Element,
    *,
    where: str,
    position: int,
    serial: str,
    reading_type: _ReadingType,
    tz: tzinfo,
    now: datetime,
    period_of: PeriodOf,
    assumed_split: bool,
) -> ParsedReading | Rejection:
    intervals: list[_Interval] = []
    for index, element in enumerate(content.findall(f"{{{ESPI_NS}}}IntervalReading"), 1):
        interval = _interval(element, index)
        if isinstance(interval, str):
            return Rejection(where, interval, position)
        intervals.append(interval)
    if not intervals:
        return Rejection(where, "the block holds no IntervalReading", position)
    intervals.sort(key=lambda i: i.start)
    for before, after in pairwise(intervals):
        if after.start < before.end:
            at = datetime.fromtimestamp(after.start, UTC).isoformat()
            return Rejection(where, f"intervals overlap at {at}", position)

    block_start, block_end = intervals[0].start, intervals[-1].end
    declared = content.find(f"{{{ESPI_NS}}}interval")
    if declared is not None:
        try:
            d_start = _int_child(declared, "start")
            d_duration = _int_child(declared, "duration")
        except ValueError:
            return Rejection(where, "the block's interval is not valid", position)
        if d_start is not None and d_duration is not None:
            if block_start < d_start or block_end > d_start + d_duration:
                return Rejection(
                    where, "IntervalReadings fall outside the block's interval", position
                )
            block_start, block_end = d_start, d_start + d_duration

    # Wh × 10^powerOfTenMultiplier, in kWh: the decimal point moves, exactly.
    shift = reading_type.power_of_ten - 3
    sums = dict.fromkeys(("total", *TOU_REGISTERS), Decimal(0))
    for interval in intervals:
        kwh = interval.value.scaleb(shift)
        period = period_of(datetime.fromtimestamp(interval.start, UTC).astimezone(tz))
        if period not in TOU_REGISTERS:
            raise ValueError(f"period_of returned {period!r}, not peak, flat or valley")
        sums["total"] += kwh
        sums[period] += kwh
    for name, amount in sums.items():
        if amount != amount.quantize(KWH_QUANTUM):
            return Rejection(
                where,
                f"{name} {amount} kWh has more than {KWH_PLACES} decimal places "
                f"(Wh × 10^{reading_type.power_of_ten})",
                position,
            )
        if amount >= MAX_REGISTER:
            return Rejection(where, f"{name} {amount} kWh is too large", position)

    read_at = datetime.fromtimestamp(block_end, UTC)
    if read_at > now + FUTURE_TOLERANCE:
        return Rejection(where, f"the block ends in the future ({read_at.isoformat()})", position)
    covered = sum(i.end - i.start for i in intervals)
    notes: tuple[str, ...] = ()
    if covered < block_end - block_start:
        missing = timedelta(seconds=block_end - block_start - covered)
        notes = (f"interval data missing for {missing} of the block",)
    return ParsedReading(
        where=where,
        position=position,
        read_at=read_at,
        total=sums["total"].quantize(KWH_QUANTUM),
        meter_serial=serial,
        peak=sums["peak"].quantize(KWH_QUANTUM),
        flat=sums["flat"].quantize(KWH_QUANTUM),
        valley=sums["valley"].quantize(KWH_QUANTUM),
        source=ReadingSource.smart,
        estimated=any(i.estimated for i in intervals),
        advance=True,
        period_start=datetime.fromtimestamp(block_start, UTC),
        tou_split_assumed=assumed_split,
        notes=notes,
    )
