"""Reading import on both databases: accepted, rejected and flagged lines, idempotency, all or
nothing, Green Button interval data added to the previous reading, the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.app import create_app
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.db import create_db_engine, session_scope
from billing_core.readings import service
from billing_core.readings.importing import parse_csv, parse_green_button
from billing_core.readings.service import ImportReport, import_readings
from billing_core.readings.tables import Meter, MeterReading, ReadingBatch
from billing_core.settings import Settings
from billing_core.staff.service import add_staff
from tests.conftest import migrated_database
from tests.factories import make_account, make_customer, make_meter, make_reading

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2024, 1, 1, tzinfo=UTC)
FIXTURES = Path(__file__).parents[1] / "fixtures" / "greenbutton"
HEADER = "meter_serial,account_number,read_at,total,peak,flat,valley,source,reader_id\n"


def local(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=TZ)


def csv_of(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


def run_csv(session: Session, clock: FixedClock, text: str, name: str = "book.csv") -> ImportReport:
    return import_readings(
        session=session,
        clock=clock,
        parsed=parse_csv(text, tz=TZ, now=clock.now()),
        source="csv",
        name=name,
        content=text.encode(),
        actor="test",
        tz=TZ,
    )


def readings_of(session: Session, meter: Meter) -> list[MeterReading]:
    statement = (
        select(MeterReading)
        .where(MeterReading.meter_id == meter.id)
        .order_by(col(MeterReading.read_at))
    )
    return list(session.exec(statement))


def count(session: Session, model: type[object]) -> int:
    return session.exec(select(func.count()).select_from(model)).one()  # type: ignore[call-overload]


def shanghai_tou(at: datetime) -> str:
    if 17 <= at.hour < 22:
        return "peak"
    return "valley" if at.hour < 7 else "flat"


@pytest.fixture
def meters(session: Session) -> dict[str, Meter]:
    """Meters with a reading on 5 October 2026 (total 1000; TOU 300/400/300)."""
    customer = make_customer(session, at=AT)

    def meter(serial: str, **fields: object) -> Meter:
        account = make_account(session, customer=customer)
        made = make_meter(session, account=account, serial=serial, **fields)
        make_reading(
            session,
            meter=made,
            read_at=local(10, 5),
            total=Decimal("1000.000"),
            **(
                {"peak": Decimal(300), "flat": Decimal(400), "valley": Decimal(300)}
                if fields.get("tou")
                else {}
            ),
        )
        return made

    return {
        "plain": meter("IMP-PLAIN"),
        "tou": meter("IMP-TOU", tou=True),
        "reverse": meter("IMP-REV"),
        "late": meter("IMP-LATE", installed_on=date(2026, 11, 10)),
        "gone": meter("IMP-GONE", removed_on=date(2026, 10, 31)),
    }


# --- the service ----------------------------------------------------------------------------


def test_a_reader_file_is_accepted_rejected_and_flagged_line_by_line(
    session: Session, clock: FixedClock, meters: dict[str, Meter]
) -> None:
    text = csv_of(
        "IMP-PLAIN,,2026-11-05T09:30,1100,,,,reader,R07",  # 2 accepted
        "IMP-TOU,,2026-11-05T09:40,1100,320,420,320,,",  # 3 flagged: TOU gap 40
        "IMP-REV,,2026-11-05T09:50,900,,,,,",  # 4 flagged: reverse
        "NO-SUCH,,2026-11-05T10:00,5,,,,,",  # 5 rejected: unknown meter
        "IMP-LATE,,2026-11-05T10:00,5,,,,,",  # 6 rejected: before installation
        "IMP-GONE,,2026-11-05T10:00,5,,,,,",  # 7 rejected: after removal
        "IMP-PLAIN,,2026-11-06T09:30,abc,,,,,",  # 8 rejected by the parser
        ",,2026-11-05T10:00,5,,,,,",  # 9 rejected: no meter
        "IMP-PLAIN,,2026-11-07T09:30,1110,,,,customer,",  # 10 flagged: customer-read
        "IMP-PLAIN,,2026-11-08T09:30,1120,10,10,10,,",  # 11 rejected: no TOU registers
        "IMP-PLAIN,,2026-11-09T09:30,1234567,,,,,",  # 12 rejected: does not fit 6 digits
    )
    report = run_csv(session, clock, text)

    assert (report.received, report.accepted, report.flagged) == (11, 4, 3)
    assert (report.rejected, report.duplicates) == (7, 0)
    rejected = {line.where: line.reason for line in report.rejected_lines}
    assert rejected == {
        "line 5": "unknown meter 'NO-SUCH'",
        "line 6": "meter IMP-LATE was installed on 2026-11-10, after 2026-11-05",
        "line 7": "meter IMP-GONE was removed on 2026-10-31, before 2026-11-05",
        "line 8": "total 'abc' is not a number",
        "line 9": "meter_serial or account_number is required",
        "line 11": "meter IMP-PLAIN has no peak/flat/valley registers",
        "line 12": "total does not fit meter IMP-PLAIN's 6-digit register",
    }
    flagged = {line.where: line.reason for line in report.flagged_lines}
    assert flagged["line 3"].startswith("TOU gap 40.000 kWh: total advanced 100.000")
    assert flagged["line 4"].startswith("reverse reading (error): total 900.000 is below 1000.000")
    assert flagged["line 10"] == "customer-read"
    assert [line.where for line in report.accepted_lines] == [
        "line 2",
        "line 3",
        "line 4",
        "line 10",
    ]

    stored = readings_of(session, meters["plain"])
    assert [(r.read_at, r.total, r.reader_id) for r in stored[1:]] == [
        (local(11, 5, 9).replace(minute=30), Decimal("1100.000"), "R07"),
        (local(11, 7, 9).replace(minute=30), Decimal("1110.000"), None),
    ]
    assert stored[2].source == "customer"
    batch = session.get(ReadingBatch, report.batch_id)
    assert batch is not None and stored[1].batch_id == batch.id
    assert (batch.accepted, batch.rejected, batch.flagged) == (4, 7, 3)
    assert batch.report["rejected_lines"][0]["reason"] == "unknown meter 'NO-SUCH'"
    audit = session.exec(
        select(AuditEntry).where(
            AuditEntry.entity == "reading_batch", AuditEntry.entity_id == str(batch.id)
        )
    ).one()
    assert audit.actor == "test" and audit.after and audit.after["accepted"] == 4


def test_the_same_file_twice_changes_nothing(
    session: Session, clock: FixedClock, meters: dict[str, Meter]
) -> None:
    text = csv_of("IMP-PLAIN,,2026-11-05T09:30,1100,,,,,", "NO-SUCH,,2026-11-05T09:30,1,,,,,")
    first = run_csv(session, clock, text)
    readings, batches, audits = (
        count(session, m) for m in (MeterReading, ReadingBatch, AuditEntry)
    )

    clock.current = clock.current.replace(hour=5)
    again = run_csv(session, clock, text, name="renamed.csv")

    assert again.already_imported and not first.already_imported
    assert again.to_json() == {**first.to_json(), "already_imported": True}
    assert (count(session, MeterReading), count(session, ReadingBatch)) == (readings, batches)
    assert count(session, AuditEntry) == audits


def test_an_identical_reading_is_a_duplicate_and_a_different_one_is_rejected(
    session: Session, clock: FixedClock, meters: dict[str, Meter]
) -> None:
    run_csv(
        session,
        clock,
        csv_of("IMP-PLAIN,,2026-11-05T09:30,1100,,,,,", "IMP-PLAIN,,2026-11-06T09:30,1110,,,,,"),
    )
    report = run_csv(
        session,
        clock,
        csv_of(
            "IMP-PLAIN,,2026-11-05T09:30,1100.000,,,,,",
            "IMP-PLAIN,,2026-11-06T01:30:00Z,1111,,,,,",
        ),
    )
    assert (report.accepted, report.duplicates, report.rejected) == (0, 1, 1)
    assert report.duplicate_lines[0].where == "line 2"
    assert "a different reading is already stored" in report.rejected_lines[0].reason
    assert "total 1110.000" in report.rejected_lines[0].reason


def test_an_account_number_finds_the_meter_in_service_on_the_reading_day(
    session: Session, clock: FixedClock
) -> None:
    account = make_account(session, customer=make_customer(session, at=AT))
    old = make_meter(session, account=account, serial="ACC-OLD", removed_on=date(2026, 11, 10))
    new = make_meter(session, account=account, serial="ACC-NEW", installed_on=date(2026, 11, 11))
    report = run_csv(
        session,
        clock,
        csv_of(
            f",{account.number},2026-11-09T09:00,10,,,,,",
            f",{account.number},2026-11-12T09:00,2,,,,,",
            ",0000000000,2026-11-12T09:00,2,,,,,",
            f"ACC-NEW,{account.number},2026-11-13T09:00,3,,,,,",
            f"IMP-X,{account.number},2026-11-13T09:00,3,,,,,",
        ),
    )
    assert [r.total for r in readings_of(session, old)] == [Decimal("10.000")]
    assert [r.total for r in readings_of(session, new)] == [Decimal("2.000"), Decimal("3.000")]
    assert {line.where: line.reason for line in report.rejected_lines} == {
        "line 4": "unknown account '0000000000'",
        "line 6": "unknown meter 'IMP-X'",
    }


def test_a_failure_mid_import_leaves_nothing_of_the_batch(
    session: Session, clock: FixedClock, meters: dict[str, Meter], monkeypatch: pytest.MonkeyPatch
) -> None:
    session.commit()  # the meters stay; the import below is the caller's unit of work

    def broken(**_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "record_change", broken)  # after the rows were inserted
    text = csv_of("IMP-PLAIN,,2026-11-05T09:30,1100,,,,,", "IMP-REV,,2026-11-05T09:30,1001,,,,,")
    with pytest.raises(RuntimeError, match="disk full"):
        run_csv(session, clock, text)
    session.rollback()

    assert len(readings_of(session, meters["plain"])) == 1
    assert len(readings_of(session, meters["reverse"])) == 1
    assert session.exec(select(ReadingBatch)).first() is None


def test_green_button_intervals_are_added_to_the_previous_reading(
    session: Session, clock: FixedClock
) -> None:
    account = make_account(session, customer=make_customer(session, at=AT))
    meter = make_meter(session, account=account, serial="GB0000001", tou=True)
    make_reading(
        session,
        meter=meter,
        read_at=datetime(2026, 11, 1, tzinfo=TZ),
        total=Decimal("100.000"),
        peak=Decimal("30.000"),
        flat=Decimal("40.000"),
        valley=Decimal("30.000"),
        source="smart",
    )
    data = (FIXTURES / "hourly_two_days.xml").read_bytes()

    def run(content: bytes) -> ImportReport:
        return import_readings(
            session=session,
            clock=clock,
            parsed=parse_green_button(content, tz=TZ, now=clock.now(), period_of=shanghai_tou),
            source="green_button",
            name="gb.xml",
            content=content,
            actor="test",
            tz=TZ,
        )

    report = run(data)
    assert (report.accepted, report.flagged, report.rejected) == (2, 0, 0)
    stored = readings_of(session, meter)[1:]
    assert [(r.read_at, r.total, r.peak, r.flat, r.valley) for r in stored] == [
        (
            datetime(2026, 11, 2, tzinfo=TZ),
            Decimal("107.250"),
            Decimal("32.250"),
            Decimal("43.600"),
            Decimal("31.400"),
        ),
        (
            datetime(2026, 11, 3, tzinfo=TZ),
            Decimal("114.500"),
            Decimal("34.500"),
            Decimal("47.200"),
            Decimal("32.800"),
        ),
    ]
    assert {r.source for r in stored} == {"smart"}
    assert run(data).already_imported
    # A re-export of the same days (other bytes) finds them already stored, identical.
    reexport = run(data.replace(b"<feed ", b"<!-- re-export -->\n<feed ", 1))
    assert (reexport.accepted, reexport.duplicates) == (0, 2)


def test_green_button_without_a_previous_reading_starts_from_installation_and_says_so(
    session: Session, clock: FixedClock
) -> None:
    account = make_account(session, customer=make_customer(session, at=AT))
    meter = make_meter(session, account=account, serial="GB0000001", initial_total=Decimal(50))
    data = (FIXTURES / "hourly_two_days.xml").read_bytes()
    report = import_readings(
        session=session,
        clock=clock,
        parsed=parse_green_button(data, tz=TZ, now=clock.now()),
        source="green_button",
        name="gb.xml",
        content=data,
        actor="test",
        tz=TZ,
    )
    assert [r.total for r in readings_of(session, meter)] == [
        Decimal("57.250"),
        Decimal("64.500"),
    ]
    assert readings_of(session, meter)[0].peak is None  # not a TOU meter
    assert report.flagged == 1
    assert "no reading between installation on 2024-01-01" in report.flagged_lines[0].reason


def test_readings_of_one_batch_are_judged_in_time_order_against_each_other(
    session: Session, clock: FixedClock, meters: dict[str, Meter]
) -> None:
    number = _account_number(session, meters["plain"])
    report = run_csv(
        session,
        clock,
        csv_of(
            "IMP-PLAIN,,2026-11-07T09:30,1050,,,,,",  # after line 3's reading, yet lower
            "IMP-PLAIN,,2026-11-06T09:30,1100,,,,estimated,",
            f",{number},2026-11-07T09:30,1050,,,,,",  # the same meter and time as line 2
        ),
    )
    flagged = {line.where: line.reason for line in report.flagged_lines}
    assert flagged == {
        "line 2": "reverse reading (error): total 1050.000 is below 1100.000 at the previous "
        "reading (2026-11-06T09:30+08:00)",
        "line 3": "estimated reading",
    }
    assert report.rejected_lines[0].where == "line 4"
    assert "line 2 of this batch already gives meter IMP-PLAIN a reading" in (
        report.rejected_lines[0].reason
    )
    assert [r.estimated for r in readings_of(session, meters["plain"])] == [False, True, False]

    between = run_csv(session, clock, csv_of("IMP-PLAIN,,2026-11-06T20:00,1200,,,,,"))
    assert between.flagged_lines[0].reason == (
        "total 1200.000 is above the later stored reading 1050.000 (2026-11-07T09:30+08:00)"
    )


def _account_number(session: Session, meter: Meter) -> str:
    from billing_core.customers.tables import Account

    account = session.get(Account, meter.account_id)
    assert account is not None
    return account.number


def test_interval_data_reaching_back_before_the_previous_reading_is_rejected(
    session: Session, clock: FixedClock
) -> None:
    account = make_account(session, customer=make_customer(session, at=AT))
    meter = make_meter(session, account=account, serial="GB0000001", digits=4)
    make_reading(
        session, meter=meter, read_at=datetime(2026, 11, 1, 12, tzinfo=TZ), total=Decimal("9995")
    )
    data = (FIXTURES / "hourly_two_days.xml").read_bytes()
    report = import_readings(
        session=session,
        clock=clock,
        parsed=parse_green_button(data, tz=TZ, now=clock.now()),
        source="green_button",
        name="gb.xml",
        content=data,
        actor="test",
        tz=TZ,
    )
    assert report.rejected_lines[0].reason == (
        "the interval data starts at 2026-11-01T00:00+08:00, before meter GB0000001's "
        "previous reading at 2026-11-01T12:00+08:00"
    )
    # Block 2 follows the stored reading with a hole, and its register wraps at 10**4.
    assert [r.total for r in readings_of(session, meter)] == [Decimal("9995.000"), Decimal("2.250")]
    reason = report.flagged_lines[0].reason
    assert "no interval data between the previous reading at 2026-11-01T12:00+08:00" in reason
    assert "reverse reading (rollover): total 2.250 is below 9995.000" in reason


def test_the_stored_report_lists_are_capped_but_the_counts_are_exact(
    session: Session, clock: FixedClock, meters: dict[str, Meter], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "REPORT_LINES_CAP", 2)
    report = run_csv(
        session, clock, csv_of(*(f"NOPE-{n},,2026-11-05T09:30,1,,,,," for n in range(5)))
    )
    assert report.rejected == 5 and len(report.rejected_lines) == 2
    batch = session.get(ReadingBatch, report.batch_id)
    assert batch is not None and batch.rejected == 5
    assert len(batch.report["rejected_lines"]) == 2 and batch.report["lines_capped_at"] == 2


# --- the API (a dedicated database: the app commits through its own sessions) --------------


API_CLOCK = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def api_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh database for this module's API tests, with staff users and one meter; dropped
    afterwards, so committed requests never leak into the shared test database."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("api")) as engine:
        clock = FixedClock(API_CLOCK)
        with session_scope(engine) as session:
            for username, role in (("rita", "reviewer"), ("andy", "agent"), ("ada", "admin")):
                add_staff(
                    session=session,
                    clock=clock,
                    username=username,
                    role=role,
                    password=PASSWORD,
                    actor="test",
                )
            account = make_account(session, customer=make_customer(session, at=AT))
            make_meter(session, account=account, serial="API-0001")
        yield engine


@pytest.fixture
def client(settings: Settings, api_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=api_engine, clock=FixedClock(API_CLOCK), configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def body(*totals: str, name: str = "api batch") -> dict[str, object]:
    return {
        "name": name,
        "readings": [
            {"meter_serial": "API-0001", "read_at": f"2026-11-{day + 1:02d}T09:00", "total": t}
            for day, t in enumerate(totals)
        ],
    }


def test_api_imports_a_batch_for_a_reviewer_and_reports_bad_items(client: TestClient) -> None:
    response = client.post(
        "/api/v1/readings",
        json=body("10", "12.5", "-1", "12.3456"),
        auth=("rita", PASSWORD),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"], report["already_imported"]) == (2, 2, False)
    assert report["actor"] == "staff:rita" and report["source"] == "api"
    assert [line["where"] for line in report["rejected_lines"]] == ["readings[2]", "readings[3]"]
    assert "negative" in report["rejected_lines"][0]["reason"]

    again = client.post(
        "/api/v1/readings",
        json=body("10", "12.5", "-1", "12.3456", name="retry"),
        auth=("ada", PASSWORD),
    )
    assert again.status_code == 200
    assert again.json()["already_imported"] and again.json()["batch_id"] == report["batch_id"]


def test_api_numbers_are_read_as_exact_decimals(client: TestClient) -> None:
    raw = (
        '{"readings": [{"meter_serial": "API-0001", "read_at": "2026-11-20T09:00", '
        '"total": 20.125}]}'
    )
    response = client.post(
        "/api/v1/readings",
        content=raw,
        headers={"Content-Type": "application/json"},
        auth=("rita", PASSWORD),
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("rita", "wrong password"), 401),
        (("nobody", PASSWORD), 401),
        (("andy", PASSWORD), 403),
    ],
)
def test_api_needs_a_reviewer_or_admin(
    client: TestClient, auth: tuple[str, str] | None, status: int
) -> None:
    response = client.post("/api/v1/readings", json={"readings": "not even a list"}, auth=auth)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b'{"readings": []}',
        b'{"readings": "x"}',
        b'{"name": "x"}',
        b'{"readings": [{}], "extra": 1}',
    ],
)
def test_api_body_not_of_the_documented_shape_is_422(client: TestClient, payload: bytes) -> None:
    response = client.post(
        "/api/v1/readings",
        content=payload,
        headers={"Content-Type": "application/json"},
        auth=("rita", PASSWORD),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_api_body_is_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/readings"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "total" in schema["properties"]["readings"]["items"]["properties"]


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def cli_meter(cli_database: str, monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> str:
    """A meter (with a reading on 5 October 2026) in the database the CLI uses."""
    from api.cli import readings_cmd

    monkeypatch.setattr(readings_cmd, "clock", lambda: clock)
    engine = create_db_engine(cli_database)
    with session_scope(engine) as session:
        account = make_account(session, customer=make_customer(session, at=AT))
        meter = make_meter(session, account=account, serial="CLI-0001")
        make_reading(session, meter=meter, read_at=local(10, 5), total=Decimal("1000.000"))
    engine.dispose()
    return cli_database


def stored_counts(url: str) -> tuple[int, int]:
    engine = create_db_engine(url)
    with session_scope(engine) as session:
        counts = (count(session, MeterReading), count(session, ReadingBatch))
    engine.dispose()
    return counts


def test_cli_imports_a_malformed_csv_line_by_line_and_only_once(
    cli_env: CliRunner, cli_meter: str, tmp_path: Path
) -> None:
    from api.cli import app

    file = tmp_path / "book-07.csv"
    file.write_text(
        csv_of(
            "CLI-0001,,2026-11-05T09:30,1100,,,,reader,R07",
            "CLI-0001,,2026-11-06T09:30,abc,,,,,",
            "NOPE,,2026-11-06T09:30,1,,,,,",
        ),
        encoding="utf-8",
    )
    result = cli_env.invoke(app, ["readings", "import", str(file)])
    assert result.exit_code == 0, result.output
    assert "1 accepted" in result.output and "2 rejected" in result.output
    assert "line 3" in result.output and "not a number" in result.output
    assert stored_counts(cli_meter) == (2, 1)

    again = cli_env.invoke(app, ["readings", "import", str(file), "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert report["already_imported"] and report["accepted"] == 1
    assert stored_counts(cli_meter) == (2, 1)


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_cli_refuses_hostile_xml_with_exit_2_and_stores_nothing(
    cli_env: CliRunner, cli_meter: str, name: str
) -> None:
    from api.cli import app

    result = cli_env.invoke(app, ["readings", "import", str(FIXTURES / name)])
    assert result.exit_code == 2
    assert "DTD" in result.output and "Traceback" not in result.output
    assert "root:" not in result.output  # /etc/passwd was never read
    assert stored_counts(cli_meter) == (1, 0)


def test_cli_refuses_unreadable_or_unknown_files_with_exit_2(
    cli_env: CliRunner, cli_meter: str, tmp_path: Path
) -> None:
    from api.cli import app

    missing = cli_env.invoke(app, ["readings", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    odd = tmp_path / "readings.txt"
    odd.write_text("x")
    assert cli_env.invoke(app, ["readings", "import", str(odd)]).exit_code == 2
    latin = tmp_path / "gbk.csv"
    latin.write_bytes("meter_serial,read_at,total\n表,2026-11-05T09:30,1\n".encode("gbk"))
    result = cli_env.invoke(app, ["readings", "import", str(latin)])
    assert result.exit_code == 2 and "UTF-8" in result.output
    assert stored_counts(cli_meter) == (1, 0)


def test_cli_imports_green_button_with_an_explicit_format(
    cli_env: CliRunner, cli_meter: str, tmp_path: Path
) -> None:
    from api.cli import app

    file = tmp_path / "usage.espi"
    file.write_bytes(
        (FIXTURES / "hourly_two_days.xml").read_bytes().replace(b"GB0000001", b"CLI-0001")
    )
    result = cli_env.invoke(
        app, ["readings", "import", str(file), "--format", "green-button", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["accepted"], report["source"]) == (2, "green_button")
    assert stored_counts(cli_meter) == (3, 1)
