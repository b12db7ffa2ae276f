import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from billing_core.audit.tables import AuditEntry
from billing_core.clock import FixedClock
from billing_core.errors import Conflict, InvalidInput, PermissionDenied
from billing_core.staff.model import Role
from billing_core.staff.service import add_staff, authenticate, require_role
from billing_core.staff.tables import StaffUser


def test_staff_are_stored_with_an_argon2_hash_and_audited(
    session: Session, clock: FixedClock
) -> None:
    user = add_staff(
        session=session,
        clock=clock,
        username="wang.fang",
        role="agent",
        password="correct horse battery",
        actor="cli",
    )
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert (
        authenticate(session=session, username="wang.fang", password="correct horse battery")
        == user
    )
    assert authenticate(session=session, username="wang.fang", password="wrong password!") is None
    assert authenticate(session=session, username="nobody", password="whatever12") is None
    audit = session.exec(select(AuditEntry).where(AuditEntry.entity == "staff_user")).one()
    assert "password_hash" not in (audit.after or {})


@pytest.mark.parametrize(
    ("username", "role", "password", "error"),
    [
        ("ok", "janitor", "long enough pw", InvalidInput),
        ("ok", "agent", "short", InvalidInput),
        ("bad name!", "agent", "long enough pw", InvalidInput),
    ],
)
def test_bad_staff_input_is_refused(
    session: Session,
    clock: FixedClock,
    username: str,
    role: str,
    password: str,
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        add_staff(
            session=session,
            clock=clock,
            username=username,
            role=role,
            password=password,
            actor="cli",
        )


def test_duplicate_username_is_a_conflict(session: Session, clock: FixedClock) -> None:
    add_staff(
        session=session,
        clock=clock,
        username="li",
        role="reviewer",
        password="0123456789",
        actor="cli",
    )
    with pytest.raises(Conflict):
        add_staff(
            session=session,
            clock=clock,
            username="li",
            role="agent",
            password="0123456789",
            actor="cli",
        )


def test_roles_gate_actions_and_admin_may_do_everything() -> None:
    agent = StaffUser(username="a", role=Role.agent, password_hash="x")
    admin = StaffUser(username="b", role=Role.admin, password_hash="x")
    require_role(agent, Role.agent)
    require_role(admin, Role.reviewer)
    with pytest.raises(PermissionDenied):
        require_role(agent, Role.reviewer)


def test_cli_staff_add_reads_the_password_from_stdin(cli_env: CliRunner, cli_database: str) -> None:
    from api.cli import app

    result = cli_env.invoke(
        app,
        ["staff", "add", "--username", "zhang", "--role", "reviewer"],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    assert "zhang" in result.output
    again = cli_env.invoke(
        app,
        ["staff", "add", "--username", "zhang", "--role", "reviewer"],
        input="a-long-password\n",
    )
    assert again.exit_code == 2
    assert "already exists" in again.output
    bad_role = cli_env.invoke(
        app, ["staff", "add", "--username", "x", "--role", "boss"], input="a-long-password\n"
    )
    assert bad_role.exit_code == 2
