"""`wattdesk groups notice CODE`: sets a group's consolidated notice and its contact customer,
audited, on SQLite and PostgreSQL; an unknown group or customer is refused by name."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select
from typer.testing import CliRunner

from api.cli import app
from billing_core.audit.tables import AuditEntry
from billing_core.customers.tables import Customer, CustomerGroup
from billing_core.db import create_db_engine

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_set_a_group_contact_then_per_account_audited(
    cli_database: str, cli_env: CliRunner
) -> None:
    engine = create_db_engine(cli_database)
    with Session(engine) as session:
        session.add(CustomerGroup(code="HD", name="Hongda", consolidated_notice=True))
        contact = Customer(name="Finance office", created_at=NOW)
        session.add(contact)
        session.commit()
        contact_id = contact.id
    result = cli_env.invoke(app, ["groups", "notice", "HD", "--contact", str(contact_id)])
    assert result.exit_code == 0, result.output
    assert f"one consolidated notice, to customer {contact_id}" in result.output
    result = cli_env.invoke(app, ["groups", "notice", "HD", "--per-account"])
    assert result.exit_code == 0 and "a notice per account" in result.output
    with Session(engine) as session:
        group = session.exec(select(CustomerGroup)).one()
        assert (group.consolidated_notice, group.contact_customer_id) == (False, contact_id)
        entries = session.exec(
            select(AuditEntry).where(col(AuditEntry.entity) == "customer_group")
        ).all()
        assert [e.action for e in entries] == ["group.notice", "group.notice"]
        assert all(e.actor == "cli" for e in entries)
    engine.dispose()


def test_an_unknown_group_or_customer_is_refused_by_name(
    cli_database: str, cli_env: CliRunner
) -> None:
    result = cli_env.invoke(app, ["groups", "notice", "NOPE", "--consolidated"])
    assert result.exit_code == 2 and "no customer group with code 'NOPE'" in result.output
    engine = create_db_engine(cli_database)
    with Session(engine) as session:
        session.add(CustomerGroup(code="HD", name="Hongda"))
        session.commit()
    engine.dispose()
    result = cli_env.invoke(app, ["groups", "notice", "HD", "--contact", "999"])
    assert result.exit_code == 2 and "contact: no customer 999" in result.output
