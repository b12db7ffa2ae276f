"""Reading what a part of the bill run needs: the accounts due, their meters, readings,
tariffs, previous bills and business changes, as one `AccountPeriod` per account."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.sql.ddl import CreateTable
from sqlmodel import Session

from billing_core.bills.draft import AccountPeriod, MeterPeriod, ReadingValues
from billing_core.bills.run.plan import DAY_CHANGE, READING_PLAN, _due_accounts
from billing_core.bills.tables import Bill, BillLine
from billing_core.bills.terms import DEFAULT_PAYMENT_TERMS, PaymentTermsPolicy
from billing_core.customers.model import AccountStatus
from billing_core.customers.tables import Account, BusinessChange, Customer, TariffAssignment
from billing_core.db.columns import table_of
from billing_core.db.fast import (
    bind_converter,
    decimal_reader,
    fetch_converted,
    fetch_raw,
    instant_reader,
    raw,
    required_decimal_reader,
)
from billing_core.readings.model import MeterRow, ReverseKind, register_delta
from billing_core.readings.plans import PlanStatus, nominal_days
from billing_core.readings.tables import Meter, MeterReading
from billing_core.readings.vee import Replacement
from billing_core.tariffs.model import POWER_FACTOR_ADJUSTMENT

ZERO = Decimal(0)
READING_WINDOW_DAYS = 3  # a reading up to this many days before the reading day counts
COMPARISON_MONTHS = (1, 2, 12, 13)  # the previous period, and the same period last year

BILL = table_of(Bill)
LINE = table_of(BillLine)
ACCOUNT = table_of(Account)
CUSTOMER = table_of(Customer)
ASSIGNMENT = table_of(TariffAssignment)
METER = table_of(Meter)
READING = table_of(MeterReading)
CHANGE = table_of(BusinessChange)
# A reading as the run loads it (read_at and the registers converted by the loop itself).
READING_COLUMNS = (
    READING.c.id, READING.c.meter_id, raw(READING.c.read_at), raw(READING.c.total),
    raw(READING.c.peak), raw(READING.c.flat), raw(READING.c.valley),
    raw(READING.c.reactive), READING.c.estimated,
)  # fmt: skip


class _AccountRow(NamedTuple):
    id: int
    number: str
    status: str
    payment_terms_days: int | None
    opened_on: date
    kind: str
    household_size: int
    timezone: str | None


def _months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, 28))


def _local_range_utc(first: date, last: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in local time, as UTC instants."""
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    after = last + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC)
    return start, end


# The accounts due, written once per load into a temporary table that each of the load's
# queries reads, instead of each query selecting them again (by day, status and part).
_DUE = Table(
    "bill_run_due_account",
    MetaData(),
    Column("id", Integer, primary_key=True),
    prefixes=["TEMPORARY"],
)


def _due_table(session: Session, due: Select[tuple[int]] | Sequence[int]) -> Table:
    """The accounts due, in this connection's temporary table: the ids `due` selects, or the
    ids themselves (a part `plan_parts` planned). The table is created in the load's
    transaction and goes with it, on SQLite as on PostgreSQL; it is emptied first all the
    same, for a connection whose transaction kept it."""
    connection = session.connection()
    connection.execute(CreateTable(_DUE, if_not_exists=True))
    connection.execute(delete(_DUE))
    if isinstance(due, Select):
        connection.execute(insert(_DUE).from_select(["id"], due))
    elif due:
        connection.execute(insert(_DUE), [{"id": account_id} for account_id in due])
    if connection.dialect.name == "postgresql":
        # A temporary table has no statistics until analysed: the planner would take it for
        # thousands of rows and scan the readings whole rather than look them up.
        connection.exec_driver_sql(f"ANALYZE {_DUE.name}")
        # Even so, with the default cost of a random page (4, set for spinning disks) it
        # hash-joined a part's few hundred accounts against whole tables (accounts, meters,
        # tariffs, bills), once per part, the largest cost of a parallel run's load. The load reads
        # by key from tables the cache holds, where a random page costs about what a
        # sequential one does. SET LOCAL: only for this load's transaction.
        connection.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    return _DUE


def load_due_periods(
    *,
    session: Session,
    run_date: date,
    tz: ZoneInfo,
    book: str | None,
    account_ids: Sequence[int] | None = None,
    payment_terms: PaymentTermsPolicy = DEFAULT_PAYMENT_TERMS,
) -> tuple[list[AccountPeriod], list[tuple[str, str]], int]:
    """The inputs of every bill due on `run_date` (of the `account_ids` given, a part that
    `plan_parts` planned, else of every account due): (periods, missed accounts, already
    billed)."""
    due_ids = _due_table(
        session, _due_accounts(run_date, book) if account_ids is None else account_ids
    )
    due_in = ACCOUNT.c.id.in_(select(due_ids.c.id))

    connection = session.connection()
    accounts = {
        row[0]: _AccountRow._make(row)
        for row in fetch_converted(
            connection,
            select(
                ACCOUNT.c.id,
                ACCOUNT.c.number,
                ACCOUNT.c.status,
                ACCOUNT.c.payment_terms_days,
                ACCOUNT.c.opened_on,
                CUSTOMER.c.kind,
                CUSTOMER.c.household_size,
                CUSTOMER.c.timezone,
            )
            .join(CUSTOMER, CUSTOMER.c.id == ACCOUNT.c.customer_id)
            .where(due_in),
        )
    }
    if not accounts:
        return [], [], 0

    # Every tariff assignment up to the date, oldest first: the period is priced at the one in
    # force on its first day and split at each one that takes effect inside it.
    assignments: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for account_id, code, effective_from in fetch_converted(
        connection,
        select(ASSIGNMENT.c.account_id, ASSIGNMENT.c.tariff_code, ASSIGNMENT.c.effective_from)
        .where(
            ASSIGNMENT.c.account_id.in_(select(due_ids.c.id)),
            ASSIGNMENT.c.effective_from <= run_date,
        )
        .order_by(ASSIGNMENT.c.account_id, ASSIGNMENT.c.effective_from),
    ):
        assignments[account_id].append((effective_from, code))

    zones: dict[str | None, ZoneInfo] = {None: tz}
    zone_of_meter: dict[int, ZoneInfo] = {}
    meters: dict[int, list[Any]] = defaultdict(list)
    window_floor = _months_before(run_date, 2) - timedelta(days=READING_WINDOW_DAYS)
    meter_filter = (
        METER.c.account_id.in_(select(due_ids.c.id)),
        METER.c.installed_on <= run_date,
        or_(METER.c.removed_on.is_(None), METER.c.removed_on >= window_floor),
    )
    due_meters = select(METER.c.id).where(*meter_filter)
    for row in fetch_converted(
        connection,
        select(*(METER.c[name] for name in MeterRow._fields))
        .where(*meter_filter)
        .order_by(METER.c.installed_on),
    ):
        meter = MeterRow._make(row)
        meters[meter.account_id].append(meter)
        zone = accounts[meter.account_id].timezone
        if zone not in zones:
            zones[zone] = ZoneInfo(zone) if zone else tz
        zone_of_meter[meter.id] = zones[zone]

    # Readings in the windows around this reading day and the comparison months, as local
    # dates in each customer's time zone (the query takes a day more on each side).
    windows = [(run_date, 0)] + [(_months_before(run_date, k), k) for k in COMPARISON_MONTHS]
    ranges = []
    for day, _k in windows:
        start, end = _local_range_utc(
            day - timedelta(days=READING_WINDOW_DAYS + 1), day + timedelta(days=1), tz
        )
        ranges.append(and_(READING.c.read_at >= start, READING.c.read_at < end))
    window_of = {
        day - timedelta(days=back): k
        for day, k in windows
        for back in range(READING_WINDOW_DAYS + 1)
    }
    day_lists: dict[ZoneInfo, _LocalDays] = {}
    days_of_meter: dict[int, _LocalDays] = {}
    to_raw = bind_converter(READING.c.read_at, session.get_bind().dialect)
    for meter_id, meter_zone in zone_of_meter.items():
        if meter_zone not in day_lists:
            day_lists[meter_zone] = _LocalDays(window_of, meter_zone, to_raw)
        days_of_meter[meter_id] = day_lists[meter_zone]
    # (row, local date) of the latest reading of each meter in each window, by window.
    readings: dict[int, dict[int, tuple[Any, date]]] = defaultdict(dict)
    rows = fetch_raw(
        connection,
        select(*READING_COLUMNS)
        .where(READING.c.meter_id.in_(due_meters), or_(*ranges))
        .order_by(READING.c.meter_id, READING.c.read_at),
    )
    for reading in rows:
        meter_id = reading[1]
        local = days_of_meter[meter_id].local_date(reading[2])
        if local is not None:
            k = window_of.get(local)
            if k is not None:  # the latest reading in a window wins (rows come in time order)
                readings[meter_id][k] = (reading, local)
    dialect = session.get_bind().dialect.name
    as_values = _values_reader(dialect)
    total_kwh = required_decimal_reader(READING.c.total, dialect)

    # The final reading of each meter removed in the period (换表), wherever it falls: the last
    # one on or before the day it was removed.
    period_floor = _months_before(run_date, 1) - timedelta(days=READING_WINDOW_DAYS)
    finals = _final_readings(
        session,
        {
            meter.id: meter.removed_on
            for account_meters in meters.values()
            for meter in account_meters
            if meter.removed_on and period_floor <= meter.removed_on <= run_date
        },
        zone_of_meter,
        period_floor,
        run_date,
        tz,
    )

    last_bill = _last_live_bills(session, run_date)
    last_pf = _power_factor_adjustments(
        session, [row.id for aid, row in last_bill.items() if accounts[aid].kind != "residential"]
    )
    last_year_amount = _bills_starting_near(session, due_ids, _months_before(run_date, 13))
    transitions = _transition_starts(session, due_ids, run_date, last_bill, accounts, tz)
    changes: dict[int, list[tuple[str, date]]] = defaultdict(list)
    for row in session.execute(
        select(CHANGE.c.account_id, CHANGE.c.kind, CHANGE.c.effective_on).where(
            CHANGE.c.account_id.in_(select(due_ids.c.id)),
            CHANGE.c.effective_on > window_floor,
            CHANGE.c.effective_on <= run_date,
        )
    ):
        changes[row.account_id].append((row.kind, row.effective_on))
    ytd = _year_to_date_kwh(session, due_ids, run_date)

    periods: list[AccountPeriod] = []
    missed: list[tuple[str, str]] = []
    already = 0
    for account_id, account in accounts.items():
        account_meters = meters.get(account_id, [])
        if len(account_meters) == 1 and account_meters[0].removed_on is None:
            current_meter: MeterRow | None = account_meters[0]  # most accounts: one meter
        else:
            current_meter = next(
                (
                    m
                    for m in reversed(account_meters)
                    if m.removed_on is None or m.removed_on > run_date
                ),
                None,
            )
        if current_meter is None:
            missed.append((account.number, "no meter in service"))
            continue
        found = readings[current_meter.id]
        current = as_values(found[0]) if 0 in found else None
        if current is None:
            missed.append(
                (
                    account.number,
                    f"no reading of meter {current_meter.serial} "
                    f"in the {READING_WINDOW_DAYS + 1} days to "
                    f"{run_date.isoformat()}",
                )
            )
            continue
        previous_bill = last_bill.get(account_id)
        if previous_bill is not None and previous_bill.curr_reading_id == current.id:
            already += 1
            continue
        replacement = None
        # The first bill on a new reading day (a reading plan applied) starts at the reading
        # the last bill on the old day ended with: one longer or shorter period.
        transition = transitions.get(account_id)
        if transition is not None and transition[0] != current_meter.id:
            transition = None  # the meter was replaced since: bill as any other period
        previous = (
            transition[1] if transition is not None else as_values(found[1]) if 1 in found else None
        )
        first_bill = False
        old_meter = None
        if previous is None and current_meter.installed_on > window_floor:
            # No reading of this meter a month ago: it replaced one inside the period (换表),
            # or the account is a new connection.
            old_meter = max(
                (
                    m
                    for m in account_meters
                    if m.id != current_meter.id and m.removed_on and m.removed_on >= period_floor
                ),
                key=lambda m: m.removed_on or date.min,
                default=None,
            )
        if old_meter is not None:
            old_found = readings[old_meter.id]
            previous = as_values(old_found[1]) if 1 in old_found else None
            if previous is None:
                why = f"no reading of replaced meter {old_meter.serial} to bill from"
                missed.append((account.number, why))
                continue
            final = finals.get(old_meter.id)
            removed_on = old_meter.removed_on or previous.local_date
            if final is None or (
                final.local_date <= previous.local_date < removed_on  # nothing read since
            ):
                missed.append(
                    (
                        account.number,
                        f"no final reading of replaced meter {old_meter.serial} "
                        f"on or before {old_meter.removed_on}",
                    )
                )
                continue
            replacement = Replacement(
                old_final=final.total,
                new_initial=current_meter.initial_total,
                old_final_peak=final.peak,
                old_final_flat=final.flat,
                old_final_valley=final.valley,
                new_initial_peak=current_meter.initial_peak,
                new_initial_flat=current_meter.initial_flat,
                new_initial_valley=current_meter.initial_valley,
            )
        if previous is None and current_meter.installed_on >= window_floor:
            previous = ReadingValues(
                id=None,
                local_date=current_meter.installed_on,
                total=current_meter.initial_total,
                peak=current_meter.initial_peak,
                flat=current_meter.initial_flat,
                valley=current_meter.initial_valley,
            )
            first_bill = True
        if previous is None:
            missed.append((account.number, "no previous reading to bill from"))
            continue
        if previous_bill is not None and previous_bill.period_start >= previous.local_date:
            already += 1
            continue
        tariffs = _tariffs_in_period(
            assignments.get(account_id, []), previous.local_date, current.local_date
        )
        if tariffs is None:
            missed.append((account.number, "no tariff assigned"))
            continue
        account_changes = changes.get(account_id)
        kinds: tuple[str, ...] = ()
        if account_changes:
            kinds = tuple(
                sorted({kind for kind, on in account_changes if on > previous.local_date})
            )
        if assignments[account_id][-1][0] > previous.local_date:
            kinds = tuple(sorted({*kinds, "tariff_change"}))
        if account.opened_on > previous.local_date:
            first_bill = True
        periods.append(
            AccountPeriod(
                account_id=account_id,
                account_number=account.number,
                customer_kind=account.kind,
                household_size=account.household_size,
                active=account.status == AccountStatus.active,
                payment_terms_days=payment_terms.terms_days(
                    account_terms=account.payment_terms_days, customer_kind=account.kind
                ),
                tariff_code=tariffs[0],
                meter=MeterPeriod(
                    meter_id=current_meter.id,
                    multiplier=current_meter.multiplier,
                    digits=current_meter.digits,
                    tou=current_meter.tou,
                    previous=previous,
                    current=current,
                    parent_meter_id=current_meter.parent_meter_id,
                    replacement=replacement,
                ),
                # the comparison periods' kWh, from this meter's plain totals
                previous_kwh=_advance(found.get(2), found.get(1), current_meter, total_kwh),
                previous_amount=previous_bill.total if previous_bill is not None else None,
                previous_pf_adjustment=(
                    last_pf.get(previous_bill.id) if previous_bill is not None else None
                ),
                last_year_kwh=_advance(found.get(13), found.get(12), current_meter, total_kwh),
                last_year_amount=last_year_amount.get(account_id),
                ytd_kwh=ytd.get(account_id, ZERO),
                is_first_bill=first_bill,
                business_changes=kinds,
                meter_replaced_or_faulty=bool(kinds)
                and any(k in ("meter_replacement", "meter_fault") for k in kinds),
                tariff_changes=tariffs[1],
                nominal_days=(
                    nominal_days(previous.local_date) if transition is not None else None
                ),
            )
        )
    return periods, missed, already


def _transition_starts(
    session: Session,
    due_ids: Table,
    run_date: date,
    last_bill: dict[int, Any],
    accounts: dict[int, _AccountRow],
    tz: ZoneInfo,
) -> dict[int, tuple[int, ReadingValues]]:
    """(meter id, reading) the transition period starts from, for each due account whose
    first reading on a new reading day is `run_date`: the current reading of its last live
    bill (on the old day, or later when the plan was applied late: never billed twice)."""
    changed = session.execute(
        select(DAY_CHANGE.c.account_id).where(
            DAY_CHANGE.c.account_id.in_(select(due_ids.c.id)),
            DAY_CHANGE.c.first_new_reading_on == run_date,
            DAY_CHANGE.c.plan_id.in_(
                select(READING_PLAN.c.id).where(READING_PLAN.c.status == PlanStatus.applied)
            ),
        )
    ).scalars()
    account_of = {
        last_bill[aid].curr_reading_id: aid
        for aid in changed
        if aid in last_bill and last_bill[aid].curr_reading_id is not None
    }
    found: dict[int, tuple[int, ReadingValues]] = {}
    for part in _id_parts(list(account_of)):
        for reading in session.scalars(
            select(MeterReading).where(MeterReading.id.in_(part))  # type: ignore[union-attr]
        ):
            account_id = account_of[reading.id]
            zone_name = accounts[account_id].timezone
            zone = ZoneInfo(zone_name) if zone_name else tz
            found[account_id] = (
                reading.meter_id,
                ReadingValues(
                    id=reading.id,
                    local_date=reading.read_at.astimezone(zone).date(),
                    total=reading.total,
                    peak=reading.peak,
                    flat=reading.flat,
                    valley=reading.valley,
                    reactive=reading.reactive,
                    estimated=reading.estimated,
                ),
            )
    return found


class _LocalDays:
    """Local dates of raw instants (as the driver returns the reading's `read_at`) in one time
    zone, for the given days only: a binary search over the first instant of each of these
    days, and of each day after one that is not among them, in the same raw form, instead of
    a datetime and a zone conversion per row. Only the days asked for are converted (the
    reading windows' few days, not the year between them)."""

    def __init__(
        self, days: Iterable[date], zone: ZoneInfo, to_raw: Callable[[Any], Any] | None
    ) -> None:
        wanted = set(days)
        self.days: list[date | None] = []
        starts: list[datetime] = []
        for day in sorted(wanted):
            self.days.append(day)
            starts.append(datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC))
            after = day + timedelta(days=1)
            if after not in wanted:  # a gap: instants from here to the next day are None
                self.days.append(None)
                starts.append(
                    datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC)
                )
        self.starts = [to_raw(start) for start in starts] if to_raw else starts

    def local_date(self, raw_instant: Any) -> date | None:
        """The local date of the instant; None unless it is one of the days."""
        index = bisect_right(self.starts, raw_instant) - 1
        return self.days[index] if index >= 0 else None


def _values_reader(dialect: str) -> Callable[[tuple[tuple[Any, ...], date]], ReadingValues]:
    """(raw reading row, its local date) → ReadingValues, every register converted."""
    kwh = decimal_reader(READING.c.total, dialect)
    total_kwh = required_decimal_reader(READING.c.total, dialect)

    def values(found: tuple[tuple[Any, ...], date]) -> ReadingValues:
        (reading_id, _meter, _at, total, peak, flat, valley, reactive, estimated), local = found
        if peak is None and flat is None and valley is None:  # a plain meter
            return ReadingValues(
                reading_id, local, total_kwh(total), None, None, None, kwh(reactive),
                bool(estimated),
            )  # fmt: skip
        return ReadingValues(
            reading_id, local, total_kwh(total), kwh(peak), kwh(flat), kwh(valley),
            kwh(reactive), bool(estimated),
        )  # fmt: skip

    return values


def _tariffs_in_period(
    assignments: Sequence[tuple[date, str]], start: date, current: date
) -> tuple[str, tuple[tuple[date, str], ...]] | None:
    """The tariff in force on the period's first day, and (effective date, tariff) of each one
    that takes effect inside it (the period ends the day before the current reading). An
    account whose first tariff starts later is priced at that one from the start; None when
    it has no tariff at all."""
    if not assignments:
        return None
    at_start: str | None = None
    inside: list[tuple[date, str]] = []
    for on, code in assignments:
        if on <= start:
            at_start = code
        elif on < current:
            inside.append((on, code))
    if at_start is None:
        if not inside:
            return assignments[-1][1], ()
        at_start = inside.pop(0)[1]
    return at_start, tuple(inside)


def _final_readings(
    session: Session,
    removed_on: dict[int, date],
    zone_of_meter: dict[int, ZoneInfo],
    first: date,
    last: date,
    tz: ZoneInfo,
) -> dict[int, ReadingValues]:
    """The last reading of each of these meters on or before the (local) day it was removed
    (`removed_on`: meter id → day), among its readings from `first` to `last`: one query for
    all of them (few: a meter replaced in the period is rare)."""
    dialect = session.get_bind().dialect.name
    instant, as_values = instant_reader(dialect), _values_reader(dialect)
    start, end = _local_range_utc(first - timedelta(days=1), last + timedelta(days=1), tz)
    finals: dict[int, ReadingValues] = {}
    for part in _id_parts(sorted(removed_on)):
        rows = fetch_raw(
            session.connection(),
            select(*READING_COLUMNS)
            .where(
                READING.c.meter_id.in_(part),
                READING.c.read_at >= start,
                READING.c.read_at < end,
            )
            .order_by(READING.c.read_at),
        )
        for reading in rows:
            meter_id = reading[1]
            local = instant(reading[2]).astimezone(zone_of_meter[meter_id]).date()
            if local <= removed_on[meter_id]:  # in time order: the last one wins
                finals[meter_id] = as_values((reading, local))
    return finals


def _advance(
    earlier: tuple[tuple[Any, ...], date] | None,
    later: tuple[tuple[Any, ...], date] | None,
    meter: MeterRow,
    as_kwh: Callable[[Any], Decimal],
) -> Decimal | None:
    """kWh between two plain readings' totals, from their raw rows; a register that rolled
    over counts its wrapped advance (`register_delta`, a tenth of the register's range at
    most); None when either is missing or the register went backwards otherwise (a
    comparison is then simply not made)."""
    if earlier is None or later is None:
        return None
    before, after = earlier[0][3], later[0][3]
    if after >= before:  # nearly every meter: the difference as stored, converted once
        return as_kwh(after - before) * meter.multiplier
    delta = register_delta(as_kwh(before), as_kwh(after), digits=meter.digits)
    return None if delta.reverse is ReverseKind.error else delta.advance * meter.multiplier


def _id_parts(ids: Sequence[int], size: int = 20000) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _latest_live_bills() -> Select[Any]:
    """Each due account's latest live bill starting on or before :run_date: one pass over
    the accounts' bills (a window function), whatever the planner believes about the table's
    size (a self-join to the latest date per account became quadratic on PostgreSQL when
    the statistics still said the table was empty). Built once: only the date changes."""
    ranked = (
        select(
            BILL.c.id, BILL.c.account_id, BILL.c.period_start, BILL.c.total,
            BILL.c.curr_reading_id,
            func.row_number()
            .over(partition_by=BILL.c.account_id, order_by=BILL.c.period_start.desc())
            .label("newest"),
        )
        .where(
            BILL.c.account_id.in_(select(_DUE.c.id)),
            BILL.c.status != "cancelled",
            BILL.c.period_start <= bindparam("run_date", type_=Date),
        )
        .subquery()
    )  # fmt: skip
    return select(
        ranked.c.id, ranked.c.account_id, ranked.c.period_start, ranked.c.total,
        ranked.c.curr_reading_id,
    ).where(ranked.c.newest == 1)  # fmt: skip


_LATEST_LIVE_BILLS = _latest_live_bills()


def _last_live_bills(session: Session, run_date: date) -> dict[int, Any]:
    """Each due account's (in `_DUE`) latest live bill starting on or before the date."""
    rows = session.execute(_LATEST_LIVE_BILLS, {"run_date": run_date})
    return {row.account_id: row for row in rows}


def _power_factor_adjustments(session: Session, bill_ids: list[int]) -> dict[int, Decimal]:
    """The power-factor adjustment (力率调整电费) on each of these bills that has one."""
    found: dict[int, Decimal] = {}
    for part in _id_parts(bill_ids):
        for bill_id, amount in session.execute(
            select(LINE.c.bill_id, func.sum(LINE.c.amount))
            .where(
                LINE.c.bill_id.in_(part),
                LINE.c.component.like(f"{POWER_FACTOR_ADJUSTMENT}%"),
            )
            .group_by(LINE.c.bill_id)
        ):
            found[bill_id] = amount
    return found


def _bills_starting_near(session: Session, due_ids: Any, day: date) -> dict[int, Decimal]:
    rows = session.execute(
        select(BILL.c.account_id, BILL.c.total).where(
            BILL.c.account_id.in_(select(due_ids.c.id)),
            BILL.c.status != "cancelled",
            BILL.c.period_start >= day - timedelta(days=READING_WINDOW_DAYS),
            BILL.c.period_start <= day,
        )
    )
    return {row.account_id: row.total for row in rows}


def _year_to_date_kwh(session: Session, due_ids: Any, run_date: date) -> dict[int, Decimal]:
    """kWh of the live bills of the calendar year the period starts in, for annual blocks
    (年阶梯)."""
    rows = session.execute(
        select(BILL.c.account_id, func.sum(BILL.c.kwh).label("kwh"))
        .where(
            BILL.c.account_id.in_(select(due_ids.c.id)),
            BILL.c.status != "cancelled",
            # the tariff year of the period being billed, which starts a month before
            BILL.c.period_start >= date(_months_before(run_date, 1).year, 1, 1),
        )
        .group_by(BILL.c.account_id)
    )
    return {row.account_id: row.kwh or ZERO for row in rows}
