"""The default send window is policy (policies/outbox.yaml), on SQLite and PostgreSQL: a
contact that keeps the default hours, and a recipient with no contact, follow the policy's
window; a contact whose customer chose hours keeps them; the dispatcher built from settings
reads the policy file."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from api.cli.dispatch_cmd import build_dispatcher
from billing_core.clock import FixedClock
from billing_core.db import session_scope
from billing_core.outbox.claims import claim_batch
from billing_core.outbox.policy import DEFAULT_OUTBOX_POLICY, load_outbox_policy
from billing_core.outbox.service import REPLY
from billing_core.outbox.windows import SendWindow
from billing_core.policies import DEFAULT_POLICY_DIR
from billing_core.settings import load_settings
from scheduler.dispatcher import Dispatcher
from sms.transport import OfflineTransport
from tests.factories import make_contact, make_customer
from tests.integration.outbox.helpers import SHANGHAI, put, row

LATE_MORNING = SendWindow(time(11, 0), time(20, 0))  # the clock reads 10:00 in Shanghai


def queue(session: Session, clock: FixedClock) -> None:
    customer = make_customer(session, at=clock.now())
    default = make_contact(session, customer=customer, at=clock.now())
    chosen = make_contact(session, customer=customer, at=clock.now(),
                          allowed_from=time(9, 0), allowed_until=time(20, 0))  # fmt: skip
    put(session, clock, default.address, "w:default", customer_id=customer.id)
    put(session, clock, chosen.address, "w:chosen", customer_id=customer.id)
    put(session, clock, "+8613900000777", "w:nobody")  # no contact row
    put(session, clock, default.address, "w:reply", kind=REPLY, customer_id=customer.id)


def test_the_policys_window_holds_recipients_who_kept_the_default_hours(
    session: Session, clock: FixedClock
) -> None:
    queue(session, clock)
    claimed = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI,
                          default_window=LATE_MORNING)  # fmt: skip
    assert {c.body for c in claimed} == {"message w:chosen", "message w:reply"}
    opens = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert row(session, "w:default").not_before == opens
    assert row(session, "w:nobody").not_before == opens


def test_with_the_shipped_policy_every_one_goes_at_ten(session: Session, clock: FixedClock) -> None:
    queue(session, clock)
    policy = load_outbox_policy()
    assert policy == DEFAULT_OUTBOX_POLICY
    assert policy.send_window.window == SendWindow(time(8, 0), time(21, 0))
    claimed = claim_batch(session=session, clock=clock, limit=10, tz=SHANGHAI,
                          default_window=policy.send_window.window)  # fmt: skip
    assert len(claimed) == 4


def test_the_dispatcher_holds_messages_by_the_policy_file(
    fresh_engine: Engine, tmp_path: Path
) -> None:
    clock = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    with session_scope(fresh_engine) as session:
        queue(session, clock)
    policies = tmp_path / "policies"
    policies.mkdir()
    for source in DEFAULT_POLICY_DIR.glob("*.yaml"):
        (policies / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    (policies / "outbox.yaml").write_text(
        'version: 1\neffective_from: 2025-01-01\nsend_window:\n  allowed_from: "11:00"\n'
        '  allowed_until: "20:00"\n',
        encoding="utf-8",
    )
    config = load_settings(data_dir=tmp_path, policy_dir=policies, _env_file=None)
    built = build_dispatcher(config, fresh_engine, clock)
    built.stop()
    assert built.send_window == LATE_MORNING
    dispatcher = Dispatcher(engine=fresh_engine, clock=clock, transports=[OfflineTransport()],
                            tz=SHANGHAI, send_window=built.send_window)  # fmt: skip
    report = dispatcher.drain()
    dispatcher.stop()
    assert report.claimed == 2
    with session_scope(fresh_engine, write=False) as session:
        assert row(session, "w:default").status == "pending"
        assert row(session, "w:chosen").status == "delivered"  # the offline transport
