"""Meter maintenance as staff do it: install a meter with its initial reading, replace one
(the old meter's final reading, the new one's initial reading, its children moved over),
remove one with its final reading, and link a meter to its parent (总表 / 分表). Every
refusal names its field; every change is audited in the caller's transaction. The business
change a replacement means is recorded by the caller (`customers.service`), with the kind
the review rules know. The bill run reads what is stored here: a replaced meter's last
reading on or before its removal is its final one, the new meter's initial values start it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal

from sqlmodel import Session, col, select

from billing_core.audit.service import record_change, snapshot
from billing_core.clock import Clock
from billing_core.customers.model import FieldConflict, FieldError, check_text
from billing_core.customers.service import account_by_number
from billing_core.errors import InvalidInput, NotFound
from billing_core.readings.model import (
    ReadingSource,
    Registers,
    ReverseKind,
    makes_cycle,
    register_delta,
    register_problems,
)
from billing_core.readings.tables import Meter, MeterReading


@dataclass(frozen=True)
class MeterSpec:
    """What staff enter for a new meter."""

    serial: str
    initial: Registers
    multiplier: Decimal = Decimal(1)
    digits: int = 6
    tou: bool = False


def _check_spec(session: Session, spec: MeterSpec, prefix: str) -> None:
    serial = spec.serial.strip()
    if not (serial.isascii() and serial.isalnum() and 1 <= len(serial) <= 32):
        raise FieldError(f"{prefix}serial", "1 to 32 letters and digits")
    if not 3 <= spec.digits <= 10:
        raise FieldError(f"{prefix}digits", "from 3 to 10")
    if not Decimal(0) < spec.multiplier <= Decimal(100000):
        raise FieldError(f"{prefix}multiplier", "above 0 and at most 100000")
    problems = register_problems(
        spec.initial, tou=spec.tou, digits=spec.digits, prefix=f"{prefix}initial."
    )
    if problems:
        raise InvalidInput("; ".join(problems))
    if session.exec(select(Meter).where(Meter.serial == serial)).first():
        raise FieldConflict(f"{prefix}serial", f"a meter {serial} already exists")


def _meter(session: Session, meter_id: int) -> Meter:
    meter = session.get(Meter, meter_id)
    if meter is None:
        raise NotFound(f"no meter {meter_id}")
    return meter


def _audit(
    session: Session, clock: Clock, actor: str, action: str, meter: Meter, before: dict | None,
    reason: str,
) -> None:  # fmt: skip
    reason = check_text("reason", reason, max_length=300, required=False)
    session.add(meter)
    session.flush()
    record_change(
        session=session, clock=clock, actor=actor, action=action, entity="meter",
        entity_id=meter.id, before=before, after=snapshot(meter), reason=reason,
    )  # fmt: skip


def _new_meter(
    session: Session, clock: Clock, actor: str, account_id: int, spec: MeterSpec, on: date,
    parent_meter_id: int | None, action: str, reason: str,
) -> Meter:  # fmt: skip
    meter = Meter(
        serial=spec.serial.strip(),
        account_id=account_id,
        multiplier=spec.multiplier,
        digits=spec.digits,
        tou=spec.tou,
        parent_meter_id=parent_meter_id,
        installed_on=on,
        initial_total=spec.initial.total,
        initial_peak=spec.initial.peak,
        initial_flat=spec.initial.flat,
        initial_valley=spec.initial.valley,
    )
    _audit(session, clock, actor, action, meter, None, reason)
    return meter


def _local_day(clock: Clock, read_at: datetime, tz: tzinfo, field: str) -> date:
    if read_at.tzinfo is None:
        raise FieldError(field, "needs a time zone")
    if read_at > clock.now():
        raise FieldError(field, "is in the future")
    return read_at.astimezone(tz).date()


def install_meter(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    number: str,
    spec: MeterSpec,
    installed_on: date,
    parent_meter_id: int | None = None,
    reason: str = "",
) -> Meter:
    """A meter on an account that has none in service (a new connection; otherwise replace
    the one there), starting from its initial reading."""
    account = account_by_number(session, number)
    assert account.id is not None
    if installed_on < account.opened_on:
        raise FieldError("installed_on", f"before the account opened ({account.opened_on})")
    _check_spec(session, spec, "")
    in_service = session.exec(
        select(Meter).where(Meter.account_id == account.id, col(Meter.removed_on).is_(None))
    ).first()
    if in_service is not None:
        raise FieldConflict(
            "number", f"account {number} has meter {in_service.serial} in service: replace it"
        )
    if parent_meter_id is not None:
        _check_parent(session, None, parent_meter_id)
    return _new_meter(session, clock, actor, account.id, spec, installed_on, parent_meter_id,
                      "meter.install", reason)  # fmt: skip


def _final_reading(
    session: Session, clock: Clock, actor: str, meter: Meter, final: Registers,
    read_at: datetime, reason: str,
) -> MeterReading:  # fmt: skip
    """Store the meter's final reading, checked against its last one and its digits."""
    problems = register_problems(final, tou=meter.tou, digits=meter.digits, prefix="final.")
    if problems:
        raise InvalidInput("; ".join(problems))
    assert meter.id is not None
    last = session.exec(
        select(MeterReading)
        .where(MeterReading.meter_id == meter.id)
        .order_by(col(MeterReading.read_at).desc())
        .limit(1)
    ).first()
    if last is not None and read_at <= last.read_at:
        raise FieldError("read_at", f"not after the meter's last reading ({last.read_at})")
    previous = last.total if last is not None else meter.initial_total
    if register_delta(previous, final.total, digits=meter.digits).reverse is ReverseKind.error:
        raise FieldError("final.total", f"below the meter's last reading {previous}")
    reading = MeterReading(
        meter_id=meter.id, read_at=read_at, total=final.total, peak=final.peak,
        flat=final.flat, valley=final.valley, source=ReadingSource.reader,
    )  # fmt: skip
    session.add(reading)
    session.flush()
    record_change(session=session, clock=clock, actor=actor, action="meter.final_reading",
                  entity="meter_reading", entity_id=reading.id, before=None,
                  after=snapshot(reading), reason=reason)  # fmt: skip
    return reading


def _take_out(
    session: Session, clock: Clock, actor: str, meter: Meter, final: Registers,
    read_at: datetime, tz: tzinfo, action: str, reason: str,
) -> date:  # fmt: skip
    check_text("reason", reason, max_length=300, required=False)
    if meter.removed_on is not None:
        raise FieldConflict("meter_id", f"meter {meter.serial} was removed on {meter.removed_on}")
    day = _local_day(clock, read_at, tz, "read_at")
    if day < meter.installed_on:
        raise FieldError("read_at", f"before the meter was installed ({meter.installed_on})")
    _final_reading(session, clock, actor, meter, final, read_at, reason)
    before = snapshot(meter)
    meter.removed_on = day
    _audit(session, clock, actor, action, meter, before, reason)
    return day


def _children(session: Session, meter_id: int) -> list[Meter]:
    statement = select(Meter).where(
        Meter.parent_meter_id == meter_id, col(Meter.removed_on).is_(None)
    )
    return list(session.exec(statement))


def replace_meter(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    tz: tzinfo,
    meter_id: int,
    final: Registers,
    read_at: datetime,
    new: MeterSpec,
    reason: str = "",
) -> Meter:
    """换表: the old meter's final reading at `read_at` and its removal that day; the new
    meter installed the same day from its initial reading, under the old one's parent, and
    the old one's children moved under it."""
    old = _meter(session, meter_id)
    _check_spec(session, new, "new.")
    day = _take_out(session, clock, actor, old, final, read_at, tz, "meter.replace", reason)
    meter = _new_meter(session, clock, actor, old.account_id, new, day, old.parent_meter_id,
                       "meter.install", reason or f"replaces {old.serial}")  # fmt: skip
    for child in _children(session, meter_id):
        before = snapshot(child)
        child.parent_meter_id = meter.id
        _audit(session, clock, actor, "meter.link", child, before, f"parent {old.serial} replaced")
    return meter


def remove_meter(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    tz: tzinfo,
    meter_id: int,
    final: Registers,
    read_at: datetime,
    reason: str,
) -> Meter:
    """Take a meter out of service with its final reading (the account is then billed up to
    it and no further until a meter is installed). A parent with children in service is
    refused: link them elsewhere first."""
    meter = _meter(session, meter_id)
    if not reason.strip():
        raise FieldError("reason", "must not be empty")
    children = _children(session, meter_id)
    if children:
        serials = ", ".join(child.serial for child in children)
        raise FieldConflict("meter_id", f"meters {serials} still have it as their parent")
    _take_out(session, clock, actor, meter, final, read_at, tz, "meter.remove", reason)
    return meter


def _check_parent(session: Session, meter_id: int | None, parent_id: int) -> Meter:
    parent = session.get(Meter, parent_id)
    if parent is None:
        raise FieldError("parent_meter_id", f"no meter {parent_id}")
    if parent.removed_on is not None:
        raise FieldError("parent_meter_id", f"meter {parent.serial} is not in service")
    if meter_id is not None:
        parents = _ancestry(session, parent)
        if makes_cycle(meter_id, parent_id, parents):
            raise FieldConflict("parent_meter_id", "would make the meter its own ancestor")
    return parent


def _ancestry(session: Session, meter: Meter) -> dict[int, int | None]:
    """Each of the meter's ancestors' parent, walking up (hierarchies are a few levels)."""
    parents: dict[int, int | None] = {}
    current: Meter | None = meter
    while current is not None and current.id is not None and current.id not in parents:
        parents[current.id] = current.parent_meter_id
        parent_id = current.parent_meter_id
        current = session.get(Meter, parent_id) if parent_id is not None else None
    return parents


def link_meter(
    *,
    session: Session,
    clock: Clock,
    actor: str,
    meter_id: int,
    parent_meter_id: int | None,
    reason: str = "",
) -> Meter:
    """Make `parent_meter_id` the meter's parent (a master meter whose usage covers this
    sub-meter's), or none."""
    meter = _meter(session, meter_id)
    if parent_meter_id is not None:
        _check_parent(session, meter_id, parent_meter_id)
    before = snapshot(meter)
    meter.parent_meter_id = parent_meter_id
    _audit(session, clock, actor, "meter.link", meter, before, reason)
    return meter


def meters_of(session: Session, account_id: int) -> list[Meter]:
    statement = (
        select(Meter).where(Meter.account_id == account_id).order_by(col(Meter.installed_on))
    )
    return list(session.exec(statement))
