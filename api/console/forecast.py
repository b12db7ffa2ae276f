"""The weather forecast (`/console/forecast`, role collections): the imported days from
yesterday on, the ones reaching the arrears policy's temperature limits marked (no
disconnection is planned or approved on them), and a form to import a forecast file (CSV
`date,low_c,high_c`, as `wattdesk arrears forecast import`). A file with a bad line stores
nothing; the page names the lines (docs/arrears.md, "The forecast")."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.console.arrears import Collections
from api.console.pages import NavItem, after_action, console_router, refusals, render
from api.deps import ClockDep, SessionDep, SettingsDep, arrears_rules
from billing_core.arrears import forecast
from billing_core.arrears.actions import collections
from billing_core.errors import InvalidInput
from billing_core.staff.model import Role

router = console_router()
HERE = "/console/forecast"
NAV = NavItem(HERE, "Forecast", (Role.collections,))
MAX_FILE = 64 * 1024  # a year of days is about 10 KB


@router.get(HERE, response_class=HTMLResponse)
def forecast_page(
    request: Request, user: Collections, session: SessionDep, clock: ClockDep,
    settings: SettingsDep,
) -> HTMLResponse:  # fmt: skip
    today = clock.now().astimezone(settings.tz).date()
    days = forecast.load_forecast(session, since=today - timedelta(days=1))
    rules = arrears_rules(request)
    extreme = set(forecast.extreme_days(days, rules))
    rows = [{"day": day, "low": f.low_c, "high": f.high_c, "extreme": day in extreme}
            for day, f in sorted(days.items())]  # fmt: skip
    return render(request, "console/forecast.html", user, {"rows": rows, "today": today})


@router.post(HERE)
async def import_file(
    request: Request,
    user: Collections,
    session: SessionDep,
    clock: ClockDep,
    file: Annotated[UploadFile, File()],
    source: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    raw = await file.read(MAX_FILE + 1)
    done = ""
    with refusals(session) as problems:
        if len(raw) > MAX_FILE:
            raise InvalidInput(f"file: larger than {MAX_FILE // 1024} KiB; a forecast is a "
                               "line a day")  # fmt: skip
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("file: not UTF-8 text (a CSV file is expected)") from None
        stored = forecast.import_forecast(
            session=session, clock=clock, text=text,
            source=source.strip() or f"console upload {file.filename or ''}".strip(),
            actor=collections(user), rules=arrears_rules(request),
        )  # fmt: skip
        done = f"{stored['days']} day(s) stored, {stored['first']} to {stored['last']}"
    return after_action(HERE, problems, done)
