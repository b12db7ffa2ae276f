"""Drafting one bill, pure: from an account's readings for a period to priced lines, review
findings and a status. The bill run loads the inputs, calls these functions, and stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from typing import NamedTuple

from billing_core.bills.model import (
    Finding,
    PeriodFacts,
    ReviewThresholds,
    due_date_for,
    review_findings,
)
from billing_core.readings.model import ReverseKind, register_delta
from billing_core.readings.vee import Replacement, meter_consumption, tou_mismatch
from billing_core.tariffs.lines import power_factor_adjustment, round_money
from billing_core.tariffs.model import (
    AccountAttributes,
    BillLine,
    ChargeBasis,
    Consumption,
    FixedCharge,
    PricedBill,
    Tariff,
    TariffError,
    TariffVersion,
)
from billing_core.tariffs.power_factor import power_factor_from
from billing_core.tariffs.pricing import price_period

ZERO = Decimal(0)
KWH = Decimal("0.001")  # bills store kWh and line quantities to the watt-hour
TOU_REGISTERS = ("peak", "flat", "valley")
# The period that takes what the named TOU registers leave of the total: flat (平) when the
# tariff has it, otherwise valley (谷 = 总 − 峰 on a two-rate tariff).
BASE_PERIODS = ("flat", "valley")
COMPONENT_MAX = 64  # bill_line.component
_CTX = Context(prec=40, rounding=ROUND_HALF_UP)


class ReadingValues(NamedTuple):
    id: int | None  # None for a meter's initial values (no reading row)
    local_date: date
    total: Decimal
    peak: Decimal | None = None
    flat: Decimal | None = None
    valley: Decimal | None = None
    reactive: Decimal | None = None
    estimated: bool = False


class MeterPeriod(NamedTuple):
    meter_id: int
    multiplier: Decimal
    digits: int
    tou: bool
    previous: ReadingValues
    current: ReadingValues
    parent_meter_id: int | None = None
    replacement: Replacement | None = None


class AccountPeriod(NamedTuple):
    """Everything one account's bill for one period depends on, as plain values."""

    account_id: int
    account_number: str
    customer_kind: str
    household_size: int
    active: bool
    payment_terms_days: int
    tariff_code: str  # the tariff in force on the period's first day
    meter: MeterPeriod
    previous_kwh: Decimal | None = None  # the period before, from readings
    previous_amount: Decimal | None = None  # the previous live bill's total, if any
    previous_pf_adjustment: Decimal | None = None
    last_year_kwh: Decimal | None = None
    last_year_amount: Decimal | None = None
    ytd_kwh: Decimal = ZERO
    is_first_bill: bool = False
    business_changes: tuple[str, ...] = ()
    meter_replaced_or_faulty: bool = False
    # (effective date, tariff code) of each tariff that takes over inside the period, in date
    # order: the period is split there and each part priced at its own tariff (DOMAIN §2)
    tariff_changes: tuple[tuple[date, str], ...] = ()
    # The days of a month-long period from the same first day, when this period is the one
    # longer or shorter period of a reading-day change (docs/billing.md): its monthly block
    # limits and charges are prorated by its days over these. None: an ordinary period.
    nominal_days: int | None = None

    @property
    def period_start(self) -> date:
        return self.meter.previous.local_date

    @property
    def period_end(self) -> date:
        """The last day billed: the day before the current reading (which opens the next)."""
        return self.meter.current.local_date - timedelta(days=1)


class Usage(NamedTuple):
    """Consumption worked out from registers, before pricing."""

    kwh: Decimal
    reverse: ReverseKind | None
    # TOU kWh by register, summing to kwh: peak and valley as their registers advanced, flat
    # the rest of the total (平 = 总 − 峰 − 谷); `registers_for_periods` maps them onto a tariff
    registers: dict[str, Decimal] | None
    tou_gap: Decimal | None
    power_factor: Decimal | None
    estimated: bool


class BillDraft(NamedTuple):
    account_id: int
    period_start: date
    period_end: date
    kwh: Decimal
    lines: tuple[BillLine, ...]
    total: Decimal
    currency: str
    estimated: bool
    findings: tuple[Finding, ...]
    due_date: date
    prev_reading_id: int | None
    curr_reading_id: int | None
    pf_adjustment: Decimal | None = None

    @property
    def needs_review(self) -> bool:
        return bool(self.findings)


def work_out_usage(period: AccountPeriod, thresholds: ReviewThresholds) -> Usage:
    """kWh from the registers: multiplier, rollover and replacement handled, on TOU meters
    register by register (old final − previous + new current − initial). The TOU registers are
    kept as peak, valley and flat = total − peak − valley (平段 = 总 − 峰 − 谷), which
    `registers_for_periods` maps onto a tariff's own periods; the gap between the total and the
    TOU registers as read is what TOU_MISMATCH measures."""
    meter = period.meter
    prev, curr = meter.previous, meter.current
    rollover_max = thresholds.rollover_max(period.previous_kwh, meter.multiplier)
    total = meter_consumption(
        prev.total,
        curr.total,
        multiplier=meter.multiplier,
        digits=meter.digits,
        rollover_max=rollover_max,
        replacement=meter.replacement,
    )
    registers: dict[str, Decimal] | None = None
    tou_gap: Decimal | None = None
    advances = _register_advances(meter, rollover_max) if meter.tou else None
    if advances is not None:
        tou_gap = tou_mismatch(
            total.advance, list(advances.values()), threshold=thresholds.tou_threshold_kwh
        )
        peak, valley = advances["peak"], advances["valley"]
        registers = {"peak": peak, "flat": total.advance - peak - valley, "valley": valley}
    power_factor: Decimal | None = None
    if (
        period.customer_kind != "residential"
        and meter.replacement is None  # a new meter's reactive register has no initial value
        and prev.reactive is not None
        and curr.reactive is not None
        and total.advance > ZERO
    ):
        kvarh = (
            register_delta(
                prev.reactive, curr.reactive, digits=meter.digits, rollover_max=rollover_max
            ).advance
            * meter.multiplier
        )
        power_factor = power_factor_from(total.advance, kvarh)
    return Usage(
        kwh=total.advance,
        reverse=total.reverse,
        registers=registers,
        tou_gap=tou_gap,
        power_factor=power_factor,
        estimated=prev.estimated or curr.estimated,
    )


def _register_advances(meter: MeterPeriod, rollover_max: Decimal) -> dict[str, Decimal] | None:
    """kWh by TOU register as read (after the multiplier); None unless peak and valley were
    read at both ends (and, across a replacement, on both meters). A flat register missing
    anywhere is left out: a two-rate meter may have none."""
    prev, curr, replacement = meter.previous, meter.current, meter.replacement
    advances: dict[str, Decimal] = {}
    for name in TOU_REGISTERS:
        before, after = getattr(prev, name), getattr(curr, name)
        across = replacement.register(name) if replacement is not None else None
        if before is None or after is None or (replacement is not None and across is None):
            if name == "flat":
                continue
            return None
        advances[name] = meter_consumption(
            before,
            after,
            multiplier=meter.multiplier,
            digits=meter.digits,
            rollover_max=rollover_max,
            replacement=across,
        ).advance
    return advances


def registers_for_periods(
    registers: Mapping[str, Decimal], kwh: Decimal, periods: Sequence[str]
) -> dict[str, Decimal] | None:
    """TOU kWh as a tariff with these periods prices them: each period but the base one takes
    its register's kWh, and the base period takes the rest of the total — flat (平) when the
    tariff has one, otherwise valley (谷 = 总 − 峰 on a two-rate tariff). None when the tariff
    has no base period, a period the meter has no register for, or a period would be
    negative (the registers read more than the total)."""
    base = next((name for name in BASE_PERIODS if name in periods), None)
    if base is None:
        return None
    mapped: dict[str, Decimal] = {}
    rest = kwh
    for name in periods:
        if name == base:
            continue
        value = registers.get(name)
        if value is None or value < ZERO:
            return None
        mapped[name] = value
        rest -= value
    if rest < ZERO:
        return None
    mapped[base] = rest
    return mapped


def split_usage(
    kwh: Decimal, registers: Mapping[str, Decimal] | None, days: Sequence[int]
) -> list[tuple[Decimal, dict[str, Decimal] | None]]:
    """kWh (and TOU registers) shared over consecutive parts of a period by their days: each
    part but the last takes its share of what is left, rounded half-up to the watt-hour
    (0.001 kWh), and the last part takes the rest, so that nothing is lost. The registers
    (which add up to kWh) are shared the same way, each rounded on the running sum, so that a
    part's registers add up to the part's kWh exactly."""
    parts: list[tuple[Decimal, dict[str, Decimal] | None]] = []
    left_kwh = kwh
    left_registers = dict(registers) if registers is not None else None
    left_days = sum(days)
    for part_days in days[:-1]:
        share = Fraction(part_days, left_days)
        part_kwh = round_money(Fraction(left_kwh) * share, 3)
        part_registers: dict[str, Decimal] | None = None
        if left_registers is not None:
            part_registers = {}
            names = list(left_registers)
            running, done = Fraction(0), ZERO
            for name in names[:-1]:
                running += Fraction(left_registers[name])
                upto = round_money(running * share, 3)
                part_registers[name] = upto - done
                done = upto
            part_registers[names[-1]] = part_kwh - done
            left_registers = {name: left_registers[name] - part_registers[name] for name in names}
        parts.append((part_kwh, part_registers))
        left_kwh -= part_kwh
        left_days -= part_days
    parts.append((left_kwh, left_registers))
    return parts


def draft_bill(
    period: AccountPeriod,
    usage: Usage,
    *,
    tariff: Tariff,
    thresholds: ReviewThresholds,
    issued_on: date,
    children_kwh: Decimal | None = None,
    tariff_changes: Sequence[tuple[date, Tariff]] = (),
) -> BillDraft:
    """Price the usage and run every review rule over the result; the bill is due its
    payment terms after `issued_on`, the local day it is issued (held in review: the day a
    reviewer approves it sets its due date instead).

    `tariff` is the tariff in force on the period's first day; `tariff_changes` holds each
    tariff that takes over inside the period, with its effective date. A period with changes
    is split there: each part is priced at its own tariff with its share of the kWh by days
    (`split_usage`) and of the monthly charges and block limits, and the bill carries the
    lines of every part."""
    account = AccountAttributes(
        customer_kind=period.customer_kind,  # type: ignore[arg-type]
        household_size=period.household_size,
        ytd_kwh=period.ytd_kwh,
    )
    start, end = period.period_start, period.period_end
    priced = price_usage(
        usage,
        start=start,
        end=end,
        tariff=tariff,
        account=account,
        tariff_changes=tariff_changes,
        nominal_days=period.nominal_days,
    )
    pf_adjustment = power_factor_adjustment(priced)
    facts = PeriodFacts(
        customer_kind=period.customer_kind,
        account_active=period.active,
        kwh=usage.kwh,
        amount=priced.total,
        previous_kwh=period.previous_kwh,
        previous_amount=period.previous_amount,
        last_year_kwh=period.last_year_kwh,
        last_year_amount=period.last_year_amount,
        reverse=usage.reverse,
        tou_gap=usage.tou_gap,
        children_kwh=children_kwh,
        pf_adjustment=pf_adjustment,
        previous_pf_adjustment=period.previous_pf_adjustment,
        has_adjustment_line=False,
        meter_replaced_or_faulty=period.meter_replaced_or_faulty
        or period.meter.replacement is not None,
        business_changes=period.business_changes,
        is_first_bill=period.is_first_bill,
        estimated=usage.estimated,
    )
    return BillDraft(
        account_id=period.account_id,
        period_start=start,
        period_end=end,
        kwh=usage.kwh.quantize(KWH, ROUND_HALF_UP),
        lines=tuple(_stored_line(line) for line in priced.lines),
        total=priced.total,
        currency=priced.currency,
        estimated=usage.estimated,
        findings=tuple(review_findings(facts, thresholds)),
        due_date=due_date_for(issued_on=issued_on, terms_days=period.payment_terms_days),
        prev_reading_id=period.meter.previous.id,
        curr_reading_id=period.meter.current.id,
        pf_adjustment=pf_adjustment,
    )


def price_usage(
    usage: Usage,
    *,
    start: date,
    end: date,
    tariff: Tariff,
    account: AccountAttributes,
    tariff_changes: Sequence[tuple[date, Tariff]] = (),
    nominal_days: int | None = None,
) -> PricedBill:
    """Price a period's usage: at `tariff` (in force on `start`), or, with `tariff_changes`
    inside the period, each part at its own tariff (see `draft_bill`). TOU registers are
    mapped onto each tariff's periods (`registers_for_periods`). With `nominal_days` (the
    transition period of a reading-day change), the monthly charges and block limits are
    prorated by the period's days over `nominal_days`, the days of an ordinary period."""
    days = (end - start).days + 1
    month_days = nominal_days or days
    if tariff_changes:
        parts = _tariff_parts(start, end, tariff, tariff_changes)
        if len(parts) > 1:
            return _price_parts(parts, usage, account, month_days)
        tariff = parts[0][2]
    if month_days != days:
        return _price_parts([(start, end, tariff)], usage, account, month_days)
    return price_period(
        tariff,
        start=start,
        end=end,
        consumption=_consumption(
            tariff, start, end, usage.kwh, usage.registers, usage.power_factor
        ),
        account=account,
    )


def _consumption(
    tariff: Tariff,
    first: date,
    last: date,
    kwh: Decimal,
    registers: Mapping[str, Decimal] | None,
    power_factor: Decimal | None,
) -> Consumption:
    """Register kWh mapped onto the tariff's TOU periods when it prices by time of use in
    these days and the meter has them; the total otherwise (a TOU tariff then refuses it)."""
    if registers is not None:
        periods = _tou_periods(tariff, first, last)
        if periods:
            mapped = registers_for_periods(registers, kwh, periods)
            if mapped is not None:
                return Consumption.of_registers(mapped, power_factor=power_factor)
    return Consumption(kwh=kwh, power_factor=power_factor)


def _tou_periods(tariff: Tariff, first: date, last: date) -> tuple[str, ...]:
    """The TOU periods of the tariff's versions in force from `first` to `last`."""
    names: list[str] = []
    versions = tariff.versions
    for index, version in enumerate(versions):
        if version.effective_from > last:
            break
        following = versions[index + 1] if index + 1 < len(versions) else None
        if following is not None and following.effective_from <= first:
            continue
        if version.time_of_use:
            names.extend(name for name in version.periods if name not in names)
    return tuple(names)


def _tariff_parts(
    start: date, end: date, tariff: Tariff, changes: Sequence[tuple[date, Tariff]]
) -> list[tuple[date, date, Tariff]]:
    """The period's parts as (first day, last day, tariff): a part starts at each change that
    takes effect inside the period to a different tariff."""
    starts: list[tuple[date, Tariff]] = [(start, tariff)]
    for on, new in sorted(changes, key=lambda change: change[0]):
        if on > end:
            break
        if on <= starts[-1][0]:  # in force from the start (or two changes on one day)
            starts[-1] = (starts[-1][0], new)
            if len(starts) > 1 and starts[-2][1].code == new.code:
                starts.pop()
        elif new.code != starts[-1][1].code:
            starts.append((on, new))
    return [
        (first, starts[index + 1][0] - timedelta(days=1) if index + 1 < len(starts) else end, t)
        for index, (first, t) in enumerate(starts)
    ]


def _price_parts(
    parts: Sequence[tuple[date, date, Tariff]],
    usage: Usage,
    account: AccountAttributes,
    period_days: int,
) -> PricedBill:
    """Each part at its own tariff, as its share of a month-long period of `period_days`
    (DOMAIN §2: a period that straddles a tariff change is prorated by days; so is the longer
    or shorter period of a reading-day change); the total is the sum of every line."""
    currencies = {part_tariff.currency for _first, _last, part_tariff in parts}
    if len(currencies) > 1:
        codes = ", ".join(f"{t.code} ({t.currency})" for _first, _last, t in parts)
        raise TariffError([f"tariff change: the tariffs bill in different currencies: {codes}"])
    days = [(last - first).days + 1 for first, last, _tariff in parts]
    shares = split_usage(usage.kwh, usage.registers, days)
    priced_parts: list[tuple[Tariff, tuple[BillLine, ...]]] = []
    ytd = account.ytd_kwh
    year = parts[0][0].year
    total = ZERO
    for (first, last, part_tariff), part_days, (kwh, registers) in zip(
        parts, days, shares, strict=True
    ):
        if first.year != year:  # annual blocks (年阶梯) start again with a new year
            ytd, year = ZERO, first.year
        prorated, monthly = prorated_tariff(part_tariff, part_days, period_days)
        priced = price_period(
            prorated,
            start=first,
            end=last,
            consumption=_consumption(prorated, first, last, kwh, registers, usage.power_factor),
            account=replace(account, ytd_kwh=ytd),
        )
        share = Fraction(part_days, period_days)
        lines = tuple(_monthly_charge_line(line, monthly, share) for line in priced.lines)
        priced_parts.append((part_tariff, lines))
        total = _CTX.add(total, priced.total)
        ytd += kwh
    names = [{line.component for line in lines} for _tariff, lines in priced_parts]
    shared = any(names[i] & names[j] for i in range(len(names)) for j in range(i + 1, len(names)))
    lines_out: list[BillLine] = []
    for part_tariff, lines in priced_parts:
        for line in lines:
            if shared:
                line = line._replace(component=_labelled(line.component, part_tariff.code))
            lines_out.append(line)
    return PricedBill(parts[0][2].currency, tuple(lines_out), total)


# Prorated copies of tariffs, by (id of the tariff, part days, period days); each entry keeps
# the tariff itself so that a reused id is never mistaken for it.
_PRORATED: dict[
    tuple[int, int, int], tuple[Tariff, Tariff, dict[tuple[str, Decimal], Decimal]]
] = {}


def prorated_tariff(
    tariff: Tariff, days: int, period_days: int
) -> tuple[Tariff, Mapping[tuple[str, Decimal], Decimal]]:
    """The tariff as it prices `days` of a billing period of `period_days` on their own: the
    monthly charges, the monthly minimum and the monthly block limits (household raises
    included) scaled to the part's share by days, as `price_period` does for the parts of a
    period that straddles a version change (docs/tariffs.md); annual limits and daily charges
    are left as they are. Also returns, for each scaled monthly charge, (its name, its scaled
    amount) → its real amount, for `_monthly_charge_line`."""
    if days == period_days:
        return tariff, {}
    key = (id(tariff), days, period_days)
    cached = _PRORATED.get(key)
    if cached is not None and cached[0] is tariff:
        return cached[1], cached[2]

    def scaled(value: Decimal) -> Decimal:
        return _CTX.divide(_CTX.multiply(value, Decimal(days)), Decimal(period_days))

    monthly: dict[tuple[str, Decimal], Decimal] = {}
    versions: list[TariffVersion] = []
    for version in tariff.versions:
        charges: list[FixedCharge] = []
        for charge in version.fixed_charges:
            if charge.per is ChargeBasis.month:
                amount = scaled(charge.amount)
                monthly[(charge.name, amount)] = charge.amount
                charge = replace(charge, amount=amount)
            charges.append(charge)
        minimum = version.minimum_charge
        if minimum is not None and minimum.per is ChargeBasis.month:
            minimum = replace(minimum, amount=scaled(minimum.amount))
        seasons, household = version.seasons, version.household_rules
        if not version.annual_blocks:
            seasons = tuple(
                replace(season, limits=tuple(scaled(limit) for limit in season.limits))
                for season in seasons
            )
            household = tuple((persons, scaled(extra)) for persons, extra in household)
        versions.append(
            replace(
                version,
                fixed_charges=tuple(charges),
                minimum_charge=minimum,
                seasons=seasons,
                household_rules=household,
            )
        )
    prorated = replace(tariff, versions=tuple(versions))
    if len(_PRORATED) > 256:
        _PRORATED.clear()
    _PRORATED[key] = (tariff, prorated, monthly)
    return prorated, monthly


def _monthly_charge_line(
    line: BillLine, monthly: Mapping[tuple[str, Decimal], Decimal], share: Fraction
) -> BillLine:
    """A scaled monthly charge shown as `price_period` shows a prorated one: the share of the
    month as the quantity, the real charge as the unit price (the amount is unchanged)."""
    for (name, amount), real in monthly.items():
        if line.unit_price == amount and (
            line.component == name or line.component.startswith(name + " (")
        ):
            quantity = round_money(Fraction(line.quantity) * share, 3)
            return BillLine(line.component, quantity, real, line.amount)
    return line


def _labelled(component: str, code: str) -> str:
    """The line's name followed by the tariff's code, within the column's 64 characters."""
    label = code if len(code) <= 24 else code[:23] + "…"
    suffix = f" ({label})"
    if len(component) + len(suffix) <= COMPONENT_MAX:
        return component + suffix
    return component[: COMPONENT_MAX - len(suffix) - 1] + "…" + suffix


def _stored_line(line: BillLine) -> BillLine:
    """The line as stored: the amount is exact to the cent already; a prorated quantity is
    shown to the watt-hour (the amount was computed from the exact quantity)."""
    quantity = line.quantity.quantize(KWH, ROUND_HALF_UP)
    return line if quantity == line.quantity else line._replace(quantity=quantity)
