"""Master data use cases: customers, groups, accounts, contacts, tariff assignments and
business changes, as staff maintain them. Each change is validated (a refusal names the
field: `model.FieldError` / `FieldConflict`) and audited in the caller's transaction with
who, what, the values before and after, and why. Keyword-only arguments, the session first;
nothing here commits. Meters are `readings.meters`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, SQLModel, col, func, or_, select

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.customers.model import (
    MAX_READING_DAY,
    AccountStatus,
    CustomerKind,
    FieldConflict,
    FieldError,
    Language,
    SensitivityKind,
    check_account_number,
    check_choice,
    check_range,
    check_text,
    closing_day,
    contact_address,
)
from billing_core.customers.tables import (
    Account,
    BusinessChange,
    Contact,
    Customer,
    CustomerGroup,
    CustomerSensitivity,
    TariffAssignment,
)
from billing_core.errors import NotFound

MAX_SEARCH_RESULTS = 50


def _audit(
    session: Session,
    clock: Clock,
    actor: str,
    action: str,
    entity: SQLModel,
    before: dict[str, Any] | None,
    reason: str,
) -> None:
    reason = check_text("reason", reason, max_length=500, required=False)
    session.add(entity)
    session.flush()
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action=action,
        entity=str(getattr(entity, "__tablename__", type(entity).__name__)),
        entity_id=getattr(entity, "id", None),
        before=before,
        after=snapshot(entity),
        reason=reason,
    )


def _get(session: Session, table: type[Any], row_id: int, what: str) -> Any:
    row = session.get(table, row_id)
    if row is None:
        raise NotFound(f"no {what} {row_id}")
    return row


# A field's column where its name differs (a group is named by its code).
_COLUMNS = {"group_code": "group_id"}


def _apply(entity: SQLModel, changes: Mapping[str, Any], checks: Mapping[str, Any]) -> None:
    """Set each changed field, checked (and converted) by its entry in `checks`; a field
    with none cannot be changed here."""
    for name, value in changes.items():
        check = checks.get(name)
        if check is None:
            raise FieldError(name, "cannot be changed here")
        setattr(entity, _COLUMNS.get(name, name), check(value))


# --- groups -------------------------------------------------------------------------------


def create_group(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    code: str,
    name: str,
    consolidated_notice: bool = True,
    reason: str = "",
) -> CustomerGroup:
    code = check_text("code", code, max_length=32)
    if session.exec(select(CustomerGroup).where(CustomerGroup.code == code)).first():
        raise FieldConflict("code", f"a group {code!r} already exists")
    group = CustomerGroup(
        code=code,
        name=check_text("name", name, max_length=200),
        consolidated_notice=consolidated_notice,
    )
    _audit(session, clock, actor, "group.create", group, None, reason)
    return group


def update_group(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    group_id: int,
    changes: Mapping[str, Any],
    reason: str = "",
) -> CustomerGroup:
    group: CustomerGroup = _get(session, CustomerGroup, group_id, "customer group")
    before = snapshot(group)
    _apply(group, changes, {
        "name": lambda value: check_text("name", value, max_length=200),
        "consolidated_notice": bool,
    })  # fmt: skip
    _audit(session, clock, actor, "group.update", group, before, reason)
    return group


def groups(session: Session) -> list[CustomerGroup]:
    return list(session.exec(select(CustomerGroup).order_by(col(CustomerGroup.code))))


def _group_id(session: Session, code: str | None) -> int | None:
    if code is None or code == "":
        return None
    code = check_text("group_code", code, max_length=32)
    group = session.exec(select(CustomerGroup).where(CustomerGroup.code == code)).first()
    if group is None:
        raise FieldError("group_code", f"no customer group {code!r}")
    return group.id


# --- customers ----------------------------------------------------------------------------


def create_customer(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    name: str,
    kind: str = CustomerKind.residential,
    language: str = Language.zh_cn,
    household_size: int = 1,
    group_code: str | None = None,
    reason: str = "",
) -> Customer:
    customer = Customer(
        name=check_text("name", name, max_length=200),
        kind=check_choice("kind", kind, CustomerKind),
        language=check_choice("language", language, Language),
        household_size=check_range("household_size", household_size, 1, 50),
        group_id=_group_id(session, group_code),
        created_at=clock.now(),
    )
    _audit(session, clock, actor, "customer.create", customer, None, reason)
    return customer


def update_customer(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    customer_id: int,
    changes: Mapping[str, Any],
    reason: str = "",
) -> Customer:
    """Change a customer's name, kind, language, household size or group (`group_code`;
    empty for none)."""
    customer: Customer = _get(session, Customer, customer_id, "customer")
    before = snapshot(customer)
    _apply(customer, changes, {
        "name": lambda value: check_text("name", value, max_length=200),
        "kind": lambda value: check_choice("kind", value, CustomerKind),
        "language": lambda value: check_choice("language", value, Language),
        "household_size": lambda value: check_range("household_size", value, 1, 50),
        "group_code": lambda value: _group_id(session, value),
    })  # fmt: skip
    _audit(session, clock, actor, "customer.update", customer, before, reason)
    return customer


def search_customers(*, session: Session, query: str) -> list[Customer]:
    """Customers whose name contains `query`, or who hold the account numbered `query`, or
    whose contact address is `query` (a phone in E.164, a Telegram id, an e-mail)."""
    text = query.strip()
    if not text or "\x00" in text:  # a NUL names nothing (and PostgreSQL refuses it)
        return []
    by_account = select(Account.customer_id).where(Account.number == text)
    by_contact = select(Contact.customer_id).where(Contact.address == text)
    statement = (
        select(Customer)
        .where(
            or_(
                col(Customer.name).contains(text, autoescape=True),
                col(Customer.id).in_(by_account),
                col(Customer.id).in_(by_contact),
            )
        )
        .order_by(col(Customer.id))
        .limit(MAX_SEARCH_RESULTS)
    )
    return list(session.exec(statement))


# --- accounts and tariff assignments --------------------------------------------------------


def account_by_number(session: Session, number: str) -> Account:
    if "\x00" in number:  # names nothing (and PostgreSQL refuses it in a query)
        raise NotFound(f"no account {number!r}")
    account = session.exec(select(Account).where(Account.number == number)).first()
    if account is None:
        raise NotFound(f"no account {number}")
    return account


def open_account(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    customer_id: int,
    number: str,
    service_address: str,
    reading_day: int,
    opened_on: date,
    tariff_code: str,
    known_tariffs: Collection[str],
    billing_cycle_months: int = 1,
    payment_terms_days: int | None = None,
    reason: str = "",
) -> Account:
    """A new account of the customer, on `tariff_code` from the day it opens."""
    _get(session, Customer, customer_id, "customer")
    number = check_account_number(number)
    check_choice("tariff_code", tariff_code, sorted(known_tariffs))
    if session.exec(select(Account).where(Account.number == number)).first():
        raise FieldConflict("number", f"an account {number} already exists")
    account = Account(
        number=number,
        customer_id=customer_id,
        service_address=check_text("service_address", service_address, max_length=300),
        reading_day=check_range("reading_day", reading_day, 1, MAX_READING_DAY),
        billing_cycle_months=check_range("billing_cycle_months", billing_cycle_months, 1, 12),
        payment_terms_days=None
        if payment_terms_days is None
        else check_range("payment_terms_days", payment_terms_days, 0, 90),
        opened_on=opened_on,
        status=AccountStatus.active,
    )
    _audit(session, clock, actor, "account.open", account, None, reason)
    assert account.id is not None
    assignment = TariffAssignment(
        account_id=account.id,
        tariff_code=tariff_code,
        effective_from=opened_on,
        reason=reason or "account opened",
    )
    _audit(session, clock, actor, "tariff.assign", assignment, None, reason)
    return account


def update_account(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    number: str,
    changes: Mapping[str, Any],
    reason: str = "",
) -> Account:
    """Change an account's service address, reading day, billing cycle or payment terms."""
    account = account_by_number(session, number)
    before = snapshot(account)
    _apply(account, changes, {
        "service_address": lambda value: check_text("service_address", value, max_length=300),
        "reading_day": lambda value: check_range("reading_day", value, 1, MAX_READING_DAY),
        "billing_cycle_months": lambda value: check_range("billing_cycle_months", value, 1, 12),
        "payment_terms_days": lambda value: check_range("payment_terms_days", value, 0, 90),
    })  # fmt: skip
    _audit(session, clock, actor, "account.update", account, before, reason)
    return account


def tariff_assignments(session: Session, account_id: int) -> list[TariffAssignment]:
    statement = (
        select(TariffAssignment)
        .where(TariffAssignment.account_id == account_id)
        .order_by(col(TariffAssignment.effective_from))
    )
    return list(session.exec(statement))


def assign_tariff(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    number: str,
    tariff_code: str,
    effective_from: date,
    known_tariffs: Collection[str],
    reason: str = "",
) -> TariffAssignment:
    """Put the account on `tariff_code` from `effective_from`: the latest assignment ends the
    day before (never overlapping, never rewritten)."""
    account = account_by_number(session, number)
    check_choice("tariff_code", tariff_code, sorted(known_tariffs))
    if effective_from < account.opened_on:
        raise FieldError(
            "effective_from", f"before the account opened ({account.opened_on.isoformat()})"
        )
    assert account.id is not None
    history = tariff_assignments(session, account.id)
    latest = history[-1] if history else None
    last_day = closing_day(latest.effective_from if latest else None, effective_from)
    if latest is not None and last_day is not None:
        before = snapshot(latest)
        latest.effective_to = last_day
        _audit(session, clock, actor, "tariff.close", latest, before, reason)
    assignment = TariffAssignment(
        account_id=account.id,
        tariff_code=tariff_code,
        effective_from=effective_from,
        reason=check_text("reason", reason, max_length=300, required=False),
    )
    _audit(session, clock, actor, "tariff.assign", assignment, None, reason)
    return assignment


def record_business_change(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    account_id: int,
    kind: str,
    kinds: Collection[str],
    effective_on: date,
    note: str = "",
) -> BusinessChange:
    """A business change (业扩变更) on the account; the first bill whose period holds
    `effective_on` waits for review. `kinds` are those the review rules know (the caller
    passes them: bills sit above this package)."""
    change = BusinessChange(
        account_id=account_id,
        kind=check_choice("kind", kind, kinds),
        effective_on=effective_on,
        note=check_text("note", note, max_length=300, required=False),
        created_at=clock.now(),
    )
    _audit(session, clock, actor, "business_change.record", change, None, note)
    return change


def business_changes(session: Session, account_id: int) -> list[BusinessChange]:
    statement = (
        select(BusinessChange)
        .where(BusinessChange.account_id == account_id)
        .order_by(col(BusinessChange.effective_on), col(BusinessChange.id))
    )
    return list(session.exec(statement))


# --- contacts -----------------------------------------------------------------------------


def add_contact(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    customer_id: int,
    channel: str,
    address: str,
    region: str,
    notify: bool = True,
    attested: str = "",
) -> Contact:
    """A new contact of the customer. It is unverified (no bill, statement or link goes to
    it, and its sender sees no account) until the customer confirms it with a one-time code
    (LINK in a conversation), unless staff attest that they checked it: `attested` says how
    (e.g. "ID seen at the counter, number called back") and is kept in the audit log."""
    _get(session, Customer, customer_id, "customer")
    stored = contact_address(channel, address, region=region)
    attested = check_text("attested", attested, max_length=500, required=False)
    duplicate = session.exec(
        select(Contact).where(
            Contact.customer_id == customer_id,
            Contact.channel == channel,
            Contact.address == stored,
        )
    ).first()
    if duplicate is not None:
        raise FieldConflict("address", f"the customer already has {channel} contact {stored}")
    now = clock.now()
    contact = Contact(
        customer_id=customer_id,
        channel=channel,
        address=stored,
        notify=notify,
        verified=bool(attested),
        verified_at=now if attested else None,
    )
    why = f"verified by staff: {attested}" if attested else "added by staff, unverified"
    _audit(session, clock, actor, "contact.add", contact, None, why)
    return contact


def verify_contact_by_staff(
    *, session: Session, clock: Clock, actor: str, contact_id: int, attested: str
) -> Contact:
    """Staff attest a contact: `attested` says how they checked it (audited)."""
    contact: Contact = _get(session, Contact, contact_id, "contact")
    attested = check_text("attested", attested, max_length=500)
    if contact.verified:
        raise FieldConflict("verified", f"contact {contact_id} is already verified")
    before = snapshot(contact)
    contact.verified, contact.verified_at = True, clock.now()
    _audit(
        session, clock, actor, "contact.verify", contact, before, f"verified by staff: {attested}"
    )
    return contact


def remove_contact(
    *, session: Session, clock: Clock, actor: str, contact_id: int, reason: str
) -> None:
    """Delete a contact (the audit entry keeps what it was). A customer keeps at least one
    way to be reached: the last contact is refused."""
    contact: Contact = _get(session, Contact, contact_id, "contact")
    reason = check_text("reason", reason, max_length=500)
    remaining = session.exec(
        select(func.count())
        .select_from(Contact)
        .where(Contact.customer_id == contact.customer_id, Contact.id != contact_id)
    ).one()
    if remaining == 0:
        raise FieldConflict("contact_id", "the customer's only contact: add another first")
    before = snapshot(contact)
    session.delete(contact)
    session.flush()
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="contact.remove",
        entity="contact",
        entity_id=contact_id,
        before=before,
        after=None,
        reason=reason,
    )


# --- sensitivity (care) flags --------------------------------------------------------------


def add_sensitivity(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    customer_id: int,
    kind: str,
    note: str,
    valid_from: date,
    valid_to: date | None = None,
) -> CustomerSensitivity:
    """A care flag (docs/domain.md: medical equipment at home, elderly living alone,
    registered hardship, an infant): while it is in force no disconnection is put forward
    for the customer's accounts, and an approval is refused. `note` says what staff heard or
    saw (it is shown to the agents and collections staff who handle the customer)."""
    _get(session, Customer, customer_id, "customer")
    if valid_to is not None and valid_to < valid_from:
        raise FieldError("valid_to", f"before valid_from ({valid_from})")
    flag = CustomerSensitivity(
        customer_id=customer_id,
        kind=check_choice("kind", kind, SensitivityKind),
        note=check_text("note", note, max_length=500),
        valid_from=valid_from,
        valid_to=valid_to,
    )
    _audit(session, clock, actor, "sensitivity.add", flag, None, "")
    return flag


def end_sensitivity(
    *, session: Session, clock: Clock, actor: str, sensitivity_id: int, today: date, reason: str
) -> CustomerSensitivity:
    """The flag no longer in force from `today` (its last day is yesterday), with the reason
    (audited). A flag already ended, or not yet begun, is refused."""
    flag: CustomerSensitivity = _get(session, CustomerSensitivity, sensitivity_id, "flag")
    reason = check_text("reason", reason, max_length=500)
    if flag.valid_to is not None and flag.valid_to < today:
        raise FieldConflict("valid_to", f"flag {sensitivity_id} ended on {flag.valid_to}")
    if flag.valid_from > today:
        raise FieldConflict("valid_from", f"flag {sensitivity_id} begins on {flag.valid_from}")
    before = snapshot(flag)
    flag.valid_to = today - timedelta(days=1)
    _audit(session, clock, actor, "sensitivity.end", flag, before, reason)
    return flag


def sensitivities_of(session: Session, customer_id: int) -> list[CustomerSensitivity]:
    """The customer's flags, past and present, the newest first."""
    statement = (
        select(CustomerSensitivity)
        .where(CustomerSensitivity.customer_id == customer_id)
        .order_by(col(CustomerSensitivity.valid_from).desc(), col(CustomerSensitivity.id).desc())
    )
    return list(session.exec(statement))


def in_force(flag: CustomerSensitivity, today: date) -> bool:
    return flag.valid_from <= today and (flag.valid_to is None or flag.valid_to >= today)


def contacts_of(session: Session, customer_id: int) -> list[Contact]:
    statement = select(Contact).where(Contact.customer_id == customer_id).order_by(col(Contact.id))
    return list(session.exec(statement))


def accounts_of(session: Session, customer_id: int) -> list[Account]:
    statement = select(Account).where(Account.customer_id == customer_id).order_by(col(Account.id))
    return list(session.exec(statement))
