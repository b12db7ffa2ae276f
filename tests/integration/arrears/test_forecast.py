"""The imported weather forecast on SQLite and PostgreSQL: a file with a bad line stores
nothing and names every bad line; a day whose forecast reaches the policy's temperature
limits keeps a disconnection from being planned or approved on it; a day imported again is
replaced."""

from __future__ import annotations

import json
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli import app
from billing_core.arrears import orders
from billing_core.arrears.cases import ORDER
from billing_core.arrears.forecast import (
    FORECAST,
    ForecastRejected,
    ImportRefused,
    import_forecast,
    load_forecast,
    parse_forecast_csv,
)
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.db import create_db_engine
from billing_core.errors import Conflict
from tests.factories import make_staff
from tests.integration.arrears.test_cases import DUE, RULES, TZ, debtor, local, proposed

PLANNED = date(2026, 12, 9)  # where the work order of `proposed` is planned without a forecast


def stored(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(FORECAST)).scalar_one())


def put(session: Session, text: str) -> dict[str, object]:
    return import_forecast(
        session=session,
        clock=FixedClock(local(DUE)),
        text=text,
        source="file:test.csv",
        actor="cli",
        rules=RULES,
    )


def planned_day(session: Session) -> date:
    d = debtor(session)
    order_id = proposed(session, d)
    planned = session.execute(select(ORDER.c.planned_at).where(ORDER.c.id == order_id)).scalar_one()
    return planned.astimezone(TZ).date()


def test_without_a_forecast_the_work_order_is_planned_on_the_first_allowed_day(
    session: Session,
) -> None:
    assert planned_day(session) == PLANNED


def test_an_extreme_day_in_the_forecast_keeps_the_disconnection_off_it(session: Session) -> None:
    summary = put(
        session,
        "date,low_c,high_c\n"
        f"{PLANNED - timedelta(days=1)},2,9\n"
        f"{PLANNED},-12,-3\n"  # a cold snap: at or below the policy's -5 °C
        f"{PLANNED + timedelta(days=1)},1,8.5\n",
    )
    assert summary["days"] == 3 and summary["extreme_days"] == [PLANNED.isoformat()]
    day = planned_day(session)
    assert day == PLANNED + timedelta(days=1)  # the next allowed day, not the cold one


def test_an_approval_on_an_extreme_day_is_refused_naming_it(session: Session) -> None:
    d = debtor(session)
    order_id = proposed(session, d)
    put(session, f"date,high_c,low_c\n{PLANNED + timedelta(days=1)},38,27\n")  # a heatwave
    boss = make_staff(session, role="collections", at=local(DUE))
    clock = FixedClock(local(DUE + timedelta(days=32), time(10, 0)))
    with pytest.raises(Conflict, match="extreme-temperature"):
        orders.approve_order(
            session=session,
            clock=clock,
            rules=RULES,
            actor=boss,
            order_id=order_id,
            at=local(PLANNED + timedelta(days=1), time(9, 30)),
        )
    approved = orders.approve_order(
        session=session,
        clock=clock,
        rules=RULES,
        actor=boss,
        order_id=order_id,
        at=local(PLANNED, time(9, 30)),
    )
    assert approved["status"] == "approved"


def test_a_file_with_bad_lines_stores_nothing_and_names_each_line(session: Session) -> None:
    text = (
        "date,low_c,high_c\n"
        "2027-07-20,27,36\n"  # good, but not stored: the file has bad lines
        "2027-07-21,hot,36\n"
        "2027-07-32,27,36\n"
        "2027-07-22,30,25\n"
        "2027-07-23,27\n"
        "2027-07-20,26,35\n"
        "2027-07-24,27.25,95\n"
    )
    with pytest.raises(ForecastRejected) as caught:
        put(session, text)
    assert [str(r) for r in caught.value.rejections] == [
        "line 3: low_c 'hot' is not a number",
        "line 4: date '2027-07-32' is not a date (YYYY-MM-DD)",
        "line 5: low_c '30' is above high_c '25'",
        "line 6: 2 fields, the header has 3",
        "line 7: date 2027-07-20 is already on line 2",
        "line 8: low_c '27.25' has more than 1 decimal place; "
        "high_c '95' is not a temperature in °C (-70 to 60)",
    ]
    assert "nothing was stored" in str(caught.value)
    assert stored(session) == 0
    assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == 0
    with pytest.raises(ImportRefused, match="unknown column"):
        put(session, "day,low,high\n2027-07-20,27,36\n")
    assert stored(session) == 0


def test_a_day_imported_again_is_replaced_and_the_import_is_audited(session: Session) -> None:
    put(session, "date,low_c,high_c\n2027-07-20,27,36\n2027-07-21,26,34\n")
    again = put(session, "date,low_c,high_c\n2027-07-21,28,39\n")
    assert again["replaced"] == 1 and stored(session) == 2
    days = load_forecast(session, since=date(2027, 7, 21))
    assert list(days) == [date(2027, 7, 21)] and days[date(2027, 7, 21)].high_c == 39
    actions = session.execute(select(AuditEntry.action)).scalars().all()  # type: ignore[call-overload]
    assert actions == ["forecast.import", "forecast.import"]


def test_the_parser_accepts_a_bom_and_any_column_order() -> None:
    parsed = parse_forecast_csv("\ufeffHigh_C,Date,Low_C\n-1,2027-01-05,-9.5\n")
    assert not parsed.rejections
    assert parsed.days[date(2027, 1, 5)].low_c == -9.5


def test_the_cli_stores_a_forecast_and_refuses_a_bad_file_line_by_line(
    cli_database: str, cli_env: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,low_c,high_c\n2031-07-20,27,36\n2031-07-21,27\n2031-07-22,x,36\n")
    refused = cli_env.invoke(app, ["arrears", "forecast", "import", str(bad)])
    assert refused.exit_code != 0
    text = " ".join(refused.output.split())
    assert "bad.csv: line 3: 2 fields, the header has 3" in text
    assert "bad.csv: line 4: low_c 'x' is not a number" in text
    assert "nothing was stored" in text
    good = tmp_path / "good.csv"
    good.write_text("date,low_c,high_c\n2031-07-20,27,36\n2031-07-21,26,33.5\n")
    stored_ = cli_env.invoke(app, ["arrears", "forecast", "import", str(good), "--json"])
    assert stored_.exit_code == 0, stored_.output
    assert json.loads(stored_.output) == {
        "days": 2,
        "replaced": 0,
        "first": "2031-07-20",
        "last": "2031-07-21",
        "extreme_days": ["2031-07-20"],
    }
    engine = create_db_engine(cli_database)
    with engine.connect() as connection:
        days = connection.execute(select(FORECAST.c.day).order_by(FORECAST.c.day)).scalars()
        assert list(days) == [date(2031, 7, 20), date(2031, 7, 21)]
    engine.dispose()
