"""The staff API for master data: customers, groups, accounts, contacts, meters, tariff
assignments and business changes (docs/master-data.md).

Roles: any staff user may read; contacts (add, verify, remove) are agents' and admins'
work; every other change is an admin's. Each change is validated by its service (a
refusal is 422 or 409 naming the field, a request field of the wrong type or unknown is
FastAPI's 422 naming it) and audited with who, what, before and after. The role is
checked before the body is read and before the unit of work begins."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.auth import StaffDep, actor_name, staff_router, staff_with_role
from api.deps import ClockDep, Id, ServicesDep, SessionDep, SettingsDep, exact_json, json_body_doc
from api.errors import error_responses
from billing_core.arrears.orders import flag_sensitive
from billing_core.audit.service import snapshot
from billing_core.bills.model import BusinessChangeKind
from billing_core.clock import Clock
from billing_core.customers import service as customers
from billing_core.customers.model import Channel, CustomerKind, Language, SensitivityKind
from billing_core.customers.tables import Customer
from billing_core.errors import NotFound
from billing_core.readings import meters, plans_changes
from billing_core.readings.model import Registers
from billing_core.staff.model import Role
from billing_core.staff.tables import StaffUser

router = staff_router(prefix="/api/v1", tags=["master data"])
Admin = Annotated[StaffUser, Depends(staff_with_role())]  # admins only
ContactEditor = Annotated[StaffUser, Depends(staff_with_role(Role.agent))]
# A care flag protects: whoever hears of it records it; ending one is collections' (or an admin's).
FlagRecorder = Annotated[StaffUser, Depends(staff_with_role(Role.agent, Role.collections))]
FlagEnder = Annotated[StaffUser, Depends(staff_with_role(Role.collections))]
Number = Annotated[str, Field(min_length=1, max_length=20)]
Reason = Annotated[str, Field(max_length=300)]
WRITE_ERRORS = error_responses(403, 404, 409, 422)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- request bodies ---------------------------------------------------------------------------


class GroupBody(Strict):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)
    consolidated_notice: bool = True
    reason: Reason = ""


class GroupChanges(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    consolidated_notice: bool | None = None
    reason: Reason = ""


class CustomerBody(Strict):
    name: str = Field(min_length=1, max_length=200)
    kind: CustomerKind = CustomerKind.residential
    language: Language = Language.zh_cn
    household_size: int = Field(default=1, ge=1, le=50)
    group_code: str | None = Field(default=None, max_length=32)
    reason: Reason = ""


class CustomerChanges(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: CustomerKind | None = None
    language: Language | None = None
    household_size: int | None = Field(default=None, ge=1, le=50)
    group_code: str | None = Field(default=None, max_length=32)  # "" for none
    reason: Reason = ""


class AccountBody(Strict):
    number: Number
    service_address: str = Field(min_length=1, max_length=300)
    reading_day: int = Field(ge=1, le=28)
    opened_on: date
    tariff_code: str = Field(min_length=1, max_length=64)
    billing_cycle_months: int = Field(default=1, ge=1, le=12)
    # empty: the policy's terms for the customer's kind (policies/payment_terms.yaml)
    payment_terms_days: int | None = Field(default=None, ge=0, le=90)
    reason: Reason = ""


class AccountChanges(Strict):
    service_address: str | None = Field(default=None, min_length=1, max_length=300)
    reading_day: int | None = Field(default=None, ge=1, le=28)
    billing_cycle_months: int | None = Field(default=None, ge=1, le=12)
    payment_terms_days: int | None = Field(default=None, ge=0, le=90)
    reason: Reason = ""


class TariffBody(Strict):
    tariff_code: str = Field(min_length=1, max_length=64)
    effective_from: date
    business_change: bool = True  # record a tariff_change, so the next bill is reviewed
    reason: Reason = ""


class ChangeBody(Strict):
    kind: BusinessChangeKind
    effective_on: date
    note: str = Field(default="", max_length=300)


class ContactBody(Strict):
    channel: Channel
    address: str = Field(min_length=1, max_length=128)
    notify: bool = True
    # How staff checked it, if they did (the contact is then verified); empty: unverified
    # until the customer confirms a one-time code.
    attested: str = Field(default="", max_length=500)


class AttestBody(Strict):
    attested: str = Field(min_length=1, max_length=500)


class ReasonBody(Strict):
    reason: str = Field(min_length=1, max_length=300)


class SensitivityBody(Strict):
    kind: SensitivityKind
    note: str = Field(min_length=1, max_length=500)  # what staff heard or saw
    valid_to: date | None = None  # its last day; none: until ended


Register = Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=4)]


class RegistersBody(Strict):
    total: Register
    peak: Register | None = None
    flat: Register | None = None
    valley: Register | None = None

    def registers(self) -> Registers:
        return Registers(self.total, self.peak, self.flat, self.valley)


class MeterBody(Strict):
    serial: str = Field(min_length=1, max_length=32)
    initial: RegistersBody
    multiplier: Decimal = Field(default=Decimal(1), gt=0, max_digits=10, decimal_places=4)
    digits: int = Field(default=6, ge=3, le=10)
    tou: bool = False

    def spec(self) -> meters.MeterSpec:
        return meters.MeterSpec(
            serial=self.serial,
            initial=self.initial.registers(),
            multiplier=self.multiplier,
            digits=self.digits,
            tou=self.tou,
        )


class InstallBody(MeterBody):
    installed_on: date
    parent_meter_id: int | None = Field(default=None, ge=1)
    business_change: bool = False  # a new connection's first bill is reviewed anyway
    reason: Reason = ""


class ReplaceBody(Strict):
    read_at: AwareDatetime  # the old meter's final reading; the replacement's day
    final: RegistersBody
    new: MeterBody
    reason: Reason = ""


class RemoveBody(Strict):
    read_at: AwareDatetime
    final: RegistersBody
    reason: str = Field(min_length=1, max_length=300)


class LinkBody(Strict):
    parent_meter_id: int | None = Field(ge=1)
    reason: Reason = ""


class Row(BaseModel):
    """One row as stored (its columns; dates ISO 8601, amounts as decimal strings), and for
    a customer or an account the rows that belong to it."""

    model_config = ConfigDict(extra="allow")
    id: int


class Rows(BaseModel):
    items: list[Row]


class Removed(BaseModel):
    removed: int  # the contact's id


def _changes(body: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in body.model_dump(exclude_unset=True).items() if k != "reason"}


# --- reads ------------------------------------------------------------------------------------


@router.get("/customers", response_model=Rows, responses=error_responses(403))
def search_customers(
    session: SessionDep, _user: StaffDep, q: Annotated[str, Query(min_length=1, max_length=128)]
) -> dict[str, Any]:
    """Customers by part of their name, an account number or a contact address."""
    found = customers.search_customers(session=session, query=q)
    return {"items": [snapshot(customer) for customer in found]}


@router.get("/customers/{customer_id}", response_model=Row, responses=error_responses(404))
def customer_detail(customer_id: Id, session: SessionDep, _user: StaffDep) -> dict[str, Any]:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    return {
        **snapshot(customer),
        "contacts": [snapshot(c) for c in customers.contacts_of(session, customer_id)],
        "accounts": [snapshot(a) for a in customers.accounts_of(session, customer_id)],
        "sensitivities": [snapshot(f) for f in customers.sensitivities_of(session, customer_id)],
    }


@router.get("/accounts/{number}", response_model=Row, responses=error_responses(404))
def account_detail(number: str, session: SessionDep, _user: StaffDep) -> dict[str, Any]:
    account = customers.account_by_number(session, number)
    assert account.id is not None
    return {
        **snapshot(account),
        "tariff_assignments": [
            snapshot(t) for t in customers.tariff_assignments(session, account.id)
        ],
        "business_changes": [snapshot(c) for c in customers.business_changes(session, account.id)],
        "meters": [snapshot(m) for m in meters.meters_of(session, account.id)],
    }


@router.get("/groups", response_model=Rows, responses=error_responses(403))
def list_groups(session: SessionDep, _user: StaffDep) -> dict[str, Any]:
    return {"items": [snapshot(group) for group in customers.groups(session)]}


# --- groups and customers ---------------------------------------------------------------------


@router.post(
    "/groups",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(GroupBody),
    responses=WRITE_ERRORS,
)
def create_group(
    user: Admin,
    body: Annotated[GroupBody, Depends(exact_json(GroupBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    group = customers.create_group(
        session=session, clock=clock, actor=actor_name(user), code=body.code, name=body.name,
        consolidated_notice=body.consolidated_notice, reason=body.reason,
    )  # fmt: skip
    return snapshot(group)


@router.patch(
    "/groups/{group_id}",
    response_model=Row,
    openapi_extra=json_body_doc(GroupChanges),
    responses=WRITE_ERRORS,
)
def update_group(
    group_id: Id,
    user: Admin,
    body: Annotated[GroupChanges, Depends(exact_json(GroupChanges))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    group = customers.update_group(
        session=session, clock=clock, actor=actor_name(user), group_id=group_id,
        changes=_changes(body), reason=body.reason,
    )  # fmt: skip
    return snapshot(group)


@router.post(
    "/customers",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(CustomerBody),
    responses=WRITE_ERRORS,
)
def create_customer(
    user: Admin,
    body: Annotated[CustomerBody, Depends(exact_json(CustomerBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    customer = customers.create_customer(
        session=session, clock=clock, actor=actor_name(user), name=body.name, kind=body.kind,
        language=body.language, household_size=body.household_size,
        group_code=body.group_code, reason=body.reason,
    )  # fmt: skip
    return snapshot(customer)


@router.patch(
    "/customers/{customer_id}",
    response_model=Row,
    openapi_extra=json_body_doc(CustomerChanges),
    responses=WRITE_ERRORS,
)
def update_customer(
    customer_id: Id,
    user: Admin,
    body: Annotated[CustomerChanges, Depends(exact_json(CustomerChanges))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    customer = customers.update_customer(
        session=session, clock=clock, actor=actor_name(user), customer_id=customer_id,
        changes=_changes(body), reason=body.reason,
    )  # fmt: skip
    return snapshot(customer)


# --- contacts ---------------------------------------------------------------------------------


@router.post(
    "/customers/{customer_id}/contacts",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(ContactBody),
    responses=WRITE_ERRORS,
)
def add_contact(
    customer_id: Id,
    user: ContactEditor,
    body: Annotated[ContactBody, Depends(exact_json(ContactBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    contact = customers.add_contact(
        session=session, clock=clock, actor=actor_name(user), customer_id=customer_id,
        channel=body.channel, address=body.address, region=settings.phone_region,
        notify=body.notify, attested=body.attested,
    )  # fmt: skip
    return snapshot(contact)


@router.post(
    "/contacts/{contact_id}/verify",
    response_model=Row,
    openapi_extra=json_body_doc(AttestBody),
    responses=WRITE_ERRORS,
)
def verify_contact(
    contact_id: Id,
    user: ContactEditor,
    body: Annotated[AttestBody, Depends(exact_json(AttestBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    contact = customers.verify_contact_by_staff(
        session=session, clock=clock, actor=actor_name(user), contact_id=contact_id,
        attested=body.attested,
    )  # fmt: skip
    return snapshot(contact)


@router.post(
    "/contacts/{contact_id}/remove",
    response_model=Removed,
    openapi_extra=json_body_doc(ReasonBody),
    responses=WRITE_ERRORS,
)
def remove_contact(
    contact_id: Id,
    user: ContactEditor,
    body: Annotated[ReasonBody, Depends(exact_json(ReasonBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    customers.remove_contact(
        session=session, clock=clock, actor=actor_name(user), contact_id=contact_id,
        reason=body.reason,
    )  # fmt: skip
    return {"removed": contact_id}


# --- care (sensitivity) flags ------------------------------------------------------------------


@router.post(
    "/customers/{customer_id}/sensitivities",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(SensitivityBody),
    responses=WRITE_ERRORS,
)
def add_sensitivity(
    customer_id: Id,
    user: FlagRecorder,
    body: Annotated[SensitivityBody, Depends(exact_json(SensitivityBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """A care flag in force from today; the customer's pending disconnection orders are
    withdrawn (`withdrawn_orders`); `overdue_orders` were approved for a time already past
    and need a person to reach the crew."""
    flagged = flag_sensitive(
        session=session, clock=clock, actor=actor_name(user), customer_id=customer_id,
        kind=body.kind, note=body.note, today=clock.now().astimezone(settings.tz).date(),
        valid_to=body.valid_to,
    )  # fmt: skip
    return {**snapshot(flagged.flag), "withdrawn_orders": list(flagged.withdrawn),
            "overdue_orders": list(flagged.overdue)}  # fmt: skip


@router.post(
    "/sensitivities/{sensitivity_id}/end",
    response_model=Row,
    openapi_extra=json_body_doc(ReasonBody),
    responses=WRITE_ERRORS,
)
def end_sensitivity(
    sensitivity_id: Id,
    user: FlagEnder,
    body: Annotated[ReasonBody, Depends(exact_json(ReasonBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    flag = customers.end_sensitivity(
        session=session, clock=clock, actor=actor_name(user), sensitivity_id=sensitivity_id,
        today=clock.now().astimezone(settings.tz).date(), reason=body.reason,
    )  # fmt: skip
    return snapshot(flag)


# --- accounts, tariffs, business changes ------------------------------------------------------


@router.post(
    "/customers/{customer_id}/accounts",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(AccountBody),
    responses=WRITE_ERRORS,
)
def open_account(
    customer_id: Id,
    user: Admin,
    body: Annotated[AccountBody, Depends(exact_json(AccountBody))],
    session: SessionDep,
    clock: ClockDep,
    parts: ServicesDep,
) -> dict[str, Any]:
    account = customers.open_account(
        session=session, clock=clock, actor=actor_name(user), customer_id=customer_id,
        number=body.number, service_address=body.service_address,
        reading_day=body.reading_day, opened_on=body.opened_on, tariff_code=body.tariff_code,
        known_tariffs=parts.tariffs.codes(), billing_cycle_months=body.billing_cycle_months,
        payment_terms_days=body.payment_terms_days, reason=body.reason,
    )  # fmt: skip
    return snapshot(account)


@router.patch(
    "/accounts/{number}",
    response_model=Row,
    openapi_extra=json_body_doc(AccountChanges),
    responses=WRITE_ERRORS,
)
def update_account(
    number: str,
    user: Admin,
    body: Annotated[AccountChanges, Depends(exact_json(AccountChanges))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    if body.reading_day is not None:
        plans_changes.check_direct_day_change(session=session, number=number,
                                              reading_day=body.reading_day)  # fmt: skip
    account = customers.update_account(
        session=session, clock=clock, actor=actor_name(user), number=number,
        changes=_changes(body), reason=body.reason,
    )  # fmt: skip
    return snapshot(account)


@router.post(
    "/accounts/{number}/tariff-assignments",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(TariffBody),
    responses=WRITE_ERRORS,
)
def assign_tariff(
    number: str,
    user: Admin,
    body: Annotated[TariffBody, Depends(exact_json(TariffBody))],
    session: SessionDep,
    clock: ClockDep,
    parts: ServicesDep,
) -> dict[str, Any]:
    actor = actor_name(user)
    assignment = customers.assign_tariff(
        session=session, clock=clock, actor=actor, number=number, tariff_code=body.tariff_code,
        effective_from=body.effective_from, known_tariffs=parts.tariffs.codes(),
        reason=body.reason,
    )  # fmt: skip
    if body.business_change:
        business_change(session, clock, actor, assignment.account_id,
                BusinessChangeKind.tariff_change, body.effective_from, body.reason)  # fmt: skip
    return snapshot(assignment)


def business_change(
    session: Session, clock: Clock, actor: str, account_id: int, kind: str, on: date, note: str
) -> dict[str, Any]:
    """Record a business change of one of the kinds the review rules know (the API's
    routes and the console's pages both)."""
    change = customers.record_business_change(
        session=session, clock=clock, actor=actor, account_id=account_id, kind=kind,
        kinds=[k.value for k in BusinessChangeKind], effective_on=on, note=note,
    )  # fmt: skip
    return snapshot(change)


@router.post(
    "/accounts/{number}/business-changes",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(ChangeBody),
    responses=WRITE_ERRORS,
)
def record_business_change(
    number: str,
    user: Admin,
    body: Annotated[ChangeBody, Depends(exact_json(ChangeBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    account = customers.account_by_number(session, number)
    assert account.id is not None
    return business_change(session, clock, actor_name(user), account.id, body.kind,
                   body.effective_on, body.note)  # fmt: skip


# --- meters -----------------------------------------------------------------------------------


@router.post(
    "/accounts/{number}/meters",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(InstallBody),
    responses=WRITE_ERRORS,
)
def install_meter(
    number: str,
    user: Admin,
    body: Annotated[InstallBody, Depends(exact_json(InstallBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    actor = actor_name(user)
    meter = meters.install_meter(
        session=session, clock=clock, actor=actor, number=number, spec=body.spec(),
        installed_on=body.installed_on, parent_meter_id=body.parent_meter_id,
        reason=body.reason,
    )  # fmt: skip
    if body.business_change:
        business_change(session, clock, actor, meter.account_id,
                BusinessChangeKind.new_connection, body.installed_on, body.reason)  # fmt: skip
    return snapshot(meter)


@router.post(
    "/meters/{meter_id}/replace",
    response_model=Row,
    status_code=201,
    openapi_extra=json_body_doc(ReplaceBody),
    responses=WRITE_ERRORS,
)
def replace_meter(
    meter_id: Id,
    user: Admin,
    body: Annotated[ReplaceBody, Depends(exact_json(ReplaceBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    actor = actor_name(user)
    meter = meters.replace_meter(
        session=session, clock=clock, actor=actor, tz=settings.tz, meter_id=meter_id,
        final=body.final.registers(), read_at=body.read_at, new=body.new.spec(),
        reason=body.reason,
    )  # fmt: skip
    business_change(session, clock, actor, meter.account_id, BusinessChangeKind.meter_replacement,
            meter.installed_on, body.reason or f"meter {meter_id} replaced")  # fmt: skip
    return snapshot(meter)


@router.post(
    "/meters/{meter_id}/remove",
    response_model=Row,
    openapi_extra=json_body_doc(RemoveBody),
    responses=WRITE_ERRORS,
)
def remove_meter(
    meter_id: Id,
    user: Admin,
    body: Annotated[RemoveBody, Depends(exact_json(RemoveBody))],
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    meter = meters.remove_meter(
        session=session, clock=clock, actor=actor_name(user), tz=settings.tz,
        meter_id=meter_id, final=body.final.registers(), read_at=body.read_at,
        reason=body.reason,
    )  # fmt: skip
    return snapshot(meter)


@router.post(
    "/meters/{meter_id}/parent",
    response_model=Row,
    openapi_extra=json_body_doc(LinkBody),
    responses=WRITE_ERRORS,
)
def link_meter(
    meter_id: Id,
    user: Admin,
    body: Annotated[LinkBody, Depends(exact_json(LinkBody))],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    meter = meters.link_meter(
        session=session, clock=clock, actor=actor_name(user), meter_id=meter_id,
        parent_meter_id=body.parent_meter_id, reason=body.reason,
    )  # fmt: skip
    return snapshot(meter)
