"""The dashboard's figures (billing_core/dashboard) through `GET /api/v1/dashboard`, on SQLite
and PostgreSQL, against a population whose every figure is worked out by hand (seed.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.settings import Settings
from tests.conftest import migrated_database
from tests.integration.dashboard.seed import ADMIN, NOW, PASSWORD, seed_dashboard


@pytest.fixture(scope="module")
def dash_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_database(db_kind, tmp_path_factory.mktemp("dash")) as engine:
        with session_scope(engine) as session:
            seed_dashboard(session)
        yield engine


@pytest.fixture(scope="module")
def answer(dash_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from billing_core.settings import load_settings

    settings: Settings = load_settings(data_dir=tmp_path_factory.mktemp("s"), _env_file=None)
    app = create_app(settings, engine=dash_engine, clock=FixedClock(NOW), configure_logs=False)
    with TestClient(app) as client:
        response = client.get("/api/v1/dashboard", auth=(ADMIN, PASSWORD))
        assert response.status_code == 200, response.text
        assert client.get("/api/v1/dashboard").status_code == 401
        health = client.get("/api/v1/health/channels", auth=(ADMIN, PASSWORD))
        assert health.status_code == 200
        assert health.json() == response.json()["health"]
    data: dict[str, Any] = response.json()
    return data


def test_messages_per_channel_and_status_per_local_day(answer: dict[str, Any]) -> None:
    messages = answer["messages"]
    assert len(messages["days"]) == 14
    assert messages["days"][-1] == "2026-11-26"
    series = {(s["channel"], s["status"]): s["counts"] for s in messages["series"]}
    assert series[("sms", "delivered")][-1] == 2  # the one 20 days ago is not counted
    assert sum(series[("sms", "delivered")]) == 2
    assert series[("sms", "failed")][-1] == 1
    assert series[("sms", "pending")][-1] == 2
    assert series[("telegram", "sent")][-2] == 1  # yesterday
    assert series[("telegram", "received")][-1] == 1  # the ask an hour ago
    assert series[("telegram", "received")][-3] == 1  # two days ago


def test_the_queue_now_and_its_answered_waits(answer: dict[str, Any]) -> None:
    assert answer["queue"] == {
        "waiting": 2,
        "waiting_longest_seconds": 1800.0,
        "waiting_median_seconds": 600.0,
        "answered": 2,
        "answered_days": 14,
        "answered_median_seconds": 300.0,
        "answered_p90_seconds": 900.0,
    }


def test_the_outbox_backlog(answer: dict[str, Any]) -> None:
    assert answer["outbox"] == [
        {"channel": "sms", "pending": 2, "due": 1, "oldest_due_seconds": 7200.0}
    ]


def test_the_collection_rate_per_month_of_due_dates(answer: dict[str, Any]) -> None:
    months = {m["month"]: m for m in answer["collection"]}
    assert list(months) == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    assert months["2026-10"] == {
        "month": "2026-10", "bills": 2, "billed": "150.00", "paid_in_terms": "100.00",
        "rate": "0.6667",
    }  # fmt: skip
    assert months["2026-11"]["billed"] == "80.00"
    assert months["2026-11"]["rate"] == "0.0000"
    assert months["2026-08"]["paid_in_terms"] == "0.00"
    assert months["2026-07"] == {  # the cancelled bill is not billed
        "month": "2026-07", "bills": 0, "billed": "0.00", "paid_in_terms": "0.00", "rate": None,
    }  # fmt: skip


def test_arrears_ageing_by_days_past_due(answer: dict[str, Any]) -> None:
    assert answer["ageing"] == {
        "not_due": "60.00",
        "buckets": [
            {"days": "0–30", "amount": "81.00", "accounts": 1},
            {"days": "31–60", "amount": "30.00", "accounts": 1},
            {"days": "61–90", "amount": "0.00", "accounts": 0},
            {"days": "90+", "amount": "70.00", "accounts": 1},
        ],
    }


def test_channel_health_shows_the_delivery_alert(answer: dict[str, Any]) -> None:
    health = answer["health"]
    assert health["delivery"] == [
        {"channel": "sms", "attempts": 100, "failures": 10, "failure_rate": "0.1000"},
        {"channel": "telegram", "attempts": 30, "failures": 0, "failure_rate": "0.0000"},
    ]
    assert [a["subject"] for a in health["alerts"]] == ["delivery:sms"]
    assert health["alerts"][0]["active"] is True
    assert "10 of 100" in health["alerts"][0]["reason"]
    assert [(p["channel"], p["status"]) for p in health["probes"]] == [
        ("payments", "ok"), ("sms", "ok"), ("telegram", "ok"),
    ]  # fmt: skip
