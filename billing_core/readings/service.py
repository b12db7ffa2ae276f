"""Importing a batch of readings: match them to meters, refuse what cannot be stored, flag what
a person should look at, and store the rest with the batch's report in the caller's transaction."""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from sqlmodel import select as model_select

from billing_core.audit.service import record_change
from billing_core.clock import Clock
from billing_core.customers.tables import Account
from billing_core.db.columns import table_of
from billing_core.errors import Conflict, InvalidInput
from billing_core.readings.importing import ParsedBatch, ParsedReading
from billing_core.readings.model import ReadingSource, register_delta
from billing_core.readings.tables import Meter, MeterReading, ReadingBatch
from billing_core.readings.vee import tou_mismatch

BATCH_SOURCES = ("csv", "green_button", "api", "customer")  # customer: a self-read by message
# The stored report keeps at most this many lines per list; the counts are always exact.
REPORT_LINES_CAP = 1000
# docs/domain.md §2 TOU_MISMATCH: abs(total advance − sum of TOU advances) ≥ 3 kWh.
TOU_GAP_THRESHOLD = Decimal(3)
# IN lists are sent in chunks, well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
_REGISTERS = ("total", "peak", "flat", "valley", "reactive")
_TOU = ("peak", "flat", "valley")
_ZERO = Decimal(0)


@dataclass(frozen=True)
class ReportLine:
    """One line (or item, or element) of the report: where it was, which meter, and why."""

    where: str
    reason: str = ""
    meter: str | None = None
    read_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "reason": self.reason,
            "meter": self.meter,
            "read_at": self.read_at.isoformat() if self.read_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportLine:
        read_at = data.get("read_at")
        return cls(
            where=data["where"],
            reason=data.get("reason", ""),
            meter=data.get("meter"),
            read_at=datetime.fromisoformat(read_at) if read_at else None,
        )

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.reason else self.where


@dataclass(frozen=True)
class ImportReport:
    """What an import did. `accepted` counts every stored reading, flagged ones included;
    `duplicates` are readings identical to ones already stored, skipped. The line lists are
    capped at REPORT_LINES_CAP; the counts are exact."""

    batch_id: int
    source: str
    name: str
    content_sha256: str
    actor: str
    imported_at: datetime
    received: int
    accepted: int
    rejected: int
    flagged: int
    duplicates: int
    rejected_lines: tuple[ReportLine, ...] = ()
    flagged_lines: tuple[ReportLine, ...] = ()
    accepted_lines: tuple[ReportLine, ...] = ()
    duplicate_lines: tuple[ReportLine, ...] = ()
    already_imported: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "source": self.source,
            "name": self.name,
            "content_sha256": self.content_sha256,
            "actor": self.actor,
            "imported_at": self.imported_at.isoformat(),
            "already_imported": self.already_imported,
            "received": self.received,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "flagged": self.flagged,
            "duplicates": self.duplicates,
            "lines_capped_at": REPORT_LINES_CAP,
            "rejected_lines": [line.to_json() for line in self.rejected_lines],
            "flagged_lines": [line.to_json() for line in self.flagged_lines],
            "accepted_lines": [line.to_json() for line in self.accepted_lines],
            "duplicate_lines": [line.to_json() for line in self.duplicate_lines],
        }

    @classmethod
    def from_batch(cls, batch: ReadingBatch, *, already_imported: bool = False) -> ImportReport:
        stored = batch.report

        def lines(key: str) -> tuple[ReportLine, ...]:
            return tuple(ReportLine.from_json(line) for line in stored.get(key, []))

        assert batch.id is not None
        return cls(
            batch_id=batch.id,
            source=batch.source,
            name=batch.name,
            content_sha256=batch.content_sha256,
            actor=batch.actor,
            imported_at=batch.imported_at,
            received=int(stored.get("received", 0)),
            accepted=batch.accepted,
            rejected=batch.rejected,
            flagged=batch.flagged,
            duplicates=int(stored.get("duplicates", 0)),
            rejected_lines=lines("rejected_lines"),
            flagged_lines=lines("flagged_lines"),
            accepted_lines=lines("accepted_lines"),
            duplicate_lines=lines("duplicate_lines"),
            already_imported=already_imported,
        )


def content_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def import_readings(
    *,
    session: Session,
    clock: Clock,
    parsed: ParsedBatch,
    source: str,
    name: str,
    content: bytes,
    actor: str,
    tz: tzinfo,
) -> ImportReport:
    """Store the acceptable readings of one batch and its report, in the caller's transaction.

    Idempotent: content already imported (same sha256) returns the first report with
    `already_imported=True` and changes nothing. Unknown meters, readings outside a meter's
    service, and readings that contradict a stored one are rejected; reverse readings, TOU
    gaps, estimated and customer reads are stored but flagged. If anything raises, the caller
    rolls back and nothing of the batch is stored."""
    if source not in BATCH_SOURCES:
        raise InvalidInput(f"batch source {source!r} is not one of {', '.join(BATCH_SOURCES)}")
    digest = content_digest(content)
    earlier = session.exec(
        model_select(ReadingBatch).where(ReadingBatch.content_sha256 == digest)
    ).first()
    if earlier is not None:
        return ImportReport.from_batch(earlier, already_imported=True)

    batch = ReadingBatch(
        source=source,
        name=name[:255],
        content_sha256=digest,
        actor=actor,
        imported_at=clock.now(),
    )
    session.add(batch)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "the same content was imported by another session at the same time; nothing of "
            "this import was stored: run it again to see that import's report"
        ) from exc
    assert batch.id is not None

    outcomes: list[_Outcome] = [
        _Outcome(r.position, ReportLine(r.where, r.reason), "rejected") for r in parsed.rejections
    ]
    matched, unmatched = _match_meters(session, parsed.readings, tz)
    outcomes.extend(unmatched)
    histories = _load_histories(session, matched, tz)
    rows: list[dict[str, Any]] = []
    claimed: dict[tuple[int, datetime], str] = {}
    for reading, meter in sorted(
        matched, key=lambda m: (m[1].id or 0, m[0].read_at, m[0].position)
    ):
        assert meter.id is not None
        key = (meter.id, reading.read_at)
        if key in claimed:
            line = ReportLine(
                reading.where,
                f"{claimed[key]} of this batch already gives meter {meter.serial} a reading "
                "at the same time",
                meter.serial,
                reading.read_at,
            )
            outcomes.append(_Outcome(reading.position, line, "rejected"))
            continue
        outcome, row = _judge(reading, meter, histories[meter.id], tz)
        outcomes.append(outcome)
        if outcome.kind != "rejected":
            claimed[key] = reading.where
        if row is not None:
            rows.append({**row, "batch_id": batch.id})
            histories[meter.id].add(_Registers.of(row))

    if rows:
        try:
            session.exec(insert(table_of(MeterReading)), params=rows)
        except IntegrityError as exc:
            raise Conflict(
                "another import stored readings for the same meters and times meanwhile; "
                "nothing of this import was stored: run it again"
            ) from exc

    report = _report(batch, parsed, outcomes)
    batch.accepted, batch.rejected, batch.flagged = (
        report.accepted,
        report.rejected,
        report.flagged,
    )
    batch.report = report.to_json()
    session.add(batch)
    session.flush()
    record_change(
        session=session,
        clock=clock,
        actor=actor,
        action="readings.import",
        entity="reading_batch",
        entity_id=batch.id,
        before=None,
        after={
            "source": source,
            "name": batch.name,
            "content_sha256": digest,
            "received": report.received,
            "accepted": report.accepted,
            "rejected": report.rejected,
            "flagged": report.flagged,
            "duplicates": report.duplicates,
        },
        reason=f"reading import: {batch.name or source}",
    )
    return report


# --- outcomes and the report ----------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    position: int
    line: ReportLine
    kind: str  # accepted, flagged, rejected, duplicate


def _report(batch: ReadingBatch, parsed: ParsedBatch, outcomes: list[_Outcome]) -> ImportReport:
    outcomes.sort(key=lambda o: o.position)
    by_kind: dict[str, list[ReportLine]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome.line)
    accepted = len(by_kind["accepted"]) + len(by_kind["flagged"])
    stored_lines = sorted(
        (o for o in outcomes if o.kind in ("accepted", "flagged")), key=lambda o: o.position
    )
    assert batch.id is not None
    return ImportReport(
        batch_id=batch.id,
        source=batch.source,
        name=batch.name,
        content_sha256=batch.content_sha256,
        actor=batch.actor,
        imported_at=batch.imported_at,
        received=parsed.received,
        accepted=accepted,
        rejected=len(by_kind["rejected"]),
        flagged=len(by_kind["flagged"]),
        duplicates=len(by_kind["duplicate"]),
        rejected_lines=tuple(by_kind["rejected"][:REPORT_LINES_CAP]),
        flagged_lines=tuple(by_kind["flagged"][:REPORT_LINES_CAP]),
        accepted_lines=tuple(replace(o.line, reason="") for o in stored_lines[:REPORT_LINES_CAP]),
        duplicate_lines=tuple(by_kind["duplicate"][:REPORT_LINES_CAP]),
    )


# --- matching readings to meters ------------------------------------------------------------


def _chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    items = sorted(set(values))
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _in_service(meter: Meter, day: date) -> bool:
    return meter.installed_on <= day and (meter.removed_on is None or day <= meter.removed_on)


def _match_meters(
    session: Session, readings: Sequence[ParsedReading], tz: tzinfo
) -> tuple[list[tuple[ParsedReading, Meter]], list[_Outcome]]:
    """Each reading's meter: by serial, or the account's meter in service on the local date of
    the reading (a replaced meter's readings go to the right one)."""
    by_serial: dict[str, Meter] = {}
    for chunk in _chunks(r.meter_serial for r in readings if r.meter_serial):
        for meter in session.exec(model_select(Meter).where(col(Meter.serial).in_(chunk))):
            by_serial[meter.serial] = meter
    accounts: dict[str, Account] = {}
    for chunk in _chunks(r.account_number for r in readings if r.account_number):
        for account in session.exec(model_select(Account).where(col(Account.number).in_(chunk))):
            accounts[account.number] = account
    meters_of: dict[int, list[Meter]] = defaultdict(list)
    for chunk in _chunks(a.id for a in accounts.values()):
        for meter in session.exec(model_select(Meter).where(col(Meter.account_id).in_(chunk))):
            meters_of[meter.account_id].append(meter)

    matched: list[tuple[ParsedReading, Meter]] = []
    unmatched: list[_Outcome] = []
    for reading in readings:
        day = reading.read_at.astimezone(tz).date()
        found, reason = _meter_for(reading, day, by_serial, accounts, meters_of)
        if found is None:
            line = ReportLine(reading.where, reason, reading.meter_serial, reading.read_at)
            unmatched.append(_Outcome(reading.position, line, "rejected"))
        else:
            matched.append((reading, found))
    return matched, unmatched


def _meter_for(
    reading: ParsedReading,
    day: date,
    by_serial: Mapping[str, Meter],
    accounts: Mapping[str, Account],
    meters_of: Mapping[int, list[Meter]],
) -> tuple[Meter | None, str]:
    account = None
    if reading.account_number:
        account = accounts.get(reading.account_number)
        if account is None:
            return None, f"unknown account {reading.account_number!r}"
    if reading.meter_serial:
        meter = by_serial.get(reading.meter_serial)
        if meter is None:
            return None, f"unknown meter {reading.meter_serial!r}"
        if account is not None and meter.account_id != account.id:
            return None, f"meter {meter.serial} is not on account {reading.account_number}"
        if day < meter.installed_on:
            return None, f"meter {meter.serial} was installed on {meter.installed_on}, after {day}"
        if meter.removed_on is not None and day > meter.removed_on:
            return None, f"meter {meter.serial} was removed on {meter.removed_on}, before {day}"
        return meter, ""
    assert account is not None and account.id is not None
    serving = [m for m in meters_of.get(account.id, []) if _in_service(m, day)]
    if not serving:
        return None, f"account {account.number} had no meter in service on {day}"
    if len(serving) > 1:
        serials = ", ".join(sorted(m.serial for m in serving))
        return None, (
            f"account {account.number} had {len(serving)} meters in service on {day} "
            f"({serials}): give meter_serial"
        )
    return serving[0], ""


# --- what is known of each meter ------------------------------------------------------------


@dataclass(frozen=True)
class _Registers:
    read_at: datetime
    total: Decimal
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None
    reactive: Decimal | None = None
    installation: bool = False  # the meter's initial registers, not a reading

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> _Registers:
        return cls(row["read_at"], *(row[name] for name in _REGISTERS))

    def get(self, name: str) -> Decimal | None:
        value: Decimal | None = getattr(self, name)
        return value

    def repeated_by(self, other: _Registers) -> bool:
        """The other reading says nothing new: each register it gives equals this one's."""
        return all(other.get(name) in (None, self.get(name)) for name in _REGISTERS)

    def describe(self) -> str:
        shown = [f"{name} {self.get(name)}" for name in _REGISTERS if self.get(name) is not None]
        return ", ".join(shown)


@dataclass
class _History:
    """A meter's readings around the batch: stored ones in its time window, the latest stored
    before it, and those this batch accepts, in time order."""

    installation: _Registers
    times: list[datetime] = field(default_factory=list)
    by_time: dict[datetime, _Registers] = field(default_factory=dict)

    def add(self, registers: _Registers) -> None:
        if registers.read_at not in self.by_time:
            insort(self.times, registers.read_at)
        self.by_time[registers.read_at] = registers

    def at(self, instant: datetime) -> _Registers | None:
        return self.by_time.get(instant)

    def before(self, instant: datetime) -> _Registers:
        index = bisect_left(self.times, instant)
        return self.by_time[self.times[index - 1]] if index else self.installation

    def after(self, instant: datetime) -> _Registers | None:
        index = bisect_left(self.times, instant)
        if index < len(self.times) and self.times[index] == instant:
            index += 1
        return self.by_time[self.times[index]] if index < len(self.times) else None


def _installation(meter: Meter, tz: tzinfo) -> _Registers:
    """The meter's initial registers, as a reading at local midnight of its install day. A
    TOU meter's missing initial TOU registers count as zero."""
    at = datetime.combine(meter.installed_on, time(0), tzinfo=tz).astimezone(UTC)
    tou_default = _ZERO if meter.tou else None

    def initial(value: Decimal | None) -> Decimal | None:
        return value if value is not None else tou_default

    return _Registers(
        at,
        meter.initial_total,
        initial(meter.initial_peak),
        initial(meter.initial_flat),
        initial(meter.initial_valley),
        installation=True,
    )


def _load_histories(
    session: Session, matched: Sequence[tuple[ParsedReading, Meter]], tz: tzinfo
) -> dict[int, _History]:
    """Per chunk of meters, the stored readings in the batch's time window and the nearest one
    on each side of it. The window spans the whole batch: a reader's file covers one cycle."""
    histories: dict[int, _History] = {}
    for _, meter in matched:
        assert meter.id is not None
        histories.setdefault(meter.id, _History(_installation(meter, tz)))
    if not matched:
        return histories
    instants = [r.period_start or r.read_at for r, _ in matched] + [r.read_at for r, _ in matched]
    low, high = min(instants), max(instants)
    table = table_of(MeterReading)
    columns = [table.c.meter_id, table.c.read_at, *(table.c[name] for name in _REGISTERS)]
    for chunk in _chunks(histories):
        in_chunk = table.c.meter_id.in_(chunk)
        in_window = select(*columns).where(in_chunk, table.c.read_at.between(low, high))
        nearest = [
            (func.max(table.c.read_at), table.c.read_at < low),  # the latest before
            (func.min(table.c.read_at), table.c.read_at > high),  # the earliest after
        ]
        statements = [in_window]
        for pick, side in nearest:
            edge = (
                select(table.c.meter_id, pick.label("at"))
                .where(in_chunk, side)
                .group_by(table.c.meter_id)
                .subquery()
            )
            statements.append(
                select(*columns).join(
                    edge, and_(table.c.meter_id == edge.c.meter_id, table.c.read_at == edge.c.at)
                )
            )
        for statement in statements:
            for row in session.connection().execute(statement):
                histories[row.meter_id].add(_Registers.of(row._mapping))
    return histories


def _shown(instant: datetime, tz: tzinfo) -> str:
    """An instant as the utility's operators read it: local time with its offset."""
    return instant.astimezone(tz).isoformat(timespec="minutes")


# --- judging one reading --------------------------------------------------------------------


def _judge(
    reading: ParsedReading, meter: Meter, history: _History, tz: tzinfo
) -> tuple[_Outcome, dict[str, Any] | None]:
    """Reject, skip as a duplicate, or accept (with flags) one reading for its meter."""

    def outcome(kind: str, reason: str = "") -> _Outcome:
        line = ReportLine(reading.where, reason, meter.serial, reading.read_at)
        return _Outcome(reading.position, line, kind)

    previous = history.before(reading.read_at)
    flags: list[str] = []
    if reading.advance:
        registers, problem = _advanced(reading, meter, previous, flags, tz)
        if registers is None:
            return outcome("rejected", problem), None
    else:
        registers = _Registers(
            reading.read_at,
            reading.total,
            reading.peak,
            reading.flat,
            reading.valley,
            reading.reactive,
        )
        has_tou = registers.peak is not None
        if has_tou and not meter.tou:
            return outcome(
                "rejected", f"meter {meter.serial} has no peak/flat/valley registers"
            ), None
        if meter.tou and not has_tou:
            flags.append("TOU meter read without peak, flat and valley")

    limit = Decimal(10) ** meter.digits
    too_big = [name for name in _REGISTERS[:4] if (registers.get(name) or _ZERO) >= limit]
    if too_big:
        return outcome(
            "rejected",
            f"{', '.join(too_big)} does not fit meter {meter.serial}'s {meter.digits}-digit "
            "register",
        ), None

    stored = history.at(reading.read_at)
    if stored is not None:
        if stored.repeated_by(registers):
            return outcome("duplicate", "already stored, identical"), None
        return outcome(
            "rejected",
            f"a different reading is already stored for meter {meter.serial} at this time "
            f"({stored.describe()})",
        ), None

    flags.extend(_vee_flags(registers, previous, history.after(reading.read_at), meter, tz))
    if reading.estimated or reading.source is ReadingSource.estimated:
        flags.append("estimated reading")
    if reading.source is ReadingSource.customer:
        flags.append("customer-read")
    flags.extend(reading.notes)

    row = {
        "meter_id": meter.id,
        "read_at": reading.read_at,
        **{name: registers.get(name) for name in _REGISTERS},
        "source": reading.source.value,
        "reader_id": reading.reader_id,
        "estimated": reading.estimated or reading.source is ReadingSource.estimated,
    }
    if flags:
        return outcome("flagged", "; ".join(flags)), row
    return outcome("accepted"), row


def _advanced(
    reading: ParsedReading, meter: Meter, previous: _Registers, flags: list[str], tz: tzinfo
) -> tuple[_Registers | None, str]:
    """Interval data: the previous registers plus the block's consumption. The block must not
    reach back before the previous reading; a hole between them is flagged."""
    start = reading.period_start or reading.read_at
    if previous.read_at > start and not previous.installation:
        return None, (
            f"the interval data starts at {_shown(start, tz)}, before meter {meter.serial}'s "
            f"previous reading at {_shown(previous.read_at, tz)}"
        )
    if previous.installation:
        if start.astimezone(tz).date() < meter.installed_on:
            return None, (
                f"the interval data starts at {_shown(start, tz)}, before meter "
                f"{meter.serial} was installed on {meter.installed_on}"
            )
        if start.astimezone(tz).date() > meter.installed_on:
            flags.append(
                f"no reading between installation on {meter.installed_on} and the interval "
                f"data from {_shown(start, tz)}: consumption in between is not counted"
            )
    elif previous.read_at < start:
        flags.append(
            f"no interval data between the previous reading at {_shown(previous.read_at, tz)} "
            f"and {_shown(start, tz)}: consumption in between is not counted"
        )
    # The computed register wraps at 10**digits as the meter's own does (then flagged).
    wrap = Decimal(10) ** meter.digits
    total = (previous.total + reading.total) % wrap
    values: dict[str, Decimal | None] = {}
    for name in _TOU:
        if not meter.tou:
            values[name] = None
            continue
        base = previous.get(name)
        if base is None:
            return None, (
                f"meter {meter.serial}'s previous reading has no {name} register to add the "
                "interval data to"
            )
        values[name] = (base + (getattr(reading, name) or _ZERO)) % wrap
    if meter.tou and reading.tou_split_assumed:
        flags.append("TOU split assumed: no TOU schedule was given, all intervals count as flat")
    registers = _Registers(
        reading.read_at,
        total,
        values["peak"],
        values["flat"],
        values["valley"],
        None,  # interval data carries no reactive register
    )
    return registers, ""


def _vee_flags(
    current: _Registers,
    previous: _Registers,
    following: _Registers | None,
    meter: Meter,
    tz: tzinfo,
) -> list[str]:
    """Reverse readings against the previous reading (and the next stored one), and the TOU
    gap between the advances (docs/domain.md §2 REVERSE_READING, TOU_MISMATCH)."""
    flags: list[str] = []
    # Generous: a wrap-around of up to a tenth of the register (register_delta's default) is
    # called a rollover; either way the reading is flagged for a person, never billed
    # automatically.
    label = "the installation" if previous.installation else "the previous reading"
    advances: dict[str, Decimal] = {}
    for name in ("total", *_TOU):
        before, now = previous.get(name), current.get(name)
        if before is None or now is None:
            continue
        delta = register_delta(before, now, digits=meter.digits)
        advances[name] = delta.advance
        if delta.reverse is not None:
            flags.append(
                f"reverse reading ({delta.reverse}): {name} {now} is below {before} at "
                f"{label} ({_shown(previous.read_at, tz)})"
            )
    if "total" in advances and all(name in advances for name in _TOU):
        gap = tou_mismatch(
            advances["total"], [advances[name] for name in _TOU], threshold=TOU_GAP_THRESHOLD
        )
        if gap is not None:
            flags.append(
                f"TOU gap {gap} kWh: total advanced {advances['total']}, peak+flat+valley "
                f"{sum((advances[name] for name in _TOU), _ZERO)}"
            )
    if following is not None and following.total < current.total:
        flags.append(
            f"total {current.total} is above the later stored reading {following.total} "
            f"({_shown(following.read_at, tz)})"
        )
    return flags
