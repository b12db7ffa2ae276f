"""Customer groups (`/console/groups`, every staff role may look; linked from the Customers
page): each group (集团客户) with its members and how its bills are announced, one
consolidated notice to its contact customer or a notice per account (docs/messages.md).
Admins create a group and change its name, its notice and its contact customer; a group's
members are set on each customer's page. Audited by the services, as the API's."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func
from sqlmodel import col, select

from api.auth import actor_name
from api.console.pages import (
    ConsoleUser,
    after_action,
    allowed,
    console_router,
    optional_int,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, Id, SessionDep
from billing_core.customers import service as customers
from billing_core.customers.tables import Customer, CustomerGroup
from billing_core.errors import NotFound
from billing_core.notices.groups import notice_state, set_group_notice
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
HERE = "/console/groups"
NAV = None  # reached from the Customers page: an admin's nav is full
Admin = Annotated[StaffUser, Depends(with_role(Role.admin))]


@router.get(HERE, response_class=HTMLResponse)
def groups_page(request: Request, user: ConsoleUser, session: SessionDep) -> HTMLResponse:
    members = dict(session.execute(
        select(Customer.group_id, func.count()).where(col(Customer.group_id).is_not(None))
        .group_by(col(Customer.group_id))
    ).all())  # fmt: skip
    groups = customers.groups(session)
    contact_ids = [g.contact_customer_id for g in groups if g.contact_customer_id is not None]
    names = dict(session.execute(
        select(Customer.id, Customer.name).where(col(Customer.id).in_(contact_ids))
    ).all()) if contact_ids else {}  # fmt: skip
    rows = [{"group": g, "members": members.get(g.id, 0), "notice": notice_state(g),
             "contact_name": names.get(g.contact_customer_id, "")} for g in groups]  # fmt: skip
    return render(request, "console/groups.html", user, {
        "rows": rows, "may_edit": allowed(user, (Role.admin,)),
    })  # fmt: skip


@router.post(HERE)
def create_group(
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    code: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    consolidated_notice: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    done = ""
    with refusals(session) as problems:
        group = customers.create_group(
            session=session, clock=clock, actor=actor_name(user), code=code, name=name,
            consolidated_notice=consolidated_notice, reason=reason,
        )  # fmt: skip
        done = f"group {group.code} created"
    return after_action(HERE, problems, done)


@router.post(HERE + "/{group_id}/edit")
def edit_group(
    group_id: Id,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
    consolidated_notice: Annotated[bool, Form()] = False,
    contact_customer_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """The name (if changed) and the notice: consolidated or per account, and the customer who
    gets the consolidated one (empty: none, so each account is notified)."""
    actor, done = actor_name(user), ""
    with refusals(session) as problems:
        group = session.get(CustomerGroup, group_id)
        if group is None:
            raise NotFound(f"no customer group {group_id}")
        contact = optional_int("contact_customer_id", contact_customer_id)
        if name.strip() != group.name:
            customers.update_group(session=session, clock=clock, actor=actor, group_id=group_id,
                                   changes={"name": name}, reason=reason)  # fmt: skip
        set_group_notice(
            session=session, clock=clock, group_code=group.code, actor=actor,
            consolidated=consolidated_notice, contact_customer_id=contact,
            clear_contact=contact is None,
        )  # fmt: skip
        done = f"group {group.code}: {notice_state(group)}"
    return after_action(HERE, problems, done)
