"""Customers (`/console/customers`, every staff role may look): find a customer by name,
account number or contact address, see their contacts, accounts, tariffs and meters, and
make the common master data changes through the same services as the staff API
(docs/master-data.md): add a contact (agents and admins), change an account's reading day,
assign a tariff and replace a plain meter (admins). Each change is audited by its service."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.console.pages import (
    ConsoleUser,
    NavItem,
    PageRefused,
    after_action,
    allowed,
    console_router,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, Id, ServicesDep, SessionDep, SettingsDep
from api.routes.master_data import business_change
from billing_core.bills.model import BusinessChangeKind
from billing_core.customers import service as customers
from billing_core.customers.tables import Account, Customer
from billing_core.errors import NotFound
from billing_core.readings import meters, plans_changes
from billing_core.readings.model import Registers
from billing_core.readings.tables import Meter
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/customers", "Customers")
ContactEditor = Annotated[StaffUser, Depends(with_role(Role.agent))]
Admin = Annotated[StaffUser, Depends(with_role(Role.admin))]


@router.get("/console/customers", response_class=HTMLResponse)
def search_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    q: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    found = customers.search_customers(session=session, query=q) if q.strip() else []
    return render(request, "console/customers.html", user, {"q": q, "found": found})


def _accounts(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = []
    for account in customers.accounts_of(session, customer_id):
        assert account.id is not None
        rows.append({
            "account": account,
            "tariffs": customers.tariff_assignments(session, account.id),
            "meters": meters.meters_of(session, account.id),
        })  # fmt: skip
    return rows


@router.get("/console/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    customer_id: Id,
    user: ConsoleUser,
    session: SessionDep,
    parts: ServicesDep,
) -> HTMLResponse:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise PageRefused(404, f"no customer {customer_id}", user=user)
    return render(request, "console/customer.html", user, {
        "customer": customer,
        "contacts": customers.contacts_of(session, customer_id),
        "accounts": _accounts(session, customer_id),
        "tariff_codes": parts.tariffs.codes(),
        "may_edit_contacts": allowed(user, (Role.agent,)),
        "may_edit_accounts": allowed(user, (Role.admin,)),
    })  # fmt: skip


def _here(customer_id: int) -> str:
    return f"/console/customers/{customer_id}"


@router.post("/console/customers/{customer_id}/contacts")
def add_contact(
    customer_id: Id,
    user: ContactEditor,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    channel: Annotated[str, Form(max_length=16)] = "sms",
    address: Annotated[str, Form(max_length=128)] = "",
    attested: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    done = ""
    with refusals(session) as problems:
        contact = customers.add_contact(
            session=session, clock=clock, actor=f"staff:{user.username}",
            customer_id=customer_id, channel=channel, address=address,
            region=settings.phone_region, attested=attested,
        )  # fmt: skip
        state = "verified" if contact.verified else "unverified until the customer confirms"
        done = f"contact {contact.address} added ({state})"
    return after_action(_here(customer_id), problems, done)


@router.post("/console/accounts/{number}/reading-day")
def change_reading_day(
    number: str,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    reading_day: Annotated[int, Form(ge=1, le=28)],
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    page = _account_page(session, number)
    with refusals(session) as problems:
        plans_changes.check_direct_day_change(session=session, number=number,
                                              reading_day=reading_day)  # fmt: skip
        customers.update_account(
            session=session, clock=clock, actor=f"staff:{user.username}", number=number,
            changes={"reading_day": reading_day}, reason=reason,
        )  # fmt: skip
    return after_action(page, problems, f"account {number} is read on day {reading_day}")


@router.post("/console/accounts/{number}/tariff")
def assign_tariff(
    number: str,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    parts: ServicesDep,
    tariff_code: Annotated[str, Form(max_length=64)],
    effective_from: Annotated[date, Form()],
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    page = _account_page(session, number)
    actor = f"staff:{user.username}"
    with refusals(session) as problems:
        assignment = customers.assign_tariff(
            session=session, clock=clock, actor=actor, number=number, tariff_code=tariff_code,
            effective_from=effective_from, known_tariffs=parts.tariffs.codes(), reason=reason,
        )  # fmt: skip
        business_change(session, clock, actor, assignment.account_id,
                        BusinessChangeKind.tariff_change, effective_from, reason)  # fmt: skip
    return after_action(page, problems, f"account {number} on {tariff_code} from {effective_from}")


@router.post("/console/meters/{meter_id}/replace")
def replace_meter(
    meter_id: Id,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    read_at: Annotated[datetime, Form()],
    final_total: Annotated[Decimal, Form(ge=0, max_digits=16, decimal_places=4)],
    serial: Annotated[str, Form(max_length=32)],
    initial_total: Annotated[Decimal, Form(ge=0, max_digits=16, decimal_places=4)] = Decimal(0),
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """换表 on a plain (not time-of-use) meter: the old meter's final reading at `read_at`
    (the console's local time), the new meter from its initial reading, and the business
    change that holds the next bill for review. TOU meters: the API."""
    actor = f"staff:{user.username}"
    at = read_at if read_at.tzinfo else read_at.replace(tzinfo=settings.tz)
    page = _meter_page(session, meter_id)
    with refusals(session) as problems:
        meter = meters.replace_meter(
            session=session, clock=clock, actor=actor, tz=settings.tz, meter_id=meter_id,
            final=Registers(final_total), read_at=at,
            new=meters.MeterSpec(serial=serial, initial=Registers(initial_total)), reason=reason,
        )  # fmt: skip
        replaced = BusinessChangeKind.meter_replacement
        business_change(session, clock, actor, meter.account_id, replaced, meter.installed_on,
                        reason)  # fmt: skip
    return after_action(page, problems, f"meter {serial} replaces meter {meter_id}")


def _account_page(session: Session, number: str) -> str:
    """The page to go back to after an action on the account: its customer's, or the search
    page for an account that is not there (the action says so)."""
    try:
        return _here(customers.account_by_number(session, number).customer_id)
    except NotFound:
        return "/console/customers"


def _meter_page(session: Session, meter_id: int) -> str:
    meter = session.get(Meter, meter_id)
    account = session.get(Account, meter.account_id) if meter is not None else None
    return _here(account.customer_id) if account is not None else "/console/customers"
