"""`make demo`'s payment story against the running demo server: 李娜's pay link (as the demo
prints it) opens, the sandbox checkout pays it, her balance is zero and the receipt is in the
outbox."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from billing_core.bills.statement import account_statement
from billing_core.customers.tables import Account
from billing_core.db import create_db_engine
from billing_core.outbox.tables import OutboxMessage
from billing_core.payments.tables import Payment
from billing_core.seed.demo import LI_NA
from tests.e2e.conftest import RunningServer

pytestmark = pytest.mark.e2e

PAY_URL = re.compile(r"https?://\S+/p/[A-Za-z0-9_-]{22,}")


def cli(server: RunningServer, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATTDESK_")}
    env["WATTDESK_DATA_DIR"] = str(server.data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=server.data_dir, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def on_server(server: RunningServer, url: str) -> str:
    """The URL's path on the test's server (links carry WATTDESK_PUBLIC_BASE_URL's port)."""
    parts = urlsplit(url)
    return f"{server.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def test_a_demo_customers_pay_link_is_paid_in_the_sandbox(demo_server: RunningServer) -> None:
    # The pay link the demo prints for 李娜 (preparing again makes a fresh one).
    printed = cli(demo_server, "demo", "--prepare-only")
    line = next(line for line in printed.splitlines() if "Pay 李娜's bill" in line)
    match = PAY_URL.search(line)
    assert match, line
    link = on_server(demo_server, match.group(0))

    with httpx.Client(follow_redirects=False, timeout=30) as client:
        page = client.get(link)
        assert page.status_code == 200, page.text
        assert "李*" in page.text and LI_NA.account_number in page.text
        assert "测试模式" in page.text
        due = re.search(r'<div class="due">¥([\d,]+\.\d\d)</div>', page.text)
        assert due, page.text
        amount = Decimal(due.group(1).replace(",", ""))
        assert amount > 0

        # A tampered form changes nothing: the server asks for what is due.
        started = client.post(f"{link}/checkout", data={"amount": "0.01"})
        assert started.status_code == 303, demo_server.log()[-4000:]
        sandbox = on_server(demo_server, started.headers["location"])
        assert "/sandbox/checkout/" in sandbox
        checkout = client.get(sandbox)
        assert "测试模式" in checkout.text and f"¥{amount:,}" in checkout.text

        paid = client.post(sandbox, data={"outcome": "succeed"})
        assert paid.status_code == 303
        result = client.get(on_server(demo_server, paid.headers["location"]))
        assert "缴费成功" in result.text
        receipt_link = re.search(r'href="(https?://[^"]+/receipts/\d+/[0-9a-f]+)"', result.text)
        assert receipt_link, result.text
        receipt = client.get(on_server(demo_server, receipt_link.group(1)))
        assert receipt.status_code == 200 and f"¥{amount:,}" in receipt.text
        # The paid link no longer opens a pay page.
        assert client.get(link).status_code == 404

    engine = create_db_engine(f"sqlite:///{demo_server.data_dir / 'wattdesk.sqlite3'}")
    try:
        with Session(engine) as session:
            account = session.scalars(
                select(Account).where(col(Account.number) == LI_NA.account_number)
            ).one()
            statement = account_statement(
                session=session, account_id=account.id or 0,
                today=datetime.now(UTC).date(), currency="CNY",
            )  # fmt: skip
            [payment] = session.scalars(
                select(Payment).where(col(Payment.account_id) == account.id)
            ).all()
            receipt_message = session.scalars(
                select(OutboxMessage).where(
                    col(OutboxMessage.dedupe_key) == f"receipt:payment:{payment.id}"
                )
            ).one()
    finally:
        engine.dispose()
    assert statement.balance == 0 and statement.open_bills == ()
    assert (payment.amount, payment.channel) == (amount, "sandbox")
    assert receipt_message.recipient == LI_NA.phone
    assert "已收到" in receipt_message.body


def test_payments_link_prints_a_working_link(demo_server: RunningServer) -> None:
    printed = cli(demo_server, "payments", "link", "1000000002")
    match = PAY_URL.search(printed)
    assert match, printed
    page = httpx.get(on_server(demo_server, match.group(0)), timeout=30)
    assert page.status_code == 200
    assert "E*** B****" in page.text and "1000000002" in page.text
