"""A group customer's notice settings (docs/messages.md): whether its accounts share one
consolidated bill notice, and the customer who gets it. Audited."""

from __future__ import annotations

from sqlmodel import Session, col, select

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.customers.tables import Customer, CustomerGroup
from billing_core.errors import InvalidInput, NotFound

FIELDS = ("consolidated_notice", "contact_customer_id")


def set_group_notice(
    *,
    session: Session,
    clock: Clock,
    group_code: str,
    actor: str,
    consolidated: bool | None = None,
    contact_customer_id: int | None = None,
    clear_contact: bool = False,
) -> CustomerGroup:
    """Change what is given (the rest is kept) and record the change in the audit log."""
    group = session.exec(select(CustomerGroup).where(col(CustomerGroup.code) == group_code)).first()
    if group is None:
        raise NotFound(f"group: no customer group with code {group_code!r}")
    if clear_contact and contact_customer_id is not None:
        raise InvalidInput("contact: give a contact customer or clear it, not both")
    if contact_customer_id is not None and session.get(Customer, contact_customer_id) is None:
        raise NotFound(f"contact: no customer {contact_customer_id}")
    before = snapshot(group, FIELDS)
    if consolidated is not None:
        group.consolidated_notice = consolidated
    if contact_customer_id is not None or clear_contact:
        group.contact_customer_id = contact_customer_id
    session.add(group)
    session.flush()
    record_change(
        session=session, clock=clock, actor=actor, action="group.notice", entity="customer_group",
        entity_id=group.id, before=before, after=snapshot(group, FIELDS),
    )  # fmt: skip
    return group


def notice_state(group: CustomerGroup) -> str:
    """How the group's bills are announced, as staff read it."""
    if not group.consolidated_notice:
        return "a notice per account"
    if group.contact_customer_id is None:
        return "a notice per account (consolidated, but no contact customer)"
    return f"one consolidated notice, to customer {group.contact_customer_id}"
