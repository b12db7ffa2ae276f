"""Personal API tokens on both databases: `wattdesk staff token create | list | revoke`, the
token printed once and only its hash stored, lifetimes checked, changes audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.errors import Conflict, InvalidInput, NotFound
from billing_core.staff import tokens
from billing_core.staff.service import add_staff
from billing_core.staff.tables import StaffToken, StaffUser

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def hire(session: Session, username: str = "li") -> StaffUser:
    return add_staff(session=session, clock=FixedClock(NOW), username=username,
                     role="collections", password="a-long-password", actor="test")  # fmt: skip


def test_a_token_is_stored_as_its_hash_and_signs_in_its_user_for_its_lifetime(
    session: Session,
) -> None:
    user = hire(session)
    row, token = tokens.create_token(session=session, clock=FixedClock(NOW), username="li",
                                     days=30, label="bank import", actor="cli")  # fmt: skip
    assert token.startswith(tokens.PREFIX) and len(token) > 40
    assert row.token_hash == tokens.token_hash(token) and token not in row.token_hash
    assert row.expires_at == NOW + timedelta(days=30)
    found = tokens.staff_for_token(session=session, token=token, now=NOW + timedelta(days=29))
    assert found is not None and found.id == user.id
    assert tokens.staff_for_token(session=session, token=token, now=row.expires_at) is None
    audit = session.exec(select(AuditEntry).where(AuditEntry.entity == "staff_token")).one()
    assert audit.action == "staff.token.create" and "token_hash" not in (audit.after or {})

    tokens.revoke_token(session=session, clock=FixedClock(NOW), token_id=row.id or 0, actor="x")
    assert tokens.staff_for_token(session=session, token=token, now=NOW) is None
    (info,) = tokens.list_tokens(session=session, username="li")
    assert (info.label, info.status(NOW)) == ("bank import", "revoked")


def test_bad_token_requests_are_refused(session: Session) -> None:
    hire(session)
    clock = FixedClock(NOW)
    for days in (0, -1, tokens.MAX_DAYS + 1):
        with pytest.raises(InvalidInput):
            tokens.create_token(session=session, clock=clock, username="li", days=days, actor="t")
    with pytest.raises(NotFound):
        tokens.create_token(session=session, clock=clock, username="nobody", days=1, actor="t")
    session.exec(select(StaffUser).where(StaffUser.username == "li")).one().active = False
    with pytest.raises(Conflict):
        tokens.create_token(session=session, clock=clock, username="li", days=1, actor="t")
    with pytest.raises(NotFound):
        tokens.revoke_token(session=session, clock=clock, token_id=10**6, actor="t")


def test_cli_creates_lists_and_revokes_tokens(cli_env: CliRunner, cli_database: str) -> None:
    from api.cli import app

    added = cli_env.invoke(app, ["staff", "add", "-u", "zhao", "-r", "collections"],
                           input="a-long-password\n")  # fmt: skip
    assert added.exit_code == 0, added.output

    created = cli_env.invoke(app, ["staff", "token", "create", "--user", "zhao", "--days", "7",
                                   "--label", "nightly bank file"])  # fmt: skip
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith(tokens.PREFIX) and "\n" not in token  # alone on standard output
    assert "shown once" in created.stderr

    listed = cli_env.invoke(app, ["staff", "token", "list"])
    assert listed.exit_code == 0, listed.output
    assert "zhao" in listed.output and "nightly bank file" in listed.output
    assert "active" in listed.output and token not in listed.output

    from api.cli import common

    with Session(common.engine()) as session:
        row = session.exec(select(StaffToken)).one()
        assert row.token_hash == tokens.token_hash(token)
    revoked = cli_env.invoke(app, ["staff", "token", "revoke", str(row.id)])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in cli_env.invoke(app, ["staff", "token", "list", "--user", "zhao"]).output

    for bad in (["--user", "nobody", "--days", "7"], ["--user", "zhao", "--days", "0"]):
        refused = cli_env.invoke(app, ["staff", "token", "create", *bad])
        assert refused.exit_code == 2, refused.output
    assert cli_env.invoke(app, ["staff", "token", "revoke", "999"]).exit_code == 2
