"""Drafting one bill, pure: from an account's readings for a period to priced lines, review
findings and a status. The bill run loads the inputs, calls these functions, and stores."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from billing_core.bills.model import Finding, PeriodFacts, ReviewThresholds, review_findings
from billing_core.readings.vee import (
    Replacement,
    ReverseKind,
    meter_consumption,
    register_delta,
    tou_mismatch,
)
from billing_core.tariffs.model import (
    AccountAttributes,
    BillLine,
    Consumption,
    Tariff,
    power_factor_adjustment,
    price_period,
)
from billing_core.tariffs.power_factor import power_factor_from

ZERO = Decimal(0)
KWH = Decimal("0.001")  # bills store kWh and line quantities to the watt-hour
TOU_REGISTERS = ("peak", "flat", "valley")


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
    tariff_code: str
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
    registers: dict[str, Decimal] | None  # TOU kWh by period, summing to kwh
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
    """kWh from the registers: multiplier, rollover and replacement handled; the flat TOU
    register is taken as total − peak − valley (平段 = 总 − 峰 − 谷), and the gap between the
    flat register read and that figure is what TOU_MISMATCH measures."""
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
    if meter.tou and meter.replacement is None and _has_tou(prev) and _has_tou(curr):
        advances = {
            name: register_delta(
                getattr(prev, name),
                getattr(curr, name),
                digits=meter.digits,
                rollover_max=rollover_max,
            ).advance
            * meter.multiplier
            for name in TOU_REGISTERS
        }
        tou_gap = tou_mismatch(
            total.advance, list(advances.values()), threshold=thresholds.tou_threshold_kwh
        )
        flat = total.advance - advances["peak"] - advances["valley"]
        if flat >= ZERO:
            registers = {"peak": advances["peak"], "flat": flat, "valley": advances["valley"]}
    power_factor: Decimal | None = None
    if (
        period.customer_kind != "residential"
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


def draft_bill(
    period: AccountPeriod,
    usage: Usage,
    *,
    tariff: Tariff,
    thresholds: ReviewThresholds,
    run_date: date,
    children_kwh: Decimal | None = None,
) -> BillDraft:
    """Price the usage and run every review rule over the result."""
    if usage.registers is not None and tariff.versions[-1].time_of_use:
        consumption = Consumption.of_registers(usage.registers, power_factor=usage.power_factor)
    else:
        consumption = Consumption(kwh=usage.kwh, power_factor=usage.power_factor)
    priced = price_period(
        tariff,
        start=period.period_start,
        end=period.period_end,
        consumption=consumption,
        account=AccountAttributes(
            customer_kind=period.customer_kind,  # type: ignore[arg-type]
            household_size=period.household_size,
            ytd_kwh=period.ytd_kwh,
        ),
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
        period_start=period.period_start,
        period_end=period.period_end,
        kwh=usage.kwh.quantize(KWH, ROUND_HALF_UP),
        lines=tuple(_stored_line(line) for line in priced.lines),
        total=priced.total,
        currency=priced.currency,
        estimated=usage.estimated,
        findings=tuple(review_findings(facts, thresholds)),
        due_date=run_date + timedelta(days=period.payment_terms_days),
        prev_reading_id=period.meter.previous.id,
        curr_reading_id=period.meter.current.id,
        pf_adjustment=pf_adjustment,
    )


def _stored_line(line: BillLine) -> BillLine:
    """The line as stored: the amount is exact to the cent already; a prorated quantity is
    shown to the watt-hour (the amount was computed from the exact quantity)."""
    quantity = line.quantity.quantize(KWH, ROUND_HALF_UP)
    return line if quantity == line.quantity else line._replace(quantity=quantity)


def _has_tou(reading: ReadingValues) -> bool:
    return reading.peak is not None and reading.flat is not None and reading.valley is not None
