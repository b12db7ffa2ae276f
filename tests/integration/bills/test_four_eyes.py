"""Four-eyes re-billing (退补, issue 19, item 3) through the staff API and `wattdesk report
review`, on SQLite and PostgreSQL: a correction that adds refund or re-bill lines is held with
REFUND_OR_REBILL, raised by the reviewer who corrected; that reviewer can neither approve nor
correct it again (409); a second one issues it; the monthly report counts the rule."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.cli import app as cli
from billing_core.bills.tables import Bill
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine
from billing_core.dedupe_keys import charge_key
from billing_core.events.service import BILL_ISSUED
from billing_core.ledger.tables import LedgerEntry
from billing_core.settings import Settings
from tests.integration.bills.helpers import TZ
from tests.integration.bills.test_review_queue import (  # noqa: F401 - fixtures
    ADMIN,
    ITEMS,
    NOVEMBER,
    REPORT,
    REVIEWER,
    Desk,
    a_held_bill,
    audit_entries,
    bill_and_hire,
    events_about,
    items_of,
    load_bill,
    quick_password_hashing,
    staff_desk,
)


@pytest.fixture
def desk(fresh_engine: Engine, settings: Settings) -> Iterator[Desk]:
    with staff_desk(fresh_engine, settings, bill_and_hire(fresh_engine)) as ready:
        yield ready


REFUND = {"component": "退补 meter misread", "amount": "-12.50", "reason": "misread refund"}


def correction(**changes: Any) -> dict[str, Any]:
    body = {"cause": "meter_misread", "note": "re-read on site", "kwh": "150.000",
            "adjustments": [REFUND]}  # fmt: skip
    return body | changes


def charges_of(desk: Desk, bill_id: int) -> int:
    with Session(desk.engine) as session:
        return session.execute(
            select(func.count()).where(col(LedgerEntry.dedupe_key) == charge_key(bill_id))
        ).scalar_one()


def rebill(client: TestClient, bill_id: int, auth: tuple[str, str], **changes: Any) -> int:
    response = client.post(f"/api/v1/bills/{bill_id}/correct", json=correction(**changes),
                           auth=auth)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "in_review" and response.json()["due_date"] is None
    return int(response.json()["id"])


def test_a_rebill_with_adjustment_lines_waits_for_a_second_reviewer(desk: Desk) -> None:
    held = a_held_bill(desk.engine)
    new_id = rebill(desk.client, held.id, REVIEWER)

    # Held, not issued: no charge, no notice, one REFUND_OR_REBILL item the corrector raised.
    assert load_bill(desk.engine, held.id).status == "cancelled"
    new = load_bill(desk.engine, new_id)
    assert (new.status, new.due_date, new.issued_at) == ("in_review", None, None)
    assert charges_of(desk, new_id) == 0 and events_about(desk.engine, BILL_ISSUED, new_id) == []
    [item] = items_of(desk.engine, new_id)
    assert (item.rule, item.status, item.raised_by) == ("REFUND_OR_REBILL", "open", REVIEWER[0])
    assert "-12.50" in item.detail
    listed = desk.client.get(ITEMS, params={"rule": "REFUND_OR_REBILL"}, auth=ADMIN).json()
    assert [(i["bill_id"], i["raised_by"]) for i in listed["items"]] == [(new_id, REVIEWER[0])]
    (audit,) = audit_entries(desk.engine, "bill.rebill", new_id)
    assert "second reviewer" in audit.reason

    # The reviewer who prepared it may neither approve it nor correct it again.
    approve = f"/api/v1/bills/{new_id}/approve"
    own = [
        desk.client.post(approve, json={}, auth=REVIEWER),
        desk.client.post(
            f"/api/v1/bills/{new_id}/correct", json=correction(adjustments=[]), auth=REVIEWER
        ),
    ]
    assert [r.status_code for r in own] == [409, 409]
    for response in own:
        assert "second reviewer" in response.json()["detail"], response.text
    assert load_bill(desk.engine, new_id).model_dump() == new.model_dump()
    assert items_of(desk.engine, new_id)[0].status == "open"

    # A second reviewer issues it: due its terms after the approval day, charged, noticed.
    desk.clock.advance(timedelta(days=1))
    response = desk.client.post(approve, json={"note": "checked the refund"}, auth=ADMIN)
    assert response.status_code == 200, response.text
    issued = load_bill(desk.engine, new_id)
    with Session(desk.engine) as session:
        account = session.get(Account, issued.account_id)
        assert account is not None
    approved_on = desk.clock.now().astimezone(TZ).date()
    assert issued.status == "issued"
    terms = DEFAULT_PAYMENT_TERMS.terms_days(
        account_terms=account.payment_terms_days, customer_kind="residential"
    )
    assert issued.due_date == approved_on + timedelta(days=terms)
    assert charges_of(desk, new_id) == 1
    assert len(events_about(desk.engine, BILL_ISSUED, new_id)) == 1
    [item] = items_of(desk.engine, new_id)
    assert (item.status, item.resolved_by) == ("approved", ADMIN[0])


def test_a_correction_without_adjustment_lines_is_issued_at_once(desk: Desk) -> None:
    held = a_held_bill(desk.engine)
    response = desk.client.post(f"/api/v1/bills/{held.id}/correct",
                                json=correction(adjustments=[]), auth=REVIEWER)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "issued"
    new_id = response.json()["id"]
    assert items_of(desk.engine, new_id) == [] and charges_of(desk, new_id) == 1


def test_a_second_reviewer_may_correct_a_held_rebill_again(desk: Desk) -> None:
    held = a_held_bill(desk.engine)
    first = rebill(desk.client, held.id, REVIEWER)
    second = rebill(desk.client, first, ADMIN, kwh="151.000")  # holds again, raised by ADMIN
    assert load_bill(desk.engine, first).status == "cancelled"
    [old_item] = items_of(desk.engine, first)
    assert (old_item.status, old_item.resolved_by) == ("corrected", ADMIN[0])
    [item] = items_of(desk.engine, second)
    assert item.raised_by == ADMIN[0]
    assert desk.client.post(f"/api/v1/bills/{second}/approve", json={},
                            auth=ADMIN).status_code == 409  # fmt: skip
    assert desk.client.post(f"/api/v1/bills/{second}/approve", json={},
                            auth=REVIEWER).status_code == 200  # fmt: skip


def test_refund_or_rebill_appears_in_the_monthly_report_in_the_api_and_the_cli(
    cli_database: str, cli_env: CliRunner, settings: Settings
) -> None:
    engine = create_db_engine(cli_database)
    try:
        run = bill_and_hire(engine)
        assert "REFUND_OR_REBILL" not in run.review_by_rule  # a bill run never raises it
        with staff_desk(engine, settings, run) as desk:
            new_id = rebill(desk.client, a_held_bill(engine).id, REVIEWER)
            waiting = desk.client.get(REPORT, params={"month": NOVEMBER}, auth=ADMIN).json()
            assert waiting["by_rule"]["REFUND_OR_REBILL"] == {
                "open": 1, "approved": 0, "corrected": 0
            }  # fmt: skip
            table = cli_env.invoke(cli, ["report", "review", "--month", NOVEMBER])
            assert table.exit_code == 0 and "REFUND_OR_REBILL" in table.stdout, table.output
            approved = desk.client.post(f"/api/v1/bills/{new_id}/approve", json={}, auth=ADMIN)
            assert approved.status_code == 200, approved.text
            reported = desk.client.get(REPORT, params={"month": NOVEMBER}, auth=ADMIN).json()
    finally:
        engine.dispose()
    result = cli_env.invoke(cli, ["report", "review", "--month", NOVEMBER, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == reported
    assert summary["by_rule"]["REFUND_OR_REBILL"] == {"open": 0, "approved": 1, "corrected": 0}


def test_bill_is_never_left_without_a_live_bill_for_its_period(desk: Desk) -> None:
    held = a_held_bill(desk.engine)
    old = load_bill(desk.engine, held.id)
    rebill(desk.client, held.id, REVIEWER)
    with Session(desk.engine) as session:
        live = session.execute(
            select(col(Bill.status)).where(
                Bill.account_id == old.account_id,
                Bill.period_start == old.period_start,
                Bill.status != "cancelled",
            )
        ).all()
    assert [row[0] for row in live] == ["in_review"]
