"""Payments from other channels on both databases: a file reconciled into the ledger line by
line, the same reference twice ignored and reported, probable duplicates flagged inside the
window and not outside it, allocation afterwards, all or nothing, the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.app import create_app
from billing_core.audit.tables import AuditEntry
from billing_core.bills.statement import Statement, account_statement
from billing_core.bills.tables import Bill
from billing_core.clock import FixedClock
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine, session_scope
from billing_core.ledger.tables import LedgerEntry
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments import reconcile
from billing_core.payments.importing import parse_csv
from billing_core.payments.policy import load_payments_policy, payment_context
from billing_core.payments.reconcile import PaymentImportReport, import_payments
from billing_core.payments.service import PaymentContext
from billing_core.payments.tables import Payment
from billing_core.settings import Settings
from billing_core.staff.service import add_staff
from tests.conftest import migrated_database
from tests.factories import (
    make_account,
    make_bill,
    make_charge,
    make_contact,
    make_customer,
)

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 1, 1, tzinfo=UTC)
HEADER = "channel,reference,account_number,amount,paid_at,bill_id,payer_note\n"


def local(month: int, day: int, hour: int = 9, minute: int = 0) -> str:
    return datetime(2026, month, day, hour, minute).isoformat(timespec="minutes")


def csv_of(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


@dataclass
class Desk:
    """An account with two issued, charged bills (September 100.00, October 80.00), a
    verified SMS contact, and another account with a bill of its own."""

    session: Session
    clock: FixedClock
    context: PaymentContext
    account: Account
    september: Bill
    october: Bill
    other: Account
    others_bill: Bill

    def run(self, text: str, source: str = "file:bank-1120.csv") -> PaymentImportReport:
        return import_payments(
            session=self.session,
            clock=self.clock,
            context=self.context,
            parsed=parse_csv(text, tz=TZ, currency="CNY", now=self.clock.now()),
            source=source,
            actor="test",
        )

    def statement(self, account: Account | None = None) -> Statement:
        return account_statement(
            session=self.session,
            account_id=(account or self.account).id or 0,
            today=self.context.today(self.clock),
            currency="CNY",
        )

    def payments(self) -> list[Payment]:
        return list(self.session.exec(select(Payment).order_by(col(Payment.id))))


@pytest.fixture
def desk(session: Session, clock: FixedClock, settings: Settings) -> Desk:
    customer = make_customer(session, at=AT)
    make_contact(session, customer=customer, at=AT)
    account = make_account(session, customer=customer)
    september = make_bill(session, account=account, period_start=date(2026, 9, 5),
                          total=Decimal("100.00"), due_date=date(2026, 10, 20), at=AT)  # fmt: skip
    october = make_bill(session, account=account, period_start=date(2026, 10, 5),
                        total=Decimal("80.00"), due_date=date(2026, 11, 20), at=AT)  # fmt: skip
    make_charge(session, bill=september, on=date(2026, 10, 5), at=AT)
    make_charge(session, bill=october, on=date(2026, 11, 5), at=AT)
    other = make_account(session, customer=make_customer(session, at=AT))
    others_bill = make_bill(session, account=other, period_start=date(2026, 10, 5),
                            total=Decimal("50.00"), due_date=date(2026, 11, 20), at=AT)  # fmt: skip
    make_charge(session, bill=others_bill, on=date(2026, 11, 5), at=AT)
    context = payment_context(settings, load_payments_policy(settings.policy_dir))
    return Desk(session, clock, context, account, september, october, other, others_bill)


def count(session: Session, model: type[object]) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_a_bank_file_is_reconciled_line_by_line(desk: Desk) -> None:
    number = desk.account.number
    report = desk.run(csv_of(
        f"bank,B-001,{number},100.00,{local(11, 20)},{desk.september.id},代扣",
        f"counter,C-001,0000000000,10.00,{local(11, 20)},,",
        f"kiosk,K-001,{number},50.00,{local(11, 20)},{desk.others_bill.id},",
        f"atm,A-001,{number},12.345,{local(11, 20)},,",
        f"third_party,T-001,{number},30.00,{local(11, 21, 14, 5)},,",
    ))  # fmt: skip

    assert (report.received, report.recorded, report.flagged, report.ignored,
            report.rejected) == (5, 2, 0, 0, 3)  # fmt: skip
    assert report.amount_recorded == Decimal("130.00")
    assert {line.where: line.reason for line in report.rejected_lines} == {
        "line 3": "unknown account '0000000000'",
        "line 4": f"bill {desk.others_bill.id} is not on account {number}",
        "line 5": "amount '12.345' has more than 2 decimal places",
    }
    first, second = desk.payments()
    assert [line.payment_id for line in report.recorded_lines] == [first.id, second.id]
    assert report.recorded_lines[0].payer_note == "代扣"
    assert (first.channel, first.provider_reference, first.amount, first.bill_id) == (
        "bank", "B-001", Decimal("100.00"), desk.september.id,
    )  # fmt: skip
    assert first.received_at == datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    assert first.source == "file:bank-1120.csv"
    assert desk.statement().balance == Decimal("50.00")  # 180 charged, 130 paid

    receipts = desk.session.exec(
        select(OutboxMessage).where(OutboxMessage.template == "receipt")
    ).all()
    assert len(receipts) == 2  # accept_payment ran for each line: a receipt each
    (audit,) = desk.session.exec(
        select(AuditEntry).where(AuditEntry.action == "payments.import")
    ).all()
    assert audit.actor == "test" and audit.entity_id == "file:bank-1120.csv"
    assert audit.after is not None
    assert (audit.after["recorded"], audit.after["rejected"]) == (2, 3)
    assert audit.after["amount_recorded"] == "130.00"


def test_a_long_source_is_kept_whole_where_it_fits(desk: Desk) -> None:
    source = "file:" + "对账单" * 100 + ".csv"
    desk.run(csv_of(f"bank,B-1,{desk.account.number},10.00,{local(11, 20)},,"), source=source)
    (payment,) = desk.payments()
    assert payment.source == source[:255]
    (audit,) = desk.session.exec(
        select(AuditEntry).where(AuditEntry.action == "payments.import")
    ).all()
    assert audit.entity_id == source[:64] and audit.after is not None
    assert audit.after["source"] == source


def test_the_same_reference_twice_is_ignored_and_reported_and_changes_nothing(
    desk: Desk,
) -> None:
    number = desk.account.number
    text = csv_of(
        f"bank,B-001,{number},100.00,{local(11, 20)},,",
        f"bank,B-001,{number},100.00,{local(11, 20)},,",  # the bank sent the line twice
    )
    first = desk.run(text)
    (payment,) = desk.payments()
    assert (first.recorded, first.ignored) == (1, 1)
    assert first.ignored_lines[0].where == "line 3"
    assert first.ignored_lines[0].reason == f"already recorded (payment {payment.id})"
    balance = desk.statement().balance
    entries = count(desk.session, LedgerEntry)
    messages = count(desk.session, OutboxMessage)

    again = desk.run(text.replace("100.00", "90.00", 1), source="file:bank-1120-resent.csv")
    assert (again.recorded, again.ignored, again.amount_recorded) == (0, 2, Decimal(0))
    assert [line.payment_id for line in again.ignored_lines] == [payment.id, payment.id]
    assert again.ignored_lines[0].reason == (
        f"already recorded (payment {payment.id}) with amount 100.00: check this line"
    )
    assert desk.payments() == [payment]
    assert desk.statement().balance == balance == Decimal("80.00")
    assert count(desk.session, LedgerEntry) == entries
    assert count(desk.session, OutboxMessage) == messages


def test_the_same_reference_on_another_channel_is_another_payment(desk: Desk) -> None:
    number = desk.account.number
    report = desk.run(csv_of(
        f"bank,0001,{number},10.00,{local(11, 20)},,",
        f"counter,0001,{number},10.00,{local(11, 20)},,",
    ))  # fmt: skip
    assert (report.recorded, report.ignored) == (2, 0)


def test_the_same_amount_for_a_bill_from_two_channels_within_a_day_is_flagged(
    desk: Desk,
) -> None:
    number, bill = desk.account.number, desk.october.id
    desk.run(csv_of(f"bank,B-1,{number},80.00,{local(11, 20, 9, 30)},{bill},"))
    report = desk.run(
        csv_of(f"counter,C-1,{number},80.00,{local(11, 21, 9, 0)},{bill},"),
        source="file:counter-1121.csv",
    )
    original, repeat = desk.payments()
    assert (report.recorded, report.flagged) == (1, 1)
    (line,) = report.flagged_lines
    assert (line.payment_id, line.duplicate_of) == (repeat.id, original.id)
    assert f"probable duplicate of payment {original.id}" in line.reason
    assert repeat.probable_duplicate_of == original.id
    # The money did arrive: it is recorded, and is credit until refunded.
    assert desk.statement().balance == Decimal("20.00")  # 180 − 160


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (("counter", "C-1", "80.00", (11, 21, 10, 0), "october"), "25 hours later"),
        (("counter", "C-1", "80.00", (11, 20, 12, 0), "september"), "another bill"),
        (("counter", "C-1", "79.99", (11, 20, 12, 0), "october"), "another amount"),
        (("counter", "C-1", "80.00", (11, 20, 12, 0), None), "no bill named"),
        (("bank", "B-2", "80.00", (11, 20, 12, 0), "october"), "the same channel"),
    ],
)
def test_not_flagged_outside_the_window_or_the_rule(
    desk: Desk, second: tuple[str, str, str, tuple[int, int, int, int], str | None], why: str
) -> None:
    number = desk.account.number
    desk.run(csv_of(f"bank,B-1,{number},80.00,{local(11, 20, 9, 0)},{desk.october.id},"))
    channel, reference, amount, when, bill_name = second
    bill = getattr(desk, bill_name).id if bill_name else ""
    report = desk.run(csv_of(f"{channel},{reference},{number},{amount},{local(*when)},{bill},"))
    assert (report.recorded, report.flagged) == (1, 0), why
    assert desk.payments()[1].probable_duplicate_of is None


def test_payments_are_allocated_oldest_bill_first_and_overpayment_is_credit(desk: Desk) -> None:
    number = desk.account.number
    desk.run(csv_of(f"bank,B-1,{number},150.00,{local(11, 20)},,"))
    statement = desk.statement()
    assert [(b.bill_id, b.open_amount, b.standing.value) for b in statement.bills] == [
        (desk.september.id, Decimal("0.00"), "paid"),
        (desk.october.id, Decimal("30.00"), "overdue"),  # due 20 November, today is the 26th
    ]
    desk.run(csv_of(f"counter,C-1,{number},60.00,{local(11, 25)},,"))
    statement = desk.statement()
    assert [b.open_amount for b in statement.bills] == [Decimal(0), Decimal(0)]
    assert (statement.balance, statement.credit) == (Decimal("-30.00"), Decimal("30.00"))
    assert desk.statement(desk.other).balance == Decimal("50.00")  # untouched


def test_a_failure_mid_import_leaves_nothing_of_the_batch(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk.session.commit()  # the accounts stay; the import below is the caller's unit of work
    real = reconcile.accept_payment
    calls = 0

    def fails_second_time(**kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reconcile, "accept_payment", fails_second_time)
    number = desk.account.number
    with pytest.raises(RuntimeError, match="disk full"):
        desk.run(csv_of(
            f"bank,B-1,{number},10.00,{local(11, 20)},,",
            f"bank,B-2,{number},10.00,{local(11, 20)},,",
        ))  # fmt: skip
    desk.session.rollback()
    assert desk.payments() == []
    assert desk.statement().balance == Decimal("180.00")
    assert count(desk.session, AuditEntry) == 0


# --- the API --------------------------------------------------------------------------------

API_CLOCK = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
API_ACCOUNT = "8000000001"


@pytest.fixture(scope="module")
def api_engine(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A fresh database for this module's API tests, with staff users and one account with
    one charged bill; dropped afterwards, so committed requests never leak."""
    with migrated_database(db_kind, tmp_path_factory.mktemp("api")) as engine:
        clock = FixedClock(API_CLOCK)
        with session_scope(engine) as session:
            for username, role in (("cora", "collections"), ("andy", "agent"), ("ada", "admin")):
                add_staff(session=session, clock=clock, username=username, role=role,
                          password=PASSWORD, actor="test")  # fmt: skip
            account = make_account(session, customer=make_customer(session, at=AT),
                                   number=API_ACCOUNT)  # fmt: skip
            bill = make_bill(session, account=account, period_start=date(2026, 10, 5),
                             total=Decimal("80.00"), due_date=date(2026, 11, 20),
                             at=AT)  # fmt: skip
            make_charge(session, bill=bill, on=date(2026, 11, 5), at=AT)
        yield engine


@pytest.fixture
def client(settings: Settings, api_engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings, engine=api_engine, clock=FixedClock(API_CLOCK), configure_logs=False)
    with TestClient(app) as test_client:
        yield test_client


def item(reference: str, amount: object = "20.00", **fields: object) -> dict[str, object]:
    return {"channel": "third_party", "reference": reference, "account_number": API_ACCOUNT,
            "amount": amount, "paid_at": "2026-11-25T20:15", **fields}  # fmt: skip


def test_api_records_a_batch_and_reports_bad_items(client: TestClient) -> None:
    body = {"source": "alipay-1125", "payments": [item("AP-1"), item("AP-2", "-1"),
                                                  item("AP-3", account_number="0")]}  # fmt: skip
    response = client.post("/api/v1/payments", json=body, auth=("cora", PASSWORD))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["recorded"], report["rejected"], report["actor"]) == (1, 2, "staff:cora")
    assert report["source"] == "api:alipay-1125" and report["amount_recorded"] == "20.00"
    assert [line["where"] for line in report["rejected_lines"]] == ["payments[1]", "payments[2]"]

    again = client.post("/api/v1/payments", json=body, auth=("ada", PASSWORD))
    assert again.status_code == 200
    assert (again.json()["recorded"], again.json()["ignored"]) == (0, 1)
    assert again.json()["ignored_lines"][0]["reason"].startswith("already recorded (payment ")


def test_api_numbers_are_read_as_exact_decimals(client: TestClient) -> None:
    raw = json.dumps({"source": "exact", "payments": [item("EX-1", 0)]}).replace(
        '"amount": 0', '"amount": 10.10'
    )
    response = client.post(
        "/api/v1/payments",
        content=raw,
        headers={"Content-Type": "application/json"},
        auth=("cora", PASSWORD),
    )
    assert response.status_code == 200, response.text
    assert response.json()["recorded_lines"][0]["amount"] == "10.10"


@pytest.mark.parametrize(
    ("auth", "status"),
    [(None, 401), (("cora", "wrong password"), 401), (("andy", PASSWORD), 403)],
)
def test_api_needs_collections_or_admin(
    client: TestClient, auth: tuple[str, str] | None, status: int
) -> None:
    response = client.post("/api/v1/payments", json={"payments": "x"}, auth=auth)
    assert response.status_code == status


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b'{"source": "x", "payments": []}', b'{"payments": [{}]}',
     b'{"source": "x", "payments": [{}], "extra": 1}'],
)  # fmt: skip
def test_api_body_not_of_the_documented_shape_is_422(client: TestClient, payload: bytes) -> None:
    response = client.post(
        "/api/v1/payments",
        content=payload,
        headers={"Content-Type": "application/json"},
        auth=("cora", PASSWORD),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_api_body_is_documented_in_openapi(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/payments"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "reference" in schema["properties"]["payments"]["items"]["properties"]


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def cli_account(cli_database: str, monkeypatch: pytest.MonkeyPatch, clock: FixedClock) -> str:
    """An account with a charged bill in the database the CLI uses."""
    from api.cli import payments_cmd

    monkeypatch.setattr(payments_cmd, "clock", lambda: clock)
    engine = create_db_engine(cli_database)
    with session_scope(engine) as session:
        account = make_account(session, customer=make_customer(session, at=AT),
                               number="7000000001")  # fmt: skip
        bill = make_bill(session, account=account, period_start=date(2026, 10, 5),
                         total=Decimal("80.00"), due_date=date(2026, 11, 20), at=AT)  # fmt: skip
        make_charge(session, bill=bill, on=date(2026, 11, 5), at=AT)
    engine.dispose()
    return cli_database


def stored_payments(url: str) -> int:
    engine = create_db_engine(url)
    with session_scope(engine) as session:
        found = count(session, Payment)
    engine.dispose()
    return found


def test_cli_imports_a_file_line_by_line_and_records_each_reference_once(
    cli_env: CliRunner, cli_account: str, tmp_path: Path
) -> None:
    from api.cli import app

    file = tmp_path / "bank-1120.csv"
    file.write_text(csv_of(
        f"bank,B-1,7000000001,50.00,{local(11, 20)},,",
        f"bank,B-2,7000000001,abc,{local(11, 20)},,",
        f"bank,B-3,0000000000,5.00,{local(11, 20)},,",
    ), encoding="utf-8")  # fmt: skip
    result = cli_env.invoke(app, ["payments", "import", str(file)])
    assert result.exit_code == 0, result.output
    assert "1 recorded" in result.output and "2 rejected" in result.output
    assert "line 3" in result.output and "not a number" in result.output
    assert stored_payments(cli_account) == 1

    again = cli_env.invoke(app, ["payments", "import", str(file), "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.output)
    assert (report["recorded"], report["ignored"], report["rejected"]) == (0, 1, 2)
    assert report["source"] == "file:bank-1120.csv" and report["actor"] == "cli"
    assert stored_payments(cli_account) == 1


def test_cli_refuses_an_unreadable_file_or_a_bad_header_with_exit_2(
    cli_env: CliRunner, cli_account: str, tmp_path: Path
) -> None:
    from api.cli import app

    missing = cli_env.invoke(app, ["payments", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    odd = tmp_path / "odd.csv"
    odd.write_text("channel,reference,account_number,amount,paid_at,memo\n", encoding="utf-8")
    refused = cli_env.invoke(app, ["payments", "import", str(odd)])
    assert refused.exit_code == 2 and "unknown column" in refused.output
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(csv_of(f"bank,B-1,7000000001,5,{local(11, 20)},,备注").encode("gbk"))
    result = cli_env.invoke(app, ["payments", "import", str(gbk)])
    assert result.exit_code == 2 and "UTF-8" in result.output
    assert stored_payments(cli_account) == 0


def test_an_acknowledged_payment_is_committed_before_the_answer_starts(
    settings: Settings, api_engine: Engine
) -> None:
    """A bank integration that got 200 does not retry: what the answer says is recorded must
    be durable when the answer leaves, seen from another connection at that very moment."""
    app = create_app(settings, engine=api_engine, clock=FixedClock(API_CLOCK), configure_logs=False)
    seen_at_answer: list[int] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start" and scope["path"] == "/api/v1/payments":
                with api_engine.connect() as other:
                    seen_at_answer.append(
                        other.execute(
                            select(func.count()).select_from(Payment)
                            .where(col(Payment.provider_reference) == "ACK-1")
                        ).scalar_one()
                    )  # fmt: skip
            await send(message)

        await app(scope, receive, watch)

    with TestClient(spy) as test_client:
        body = {"source": "bank-ack", "payments": [item("ACK-1")]}
        response = test_client.post("/api/v1/payments", json=body, auth=("cora", PASSWORD))
    assert response.status_code == 200, response.text
    assert response.json()["recorded"] == 1
    assert seen_at_answer == [1]
