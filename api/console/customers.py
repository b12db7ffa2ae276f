"""Customers (`/console/customers`, every staff role may look): find a customer by name,
account number or contact address, see their contacts, accounts, tariffs and meters, and
make the master data changes through the same services as the staff API
(docs/master-data.md): add a contact, mark one verified with how it was checked, or remove
one (agents and admins); create or edit a customer, open an account, change its reading day,
assign a tariff, and install, replace, remove or link a meter, plain or time-of-use (admins).
Each change is audited by its service; a refused one comes back to the page with the
reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.auth import actor_name
from api.console.pages import (
    ConsoleUser,
    NavItem,
    PageRefused,
    after_action,
    allowed,
    back,
    console_router,
    optional_decimal,
    optional_int,
    refusals,
    render,
    with_role,
)
from api.deps import ClockDep, Id, ServicesDep, SessionDep, SettingsDep
from api.routes.master_data import business_change
from billing_core.arrears.orders import flag_sensitive
from billing_core.bills.model import BusinessChangeKind
from billing_core.customers import service as customers
from billing_core.customers.model import CustomerKind, FieldError, Language, SensitivityKind
from billing_core.customers.tables import (
    Account,
    Contact,
    Customer,
    CustomerGroup,
    CustomerSensitivity,
)
from billing_core.errors import NotFound
from billing_core.readings import meters, plans_changes
from billing_core.readings.model import Registers
from billing_core.readings.tables import Meter
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = console_router()
NAV = NavItem("/console/customers", "Customers")
ContactEditor = Annotated[StaffUser, Depends(with_role(Role.agent))]
# A care flag protects, so whoever hears of it records it; ending one is collections' (and admins').
FlagRecorder = Annotated[StaffUser, Depends(with_role(Role.agent, Role.collections))]
FlagEnder = Annotated[StaffUser, Depends(with_role(Role.collections))]
CARE_KINDS: dict[str, str] = {
    SensitivityKind.medical_equipment: "medical equipment at home (e.g. an oxygen concentrator)",
    SensitivityKind.elderly_alone: "elderly, living alone",
    SensitivityKind.hardship: "registered hardship (低保)",
    SensitivityKind.infant: "an infant in the household",
}
Admin = Annotated[StaffUser, Depends(with_role(Role.admin))]


@router.get("/console/customers", response_class=HTMLResponse)
def search_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    q: Annotated[str, Query(max_length=128)] = "",
) -> HTMLResponse:
    found = customers.search_customers(session=session, query=q) if q.strip() else []
    return render(request, "console/customers.html", user, {
        "q": q, "found": found, "may_create": allowed(user, (Role.admin,)),
        "kinds": list(CustomerKind), "languages": list(Language),
        "groups": customers.groups(session),
    })  # fmt: skip


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
    clock: ClockDep,
    settings: SettingsDep,
) -> HTMLResponse:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise PageRefused(404, f"no customer {customer_id}", user=user)
    group = session.get(CustomerGroup, customer.group_id) if customer.group_id else None
    today = clock.now().astimezone(settings.tz).date()
    flags = [{"flag": flag, "label": CARE_KINDS.get(flag.kind, flag.kind),
              "in_force": customers.in_force(flag, today)}
             for flag in customers.sensitivities_of(session, customer_id)]  # fmt: skip
    return render(request, "console/customer.html", user, {
        "customer": customer,
        "group": group,
        "flags": flags,
        "care_kinds": CARE_KINDS,
        "may_add_flags": allowed(user, (Role.agent, Role.collections)),
        "may_end_flags": allowed(user, (Role.collections,)),
        "contacts": customers.contacts_of(session, customer_id),
        "accounts": _accounts(session, customer_id),
        "tariff_codes": parts.tariffs.codes(),
        "kinds": list(CustomerKind),
        "languages": list(Language),
        "groups": customers.groups(session),
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
            session=session, clock=clock, actor=actor_name(user),
            customer_id=customer_id, channel=channel, address=address,
            region=settings.phone_region, attested=attested,
        )  # fmt: skip
        state = "verified" if contact.verified else "unverified until the customer confirms"
        done = f"contact {contact.address} added ({state})"
    return after_action(_here(customer_id), problems, done)


@router.post("/console/contacts/{contact_id}/verify")
def verify_contact(
    contact_id: Id,
    user: ContactEditor,
    session: SessionDep,
    clock: ClockDep,
    attested: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Staff checked the contact themselves (an ID card at the counter, a call back to the
    number on file): `attested` says how, and is audited."""
    page, done = _contact_page(session, contact_id), ""
    with refusals(session) as problems:
        contact = customers.verify_contact_by_staff(
            session=session, clock=clock, actor=actor_name(user), contact_id=contact_id,
            attested=attested,
        )  # fmt: skip
        done = f"contact {contact.address} verified"
    return after_action(page, problems, done)


@router.post("/console/contacts/{contact_id}/remove")
def remove_contact(
    contact_id: Id,
    user: ContactEditor,
    session: SessionDep,
    clock: ClockDep,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    contact = session.get(Contact, contact_id)
    page = _here(contact.customer_id) if contact is not None else "/console/customers"
    address = contact.address if contact is not None else str(contact_id)
    with refusals(session) as problems:
        customers.remove_contact(
            session=session, clock=clock, actor=actor_name(user), contact_id=contact_id,
            reason=reason,
        )  # fmt: skip
    return after_action(page, problems, f"contact {address} removed")


@router.post("/console/customers/{customer_id}/sensitivities")
def add_care_flag(
    customer_id: Id,
    user: FlagRecorder,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    kind: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=500)] = "",
    valid_to: Annotated[date | None, Form()] = None,
) -> Response:
    """A care flag in force from today: the customer's pending disconnection orders are
    withdrawn at once and a person gets a review task for each case (docs/arrears.md)."""
    done = ""
    with refusals(session) as problems:
        flagged = flag_sensitive(
            session=session, clock=clock, actor=actor_name(user),
            customer_id=customer_id, kind=kind, note=note,
            today=clock.now().astimezone(settings.tz).date(), valid_to=valid_to,
        )  # fmt: skip
        said = [f"care flag recorded: {CARE_KINDS.get(flagged.flag.kind, kind)}"]
        said += [f"disconnection order {n} withdrawn" for n in flagged.withdrawn]
        said += [f"disconnection order {n} was approved for a time already past: reach the "
                 "crew now (a review task is open)" for n in flagged.overdue]  # fmt: skip
        done = "; ".join(said)
    return after_action(_here(customer_id), problems, done)


@router.post("/console/sensitivities/{sensitivity_id}/end")
def end_care_flag(
    sensitivity_id: Id,
    user: FlagEnder,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    flag = session.get(CustomerSensitivity, sensitivity_id)
    page = _here(flag.customer_id) if flag is not None else "/console/customers"
    done = ""
    with refusals(session) as problems:
        ended = customers.end_sensitivity(
            session=session, clock=clock, actor=actor_name(user),
            sensitivity_id=sensitivity_id, today=clock.now().astimezone(settings.tz).date(),
            reason=reason,
        )  # fmt: skip
        done = f"care flag ended: its last day was {ended.valid_to}"
    return after_action(page, problems, done)


def _contact_page(session: Session, contact_id: int) -> str:
    contact = session.get(Contact, contact_id)
    return _here(contact.customer_id) if contact is not None else "/console/customers"


@router.post("/console/customers")
def create_customer(
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=32)] = CustomerKind.residential,
    language: Annotated[str, Form(max_length=16)] = Language.zh_cn,
    household_size: Annotated[int, Form(ge=1, le=50)] = 1,
    group_code: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """A new customer, then their page (to add contacts and open accounts)."""
    with refusals(session) as problems:
        customer = customers.create_customer(
            session=session, clock=clock, actor=actor_name(user), name=name, kind=kind,
            language=language, household_size=household_size, group_code=group_code or None,
            reason=reason,
        )  # fmt: skip
        assert customer.id is not None
        return back(_here(customer.id), done=f"customer {customer.name} created")
    return after_action("/console/customers", problems, "")


@router.post("/console/customers/{customer_id}/edit")
def edit_customer(
    customer_id: Id,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    language: Annotated[str, Form(max_length=16)] = "",
    household_size: Annotated[int, Form(ge=1, le=50)] = 1,
    group_code: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """The fields the form shows, changed where they differ from what is stored (the audit
    entry holds the difference)."""
    done = ""
    with refusals(session) as problems:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"no customer {customer_id}")
        group = session.get(CustomerGroup, customer.group_id) if customer.group_id else None
        stored = {"name": customer.name, "kind": customer.kind, "language": customer.language,
                  "household_size": customer.household_size,
                  "group_code": group.code if group is not None else ""}  # fmt: skip
        sent = {"name": name, "kind": kind, "language": language,
                "household_size": household_size, "group_code": group_code.strip()}  # fmt: skip
        changes = {field: value for field, value in sent.items() if value != stored[field]}
        if not changes:
            raise FieldError("name", "nothing to change: the form is what is stored")
        customers.update_customer(
            session=session, clock=clock, actor=actor_name(user),
            customer_id=customer_id, changes=changes, reason=reason,
        )  # fmt: skip
        done = f"customer {customer_id}: {', '.join(sorted(changes))} changed"
    return after_action(_here(customer_id), problems, done)


@router.post("/console/customers/{customer_id}/accounts")
def open_account(
    customer_id: Id,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    parts: ServicesDep,
    number: Annotated[str, Form(max_length=32)],
    service_address: Annotated[str, Form(max_length=300)],
    reading_day: Annotated[int, Form(ge=1, le=28)],
    opened_on: Annotated[date, Form()],
    tariff_code: Annotated[str, Form(max_length=64)],
    billing_cycle_months: Annotated[int, Form(ge=1, le=12)] = 1,
    payment_terms_days: Annotated[str, Form(max_length=4)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """An account on the customer (新装): empty payment terms follow the customer's kind."""
    done = ""
    with refusals(session) as problems:
        terms = optional_int("payment_terms_days", payment_terms_days)
        account = customers.open_account(
            session=session, clock=clock, actor=actor_name(user),
            customer_id=customer_id, number=number, service_address=service_address,
            reading_day=reading_day, opened_on=opened_on, tariff_code=tariff_code,
            known_tariffs=parts.tariffs.codes(), billing_cycle_months=billing_cycle_months,
            payment_terms_days=terms, reason=reason,
        )  # fmt: skip
        done = f"account {account.number} opened"
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
            session=session, clock=clock, actor=actor_name(user), number=number,
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
    actor = actor_name(user)
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
    final_tou: FinalTou,
    initial_tou: InitialTou,
    initial_total: Annotated[Decimal, Form(ge=0, max_digits=16, decimal_places=4)] = Decimal(0),
    tou: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """换表: the old meter's final reading at `read_at` (the console's local time; with its
    peak / flat / valley on a time-of-use meter), the new meter from its initial reading
    (`tou`: a time-of-use meter, its three registers too), and the business change that
    holds the next bill for review."""
    actor = actor_name(user)
    at = read_at if read_at.tzinfo else read_at.replace(tzinfo=settings.tz)
    page = _meter_page(session, meter_id)
    with refusals(session) as problems:
        new = meters.MeterSpec(serial=serial, initial=initial_tou.with_total(initial_total),
                               tou=tou)  # fmt: skip
        meter = meters.replace_meter(
            session=session, clock=clock, actor=actor, tz=settings.tz, meter_id=meter_id,
            final=final_tou.with_total(final_total), read_at=at, new=new, reason=reason,
        )  # fmt: skip
        replaced = BusinessChangeKind.meter_replacement
        business_change(session, clock, actor, meter.account_id, replaced, meter.installed_on,
                        reason)  # fmt: skip
    return after_action(page, problems, f"meter {serial} replaces meter {meter_id}")


@router.post("/console/accounts/{number}/meters")
def install_meter(
    number: str,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    serial: Annotated[str, Form(max_length=32)],
    installed_on: Annotated[date, Form()],
    initial_tou: InitialTou,
    initial_total: Annotated[Decimal, Form(ge=0, max_digits=16, decimal_places=4)] = Decimal(0),
    multiplier: Annotated[Decimal, Form(gt=0, max_digits=10, decimal_places=4)] = Decimal(1),
    digits: Annotated[int, Form(ge=3, le=10)] = 6,
    parent_meter_id: Annotated[str, Form(max_length=12)] = "",
    tou: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """装表: a meter on an account with none in service, from its initial reading (`tou`: a
    time-of-use meter, with its peak / flat / valley registers)."""
    page, done = _account_page(session, number), ""
    with refusals(session) as problems:
        meter = meters.install_meter(
            session=session, clock=clock, actor=actor_name(user), number=number,
            spec=meters.MeterSpec(serial=serial, initial=initial_tou.with_total(initial_total),
                                  multiplier=multiplier, digits=digits, tou=tou),
            installed_on=installed_on,
            parent_meter_id=optional_int("parent_meter_id", parent_meter_id), reason=reason,
        )  # fmt: skip
        done = f"meter {meter.serial} installed on account {number}"
    return after_action(page, problems, done)


@router.post("/console/meters/{meter_id}/remove")
def remove_meter(
    meter_id: Id,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    read_at: Annotated[datetime, Form()],
    final_total: Annotated[Decimal, Form(ge=0, max_digits=16, decimal_places=4)],
    final_tou: FinalTou,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """拆表: the meter out of service with its final reading at `read_at` (local time; with
    peak / flat / valley on a time-of-use meter); the account is billed up to it and no
    further until a meter is installed."""
    at = read_at if read_at.tzinfo else read_at.replace(tzinfo=settings.tz)
    page, done = _meter_page(session, meter_id), ""
    with refusals(session) as problems:
        meter = meters.remove_meter(
            session=session, clock=clock, actor=actor_name(user), tz=settings.tz,
            meter_id=meter_id, final=final_tou.with_total(final_total), read_at=at,
            reason=reason,
        )  # fmt: skip
        done = f"meter {meter.serial} removed on {meter.removed_on}"
    return after_action(page, problems, done)


@router.post("/console/meters/{meter_id}/parent")
def link_meter(
    meter_id: Id,
    user: Admin,
    session: SessionDep,
    clock: ClockDep,
    parent_meter_id: Annotated[str, Form(max_length=12)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """A sub-meter under its master meter (总表/分表), or none (empty)."""
    page, done = _meter_page(session, meter_id), ""
    with refusals(session) as problems:
        parent = optional_int("parent_meter_id", parent_meter_id)
        meters.link_meter(
            session=session, clock=clock, actor=actor_name(user), meter_id=meter_id,
            parent_meter_id=parent, reason=reason,
        )  # fmt: skip
        done = (f"meter {meter_id} under meter {parent}" if parent is not None
                else f"meter {meter_id} has no parent meter")  # fmt: skip
    return after_action(page, problems, done)


@dataclass(frozen=True)
class TouRegisters:
    """A time-of-use meter's peak / flat / valley registers as a form sends them (empty on a
    plain meter)."""

    peak: str
    flat: str
    valley: str
    prefix: str

    def with_total(self, total: Decimal) -> Registers:
        peak, flat, valley = (optional_decimal(f"{self.prefix}{name}", getattr(self, name))
                              for name in ("peak", "flat", "valley"))  # fmt: skip
        return Registers(total, peak, flat, valley)


def _final_registers(
    final_peak: Annotated[str, Form(max_length=20)] = "",
    final_flat: Annotated[str, Form(max_length=20)] = "",
    final_valley: Annotated[str, Form(max_length=20)] = "",
) -> TouRegisters:
    return TouRegisters(final_peak, final_flat, final_valley, "final.")


def _initial_registers(
    initial_peak: Annotated[str, Form(max_length=20)] = "",
    initial_flat: Annotated[str, Form(max_length=20)] = "",
    initial_valley: Annotated[str, Form(max_length=20)] = "",
) -> TouRegisters:
    return TouRegisters(initial_peak, initial_flat, initial_valley, "initial.")


FinalTou = Annotated[TouRegisters, Depends(_final_registers)]
InitialTou = Annotated[TouRegisters, Depends(_initial_registers)]


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
