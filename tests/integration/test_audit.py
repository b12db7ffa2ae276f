from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, select

from billing_core.audit.service import history, record_change, snapshot
from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from tests.factories import make_account, make_customer, make_meter


def test_an_update_records_only_what_changed_with_who_when_and_why(
    session: Session, clock: FixedClock
) -> None:
    meter = make_meter(
        session,
        account=make_account(session, customer=make_customer(session, at=clock.now())),
        multiplier=Decimal("1.0000"),
    )
    before = snapshot(meter)
    meter.multiplier = Decimal("30.0000")
    record_change(
        session=session,
        clock=clock,
        actor="staff:admin",
        action="meter.update",
        entity="meter",
        entity_id=meter.id,
        before=before,
        after=snapshot(meter),
        reason="CT ratio corrected after site visit",
    )
    [entry] = history(session=session, entity="meter", entity_id=meter.id)
    assert entry.actor == "staff:admin"
    assert entry.at == clock.now()
    assert entry.before == {"multiplier": "1.0000"}
    assert entry.after == {"multiplier": "30.0000"}
    assert entry.reason == "CT ratio corrected after site visit"


def test_the_entry_rolls_back_with_the_change_it_describes(
    session: Session, clock: FixedClock
) -> None:
    savepoint = session.begin_nested()
    record_change(
        session=session,
        clock=clock,
        actor="cli",
        action="x",
        entity="account",
        entity_id=1,
        before=None,
        after={"status": "active"},
    )
    session.flush()
    savepoint.rollback()
    assert session.exec(select(AuditEntry)).all() == []


def test_secrets_never_reach_the_audit_log(session: Session) -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    entry = record_change(
        session=session,
        clock=clock,
        actor="cli",
        action="staff.add",
        entity="staff_user",
        entity_id=7,
        before=None,
        after={"username": "u", "password_hash": "$argon2id$..."},
    )
    assert entry.after == {"username": "u"}
