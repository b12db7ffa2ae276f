"""Parsing reading imports: CSV line by line, Green Button units and TOU split, hostile XML
refused without expansion, API items checked one by one."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.readings.importing import (
    ImportRefused,
    ParsedReading,
    Rejection,
    parse_api_json,
    parse_csv,
    parse_green_button,
)
from billing_core.readings.model import ReadingSource

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parents[2] / "fixtures" / "greenbutton"
HEADER = "meter_serial,read_at,total,peak,flat,valley,source,reader_id\n"


def csv_of(*lines: str, header: str = HEADER) -> str:
    return header + "".join(line + "\n" for line in lines)


def reasons(rejections: tuple[Rejection, ...]) -> dict[str, str]:
    return {r.where: r.reason for r in rejections}


# --- CSV ------------------------------------------------------------------------------------


def test_a_good_csv_line_becomes_a_reading_in_utc_with_exact_decimals() -> None:
    batch = parse_csv(
        csv_of("M1,2026-11-05T09:30,1234.5,400,500.25,334.25,reader,R07"), tz=TZ, now=NOW
    )
    assert batch.rejections == ()
    (reading,) = batch.readings
    assert reading.meter_serial == "M1"
    assert reading.read_at == datetime(2026, 11, 5, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    assert reading.total == Decimal("1234.500")
    assert (reading.peak, reading.flat, reading.valley) == (
        Decimal("400.000"),
        Decimal("500.250"),
        Decimal("334.250"),
    )
    assert reading.source is ReadingSource.reader and reading.reader_id == "R07"
    assert reading.where == "line 2"


def test_trailing_zeros_are_no_extra_places_and_control_characters_are_refused() -> None:
    batch = parse_csv(
        csv_of("M1,2026-11-05T09:30,1234.5670,,,,,", "M\x072,2026-11-05T09:30,1,,,,,"),
        tz=TZ,
        now=NOW,
    )
    assert [r.total for r in batch.readings] == [Decimal("1234.567")]
    assert "meter_serial 'M\\x072' holds control characters" in reasons(batch.rejections)["line 3"]


def test_an_offset_in_read_at_wins_over_the_local_time_zone() -> None:
    batch = parse_csv(csv_of("M1,2026-11-05T09:30:00Z,1,,,,,"), tz=TZ, now=NOW)
    assert batch.readings[0].read_at == datetime(2026, 11, 5, 9, 30, tzinfo=UTC)


def test_a_malformed_csv_is_reported_line_by_line_and_good_lines_survive() -> None:
    text = csv_of(
        "M1,2026-11-05T09:30,100,,,,,",  # line 2: good
        "M2,2026-11-05T09:30,abc,,,,,",  # 3
        "M3,2026-11-05T09:30,-5,,,,,",  # 4
        "M4,2026-12-05T09:30,10,,,,,",  # 5: future
        "M5,2026-11-05T09:30,10,4,5,,,",  # 6: partial TOU
        "M1,2026-11-05T09:30,100,,,,,",  # 7: duplicate of line 2
        "M6,2026-11-05T09:30,10.1234,,,,,",  # 8: four places
        "M7,yesterday,10,,,,,",  # 9
        "M8,2026-11-05T09:30,10,,,,manual,",  # 10
        ",2026-11-05T09:30,10,,,,,",  # 11: no meter
        "M9,2026-11-05T09:30,10",  # 12: short
        "",  # 13: blank, ignored
        "M10,2026-11-05,10,,,,,",  # 14: no time of day
        "M11,2026-11-05T09:30,,,,,,",  # 15: no total
        "M12,2026-11-05T09:30,NaN,,,,,",  # 16
        "M13,0001-01-01T00:00,1,,,,,",  # 17
    )
    batch = parse_csv(text, tz=TZ, now=NOW)
    assert [r.meter_serial for r in batch.readings] == ["M1"]
    assert reasons(batch.rejections) == {
        "line 3": "total 'abc' is not a number",
        "line 4": "total '-5' is negative",
        "line 5": "read_at '2026-12-05T09:30' is in the future",
        "line 6": "peak, flat and valley go together: valley missing",
        "line 7": "duplicate of line 2 (same meter M1 and read time)",
        "line 8": "total '10.1234' has more than 3 decimal places",
        "line 9": "read_at 'yesterday' is not an ISO 8601 date and time",
        "line 10": "source 'manual' is not one of reader, smart, api, customer, estimated",
        "line 11": "meter_serial or account_number is required",
        "line 12": "3 fields, the header has 8",
        "line 14": "read_at '2026-11-05' needs a time of day, e.g. 2026-11-05T09:30",
        "line 15": "total is missing",
        "line 16": "total 'NaN' is not a number",
        "line 17": "read_at '0001-01-01T00:00' is out of range",
    }
    assert str(batch.rejections[0]) == "line 3: total 'abc' is not a number"


def test_several_problems_on_one_line_are_all_named() -> None:
    batch = parse_csv(csv_of("M1,2026-11-05T09:30,x,-1,2,3,robot,"), tz=TZ, now=NOW)
    reason = batch.rejections[0].reason
    assert "total 'x' is not a number" in reason
    assert "peak '-1' is negative" in reason
    assert "source 'robot'" in reason


def test_an_unclosed_quote_rejects_that_record_only() -> None:
    text = csv_of('M1,2026-11-05T09:30,"12,,,,,', "M2,2026-11-05T09:30,5,,,,,")
    batch = parse_csv(text, tz=TZ, now=NOW)
    assert batch.readings == ()
    assert "unclosed quote" in batch.rejections[0].reason
    assert batch.rejections[0].where.startswith("line")


def test_an_account_number_identifies_the_reading_and_source_sets_estimated() -> None:
    header = "account_number,read_at,total,source\n"
    batch = parse_csv(
        csv_of("9000000001,2026-11-05 09:30,12,estimated", header=header), tz=TZ, now=NOW
    )
    (reading,) = batch.readings
    assert reading.account_number == "9000000001" and reading.meter_serial is None
    assert reading.estimated and reading.source is ReadingSource.estimated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("meter_serial,read_at\nM1,2026-11-05T09:30\n", "lacks total"),
        ("read_at,total\n", "lacks meter_serial or account_number"),
        ("meter_serial,read_at,total,peek\n", "unknown column(s) 'peek'"),
        ("meter_serial,read_at,total,total\n", "total appear more than once"),
        ("meter_serial;read_at;total\nM1;2026-11-05T09:30;1\n", "not comma-separated"),
    ],
)
def test_a_csv_without_a_usable_header_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(ImportRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_csv(text, tz=TZ, now=NOW)


def test_a_byte_order_mark_and_header_case_are_tolerated() -> None:
    text = "\ufeffMeter_Serial, Read_At ,TOTAL\nM1,2026-11-05T09:30,1\n"
    assert len(parse_csv(text, tz=TZ, now=NOW).readings) == 1


def test_a_wall_clock_time_skipped_by_daylight_saving_is_refused() -> None:
    new_york = ZoneInfo("America/New_York")
    batch = parse_csv(csv_of("M1,2026-03-08T02:30,1,,,,,"), tz=new_york, now=NOW)
    assert "does not exist" in batch.rejections[0].reason


@given(
    st.lists(
        st.lists(st.text(alphabet="M0123456789-:.T,ab \"'", max_size=12), min_size=0, max_size=9),
        max_size=15,
    )
)
def test_every_data_line_becomes_a_reading_or_a_rejection(rows: list[list[str]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    body = buffer.getvalue()
    batch = parse_csv(HEADER + body, tz=TZ, now=NOW)
    non_blank = sum(1 for row in rows if any(cell.strip() for cell in row))
    assert batch.received == non_blank
    assert all(r.reason for r in batch.rejections)


# --- API JSON -------------------------------------------------------------------------------


def test_api_items_are_checked_one_by_one() -> None:
    batch = parse_api_json(
        [
            {"meter_serial": "M1", "read_at": "2026-11-05T09:30:00+08:00", "total": "12.5"},
            {"meter_serial": "M2", "read_at": "2026-11-05T09:30:00+08:00", "total": Decimal("7")},
            {"meter_serial": "M3", "read_at": "2026-11-05T09:30:00+08:00", "total": 12.5},
            {"meter_serial": "M4", "read_at": "2026-11-05T09:30", "total": "1", "peek": "2"},
            {"meter_serial": "M5", "total": "1"},
            "not a reading",
            {
                "meter_serial": "M6",
                "read_at": "2026-11-05T09:30",
                "total": "1",
                "source": "customer",
            },
        ],
        tz=TZ,
        now=NOW,
    )
    assert [r.meter_serial for r in batch.readings] == ["M1", "M2", "M6"]
    assert batch.readings[0].source is ReadingSource.api
    assert batch.readings[2].source is ReadingSource.customer
    assert reasons(batch.rejections) == {
        "readings[2]": "total must be a string or an exact number (not a float)",
        "readings[3]": "unknown field 'peek'",
        "readings[4]": "read_at is missing",
        "readings[5]": "not an object",
    }


def test_api_payload_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(ImportRefused):
        parse_api_json({"meter_serial": "M1"}, tz=TZ, now=NOW)


# --- Green Button ---------------------------------------------------------------------------


def shanghai_tou(at: datetime) -> str:
    """A test schedule: peak 17–22, valley 0–7, flat otherwise (local hours)."""
    if 17 <= at.hour < 22:
        return "peak"
    return "valley" if at.hour < 7 else "flat"


def test_green_button_blocks_become_advance_readings_at_the_end_of_each_block() -> None:
    data = (FIXTURES / "hourly_two_days.xml").read_bytes()
    batch = parse_green_button(data, tz=TZ, now=NOW, period_of=shanghai_tou)
    assert batch.rejections == ()
    first, second = batch.readings
    assert first.meter_serial == "GB0000001"
    assert first.advance and first.source is ReadingSource.smart
    # 1 November 2026, a Shanghai day: 00:00+08:00 to 24:00+08:00.
    assert first.period_start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert first.read_at == datetime(2026, 11, 1, 16, tzinfo=UTC)
    assert second.period_start == first.read_at
    # 7 h × 200 Wh valley, 5 h × 450 Wh peak, 12 h × 300 Wh flat.
    assert first.total == Decimal("7.250")
    assert (first.peak, first.flat, first.valley) == (
        Decimal("2.250"),
        Decimal("3.600"),
        Decimal("1.400"),
    )
    assert not first.tou_split_assumed


def test_without_a_schedule_every_interval_counts_as_flat_and_says_so() -> None:
    data = (FIXTURES / "hourly_two_days.xml").read_bytes()
    reading = parse_green_button(data, tz=TZ, now=NOW).readings[0]
    assert (reading.peak, reading.flat, reading.valley) == (
        Decimal("0.000"),
        Decimal("7.250"),
        Decimal("0.000"),
    )
    assert reading.tou_split_assumed


def feed(
    *values: str,
    uom: str = "72",
    power: str = "0",
    accumulation: str = "4",
    flow: str = "1",
    title: str = "GB7",
    start: int = 1_793_548_800,  # 2026-11-01T16:00:00Z
    duration: int = 3600,
    block_duration: int | None = None,
    quality: str | None = None,
) -> bytes:
    """A minimal ESPI feed: one usage point, one meter reading, one block of `values`."""
    base = "https://utility.example/espi/1_1/resource/RetailCustomer/1/UsagePoint/1"
    intervals = "".join(
        "<IntervalReading>"
        + (f"<ReadingQuality><quality>{quality}</quality></ReadingQuality>" if quality else "")
        + f"<timePeriod><duration>{duration}</duration><start>{start + i * duration}</start>"
        f"</timePeriod><value>{value}</value></IntervalReading>"
        for i, value in enumerate(values)
    )
    span = block_duration if block_duration is not None else duration * len(values)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
 <entry><link rel="self" href="{base}"/><title>{title}</title>
  <content><espi:UsagePoint/></content></entry>
 <entry><link rel="self" href="{base}/MeterReading/1"/>
  <link rel="related" href="ReadingType/1"/>
  <content><espi:MeterReading/></content></entry>
 <entry><link rel="self" href="https://utility.example/espi/1_1/resource/ReadingType/1"/>
  <content><ReadingType xmlns="http://naesb.org/espi">
   <accumulationBehaviour>{accumulation}</accumulationBehaviour>
   <flowDirection>{flow}</flowDirection>
   <powerOfTenMultiplier>{power}</powerOfTenMultiplier><uom>{uom}</uom>
  </ReadingType></content></entry>
 <entry><link rel="self" href="{base}/MeterReading/1/IntervalBlock/1"/>
  <content><IntervalBlock xmlns="http://naesb.org/espi">
   <interval><duration>{span}</duration><start>{start}</start></interval>
   {intervals}
  </IntervalBlock></content></entry>
</feed>""".encode()


def only_reading(data: bytes) -> ParsedReading:
    batch = parse_green_button(data, tz=TZ, now=NOW)
    assert batch.rejections == (), batch.rejections
    (reading,) = batch.readings
    return reading


def test_watt_hours_are_converted_to_kwh_exactly() -> None:
    assert only_reading(feed("974", "1026")).total == Decimal("2.000")


def test_power_of_ten_multiplier_three_on_wh_means_kwh() -> None:
    assert only_reading(feed("5", "7", power="3")).total == Decimal("12.000")


def test_power_of_ten_multiplier_minus_three_gives_milliwatt_hours() -> None:
    assert only_reading(feed("1500000", "250000", power="-3")).total == Decimal("1.750")


def test_more_precision_than_a_register_holds_is_rejected_not_rounded() -> None:
    batch = parse_green_button(feed("1", power="-3"), tz=TZ, now=NOW)
    assert batch.readings == ()
    assert "more than 3 decimal places" in batch.rejections[0].reason


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"uom": "38"}, "uom 38: only 72 (Wh)"),
        ({"accumulation": "3"}, "accumulationBehaviour 3"),
        ({"flow": "19"}, "flowDirection 19"),
        ({"title": ""}, "<title> must hold the meter serial"),
    ],
)
def test_unsupported_reading_types_are_rejected_per_block(
    options: dict[str, str], message: str
) -> None:
    batch = parse_green_button(feed("100", **options), tz=TZ, now=NOW)  # type: ignore[arg-type]
    assert batch.readings == ()
    assert message in batch.rejections[0].reason
    assert batch.rejections[0].where.startswith("IntervalBlock #1")


@pytest.mark.parametrize(
    ("value", "message"),
    [("-5", "negative"), ("abc", "not a number"), ("1.5", "integer"), ("1" + "0" * 28, "Int48")],
)
def test_bad_interval_values_reject_their_block(value: str, message: str) -> None:
    batch = parse_green_button(feed("100", value), tz=TZ, now=NOW)
    assert message in batch.rejections[0].reason


def test_missing_intervals_are_noted_for_a_person() -> None:
    reading = only_reading(feed("100", "100", block_duration=3 * 3600))
    assert reading.notes == ("interval data missing for 1:00:00 of the block",)
    assert reading.read_at == datetime(2026, 11, 1, 19, tzinfo=UTC)


def test_intervals_the_head_end_estimated_mark_the_reading_estimated() -> None:
    assert only_reading(feed("100", quality="8")).estimated


def test_a_block_ending_in_the_future_is_rejected() -> None:
    batch = parse_green_button(feed("100", start=1_900_000_000), tz=TZ, now=NOW)
    assert "future" in batch.rejections[0].reason


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_hostile_xml_is_refused_whole_without_expansion(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    with pytest.raises(ImportRefused, match="DTD") as refused:
        parse_green_button(data, tz=TZ, now=NOW)
    assert "lol" not in str(refused.value) and "root:" not in str(refused.value)


def test_an_external_dtd_is_refused_without_being_fetched() -> None:
    data = b'<!DOCTYPE feed SYSTEM "http://attacker.example/x.dtd"><feed/>'
    with pytest.raises(ImportRefused, match="DTD"):
        parse_green_button(data, tz=TZ, now=NOW)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<feed><entry>", "not well-formed"),
        (b"<html/>", "not a Green Button feed"),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"/>', "no IntervalBlock"),
        (b"meter_serial,read_at,total\n", "not well-formed"),
    ],
)
def test_documents_that_are_not_green_button_feeds_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ImportRefused, match=message):
        parse_green_button(data, tz=TZ, now=NOW)


def test_a_schedule_that_answers_nonsense_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="period_of"):
        parse_green_button(feed("100"), tz=TZ, now=NOW, period_of=lambda _: "shoulder")


def test_each_block_goes_to_the_meter_of_its_own_usage_point() -> None:
    base = "https://utility.example/espi/1_1/resource"

    def usage_point(n: int, serial: str, value: int) -> str:
        point = f"{base}/RetailCustomer/1/UsagePoint/{n}"
        return f"""
 <entry><link rel="self" href="{point}"/><title>{serial}</title>
  <content><UsagePoint xmlns="http://naesb.org/espi"/></content></entry>
 <entry><link rel="self" href="{point}/MeterReading/1"/>
  <link rel="up" href="{point}/MeterReading"/>
  <link rel="related" href="{base}/ReadingType/1"/>
  <content><MeterReading xmlns="http://naesb.org/espi"/></content></entry>
 <entry><link rel="self" href="{point}/MeterReading/1/IntervalBlock/1"/>
  <content><IntervalBlock xmlns="http://naesb.org/espi">
   <IntervalReading><timePeriod><duration>3600</duration><start>1793548800</start>
   </timePeriod><value>{value}</value></IntervalReading>
  </IntervalBlock></content></entry>"""

    stray = f"{base}/RetailCustomer/1/UsagePoint/3/MeterReading/1/IntervalBlock/1"
    data = f"""<feed xmlns="http://www.w3.org/2005/Atom">
 <entry><link rel="self" href="{base}/ReadingType/1"/>
  <content><ReadingType xmlns="http://naesb.org/espi"><uom>72</uom></ReadingType></content>
 </entry>{usage_point(10, "B-10", 2000)}{usage_point(1, "A-1", 1000)}
 <entry><link rel="self" href="{stray}"/>
  <content><IntervalBlock xmlns="http://naesb.org/espi"/></content></entry>
</feed>""".encode()
    batch = parse_green_button(data, tz=TZ, now=NOW)
    assert {(r.meter_serial, r.total) for r in batch.readings} == {
        ("B-10", Decimal("2.000")),
        ("A-1", Decimal("1.000")),
    }
    (orphan,) = batch.rejections
    assert orphan.reason == "no MeterReading entry links to it"
