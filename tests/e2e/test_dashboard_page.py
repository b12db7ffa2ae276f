"""The dashboard's page in Chromium: the fragment (templates/console/dashboard_content.html),
the vendored Chart.js and static/console/dashboard.js, given the JSON of a real app over a
seeded SQLite database, draw every chart, the queue, the probes and the alert. A screenshot
is saved under var/screenshots/ for a person to look at."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import load_settings
from tests.conftest import migrated_database
from tests.integration.dashboard.seed import ADMIN, NOW, PASSWORD, seed_dashboard

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
API = ROOT / "api"
SCREENSHOTS = ROOT / "var" / "screenshots"
ORIGIN = "http://wattdesk.test"


@pytest.fixture(scope="module")
def dashboard_json(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    directory = tmp_path_factory.mktemp("dash-e2e")
    with migrated_database("sqlite", directory) as engine:
        with session_scope(engine) as session:
            seed_dashboard(session)
        app = create_app(load_settings(data_dir=directory, _env_file=None), engine=engine,
                         clock=FixedClock(NOW), configure_logs=False)  # fmt: skip
        with TestClient(app) as client:
            response = client.get("/api/v1/dashboard", auth=(ADMIN, PASSWORD))
            assert response.status_code == 200
            yield response.content


def _page_html() -> str:
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(API / "templates"),
                                   autoescape=True)  # fmt: skip
    fragment = templates.get_template("console/dashboard_content.html").render()
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dashboard</title>"
        "</head><body style='background:#f5f7fa;margin:16px'>" + fragment + "</body></html>"
    )


def test_the_dashboard_draws_the_apps_figures(browser: Any, dashboard_json: bytes) -> None:
    from playwright.sync_api import Route, expect

    answered: list[str] = []

    def serve(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        answered.append(path)
        if path == "/console/dashboard":
            route.fulfill(status=200, content_type="text/html", body=_page_html())
        elif path == "/api/v1/dashboard":
            route.fulfill(status=200, content_type="application/json", body=dashboard_json)
        elif path.startswith("/static/") and ".." not in path:
            file = API / path.lstrip("/")
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            route.fulfill(status=200, content_type=kind, body=file.read_bytes())
        else:
            route.fulfill(status=404, body="not found")

    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/console/dashboard")
    section = page.locator("#dashboard")
    expect(section).to_have_attribute("aria-busy", "false")
    assert not errors
    assert page.locator("#dashboard-error").is_hidden()

    data = json.loads(dashboard_json)
    # Every chart is drawn by Chart.js, with the API's figures.
    drawn = page.evaluate(
        """() => Object.fromEntries(["chart-messages", "chart-backlog", "chart-collection",
            "chart-ageing"].map(id => [id, Chart.getChart(id).data.datasets.map(
            d => d.data)]))"""
    )
    ageing = [data["ageing"]["not_due"], *(b["amount"] for b in data["ageing"]["buckets"])]
    assert drawn["chart-ageing"] == [[float(a) for a in ageing]]
    assert drawn["chart-backlog"] == [[1 + 1], [1]]  # 2 pending SMS, 1 due
    rates = [None if m["rate"] is None else float(m["rate"]) * 100 for m in data["collection"]]
    assert drawn["chart-collection"] == [pytest.approx(rates)]
    assert sum(sum(counts) for counts in drawn["chart-messages"]) == sum(
        sum(s["counts"]) for s in data["messages"]["series"]
    )
    expect(page.locator("#dashboard-queue .tile").first).to_contain_text("2")
    expect(page.locator("#dashboard-alerts li.active")).to_contain_text("delivery:sms")
    expect(page.locator("#dashboard-alerts li.active")).to_contain_text("10 of 100")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
    assert "/static/vendor/chart.js/chart.umd.min.js" in answered
    page.close()
