"""Shared by the outbox and notices tests: the fake Twilio API with the real client, and a
dispatch pass run inside the test's session (claim, send, record)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from bench.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioApi
from billing_core.clock import Clock
from billing_core.outbox.claims import claim_batch
from billing_core.outbox.dispatch import record_result
from billing_core.outbox.retry import RetryPolicy
from billing_core.outbox.service import AUTOMATED, Recipient, enqueue_message
from billing_core.outbox.tables import OutboxMessage
from billing_core.outbox.transport import Transport
from sms.transport import TwilioTransport

SHANGHAI = ZoneInfo("Asia/Shanghai")
FROM = "+15005550006"
CALLBACK = "https://desk.example.com/sms/twilio/status"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def twilio(fake_twilio: FakeTwilioApi) -> TwilioTransport:
    return TwilioTransport(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=FROM,
        api_base=fake_twilio.url,
        status_callback=CALLBACK,
    )


def dispatch(
    session: Session,
    clock: Clock,
    transport: Transport,
    *,
    retry: RetryPolicy | None = None,
    tz: ZoneInfo = SHANGHAI,
) -> list[str]:
    """One dispatcher pass in the test's session: the new status of each claimed message."""
    claimed = claim_batch(session=session, clock=clock, limit=100, tz=tz, channels=["sms"])
    statuses = []
    for message in claimed:
        statuses.append(
            record_result(
                session=session,
                clock=clock,
                message=message,
                result=transport.send(message),
                retry=retry or RetryPolicy(),
                rand=lambda: 0.5,
            )
        )
    return statuses


def put(
    session: Session,
    clock: Clock,
    to: str,
    key: str,
    *,
    kind: str = AUTOMATED,
    body: str | None = None,
    customer_id: int | None = None,
    not_before: datetime | None = None,
    template: str = "test",
) -> None:
    enqueue_message(
        session=session,
        clock=clock,
        dedupe_key=key,
        recipient=Recipient("sms", to),
        template=template,
        language="en",
        body=body or f"message {key}",
        kind=kind,
        customer_id=customer_id,
        not_before=not_before,
    )


def row(session: Session, key: str) -> OutboxMessage:
    session.expire_all()
    return session.exec(select(OutboxMessage).where(col(OutboxMessage.dedupe_key) == key)).one()
