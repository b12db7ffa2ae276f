"""The bill review rules (电费复核, docs/domain.md §2) as pure functions over plain values: one
account's bill for one period in, the rules that fired (with a detail for staff) out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from billing_core.customers.model import CustomerKind
from billing_core.readings.model import ReverseKind

if TYPE_CHECKING:
    from billing_core.bills.policy import ReviewPolicy

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
DETAIL_MAX = 300
_PREVIOUS = "the previous period"
_LAST_YEAR = "the same period last year"


class ReviewRule(StrEnum):
    USAGE_SWING = "USAGE_SWING"
    CHILD_EXCEEDS_PARENT = "CHILD_EXCEEDS_PARENT"
    REVERSE_READING = "REVERSE_READING"
    TOU_MISMATCH = "TOU_MISMATCH"
    PF_ADJUSTMENT_SWING = "PF_ADJUSTMENT_SWING"
    REFUND_OR_REBILL = "REFUND_OR_REBILL"
    METER_REPLACED = "METER_REPLACED"
    FIRST_BILL_AFTER_CHANGE = "FIRST_BILL_AFTER_CHANGE"
    ZERO_USAGE = "ZERO_USAGE"
    ESTIMATED = "ESTIMATED"


class BusinessChangeKind(StrEnum):
    """Kinds of business change (业扩变更) stored in business_change.kind."""

    new_connection = "new_connection"  # 新装
    capacity_change = "capacity_change"  # 增容 / 减容
    tariff_change = "tariff_change"  # 用电变更: a different tariff or usage category
    meter_parameter_change = "meter_parameter_change"  # 计量装置参数变化: multiplier, digits
    meter_replacement = "meter_replacement"  # 换表
    meter_fault = "meter_fault"  # 表计故障


_METER_CHANGE_KINDS = frozenset(
    {BusinessChangeKind.meter_replacement, BusinessChangeKind.meter_fault}
)


class Finding(NamedTuple):
    """A rule that fired, with a short English sentence for staff that carries the numbers."""

    rule: ReviewRule
    detail: str


class PeriodFacts(NamedTuple):
    """What the review rules need to know about one account's bill for one period.

    The bill run computes these; the rules only compare. kWh are after the multiplier. A
    comparison value of None means "no such period" and that comparison is skipped.
    """

    customer_kind: str
    account_active: bool
    kwh: Decimal  # billed consumption (vee.meter_consumption's advance)
    amount: Decimal  # the bill's total
    previous_kwh: Decimal | None  # the previous live bill, None when there is none
    previous_amount: Decimal | None
    last_year_kwh: Decimal | None  # the bill covering the same period a year earlier
    last_year_amount: Decimal | None
    reverse: ReverseKind | None  # from vee.meter_consumption
    # abs(total − sum of the TOU registers) in kWh (after the multiplier), as
    # vee.tou_mismatch measures it (the bill run may pass its thresholded result: a gap below
    # the threshold and None both mean "agree"); None for a meter without TOU registers.
    tou_gap: Decimal | None = None
    children_kwh: Decimal | None = None  # sum of child meters' kWh; None when no children
    # The parent meter's own kWh before any child deduction; None means `kwh` is it.
    parent_kwh: Decimal | None = None
    pf_adjustment: Decimal | None = None  # power-factor adjustment amount (力率调整电费)
    previous_pf_adjustment: Decimal | None = None
    has_adjustment_line: bool = False  # a 退补 line on the bill
    adjustment_amount: Decimal | None = None  # its amount, for the detail, when known
    meter_replaced_or_faulty: bool = False  # a vee.Replacement in the period, or a fault
    business_changes: tuple[str, ...] = ()  # business_change.kind values effective in the period
    is_first_bill: bool = False  # no earlier bill on the account: a new connection
    estimated: bool = False  # any reading used by the bill is estimated
    previous_reading: Decimal | None = None  # register readings, for REVERSE_READING's detail
    current_reading: Decimal | None = None


RuleCheck = Callable[[PeriodFacts, "ReviewThresholds"], "Finding | None"]


def due_date_for(*, issued_on: date, terms_days: int) -> date:
    """A bill's due date: its issue day (local) plus the account's payment terms, whatever
    the reading day it bills. A catch-up run that issues October's bills in December gives
    them their full terms from December: no bill is ever issued already overdue."""
    return issued_on + timedelta(days=terms_days)


def is_catch_up(*, run_date: date, issued_on: date) -> bool:
    """A run issuing bills after the reading day it bills (a day missed, run again later)."""
    return issued_on > run_date


@dataclass(frozen=True, slots=True)
class ReviewThresholds:
    """A ReviewPolicy compiled once per bill run into plain values for the per-bill call."""

    enabled: frozenset[ReviewRule]
    swing_percent: Decimal
    swing_min_kwh: Decimal
    swing_min_amount: Decimal
    tou_threshold_kwh: Decimal
    pf_percent: Decimal
    pf_min_amount: Decimal
    rollover_max_factor: Decimal
    rollover_max_kwh_default: Decimal
    change_kinds: frozenset[str]
    checks: tuple[RuleCheck, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The enabled rules' functions, in table order, so the per-bill loop only calls.
        checks = tuple(check for rule, check in RULES.items() if rule in self.enabled)
        object.__setattr__(self, "checks", checks)

    def rollover_max(self, previous_kwh: Decimal | None, multiplier: Decimal = ONE) -> Decimal:
        """The largest register advance (before the multiplier) `register_delta` may take
        as a rollover: `rollover_max_factor` times the previous period's kWh. The no-history
        default is also the floor, so a vacant period (0 kWh) does not turn every rollover
        into an error."""
        limit = self.rollover_max_kwh_default
        if previous_kwh is not None:
            limit = max(limit, previous_kwh * self.rollover_max_factor)
        return limit / multiplier

    @classmethod
    def from_policy(cls, policy: ReviewPolicy) -> ReviewThresholds:
        sections = {
            ReviewRule.USAGE_SWING: policy.usage_swing,
            ReviewRule.CHILD_EXCEEDS_PARENT: policy.child_exceeds_parent,
            ReviewRule.REVERSE_READING: policy.reverse_reading,
            ReviewRule.TOU_MISMATCH: policy.tou_mismatch,
            ReviewRule.PF_ADJUSTMENT_SWING: policy.pf_adjustment_swing,
            ReviewRule.REFUND_OR_REBILL: policy.refund_or_rebill,
            ReviewRule.METER_REPLACED: policy.meter_replaced,
            ReviewRule.FIRST_BILL_AFTER_CHANGE: policy.first_bill_after_change,
            ReviewRule.ZERO_USAGE: policy.zero_usage,
            ReviewRule.ESTIMATED: policy.estimated,
        }
        enabled = frozenset(rule for rule, section in sections.items() if section.enabled)
        return cls(
            enabled=enabled,
            swing_percent=policy.usage_swing.percent,
            swing_min_kwh=policy.usage_swing.min_kwh,
            swing_min_amount=policy.usage_swing.min_amount,
            tou_threshold_kwh=policy.tou_mismatch.threshold_kwh,
            pf_percent=policy.pf_adjustment_swing.percent,
            pf_min_amount=policy.pf_adjustment_swing.min_amount,
            rollover_max_factor=policy.reverse_reading.rollover_max_factor,
            rollover_max_kwh_default=policy.reverse_reading.rollover_max_kwh_default,
            change_kinds=frozenset(
                str(kind) for kind in policy.first_bill_after_change.change_kinds
            ),
        )


def review_findings(facts: PeriodFacts, thresholds: ReviewThresholds) -> list[Finding]:
    """Every enabled rule that fires on this bill, in the order of the review table."""
    findings: list[Finding] = []
    for check in thresholds.checks:
        finding = check(facts, thresholds)
        if finding is not None:
            findings.append(finding)
    return findings


# --- the rules, one function each; review_findings runs those the policy enables ---------


def usage_swing(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """kWh or amount moved more than ±percent against the previous period or the same period
    last year, by at least the absolute floor. A reading error's zero advance is not usage:
    REVERSE_READING already holds that bill."""
    if facts.reverse is ReverseKind.error:
        return None
    percent = thresholds.swing_percent
    min_kwh, min_amount = thresholds.swing_min_kwh, thresholds.swing_min_amount
    parts = []
    for current, base, floor, period, unit in (
        (facts.kwh, facts.previous_kwh, min_kwh, _PREVIOUS, "kWh"),
        (facts.kwh, facts.last_year_kwh, min_kwh, _LAST_YEAR, "kWh"),
        (facts.amount, facts.previous_amount, min_amount, _PREVIOUS, ""),
        (facts.amount, facts.last_year_amount, min_amount, _LAST_YEAR, ""),
    ):
        if base is not None and _swings(current, base, percent, floor):
            parts.append(_swing_text(current, base, period, unit))
    if not parts:
        return None
    detail = "; ".join(parts)
    return _finding(ReviewRule.USAGE_SWING, detail[0].upper() + detail[1:])


def child_exceeds_parent(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """The child meters (子表) together used more than their parent meter (母表)."""
    if facts.children_kwh is None or facts.reverse is ReverseKind.error:
        return None
    parent = facts.kwh if facts.parent_kwh is None else facts.parent_kwh
    if facts.children_kwh <= parent:
        return None
    return _finding(
        ReviewRule.CHILD_EXCEEDS_PARENT,
        f"Child meters total {_kwh(facts.children_kwh)} kWh, more than the parent meter's "
        f"{_kwh(parent)} kWh (by {_kwh(facts.children_kwh - parent)} kWh)",
    )


def reverse_reading(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """A reading below the previous one, whatever the reason, is never billed automatically."""
    if facts.reverse is None:
        return None
    readings = "Reading is below the previous one: "
    if facts.previous_reading is not None and facts.current_reading is not None:
        readings = (
            f"Reading {_kwh(facts.current_reading)} is below the previous "
            f"{_kwh(facts.previous_reading)}: "
        )
    if facts.reverse is ReverseKind.rollover:
        detail = f"{readings}taken as a register rollover, {_kwh(facts.kwh)} kWh; confirm"
    elif facts.reverse is ReverseKind.meter_replaced:
        detail = (
            f"Meter replaced: billed as old final − previous + new current − initial = "
            f"{_kwh(facts.kwh)} kWh; confirm"
        )
    else:
        detail = f"{readings}not a plausible rollover, so nothing was billed; check the reading"
    return _finding(ReviewRule.REVERSE_READING, detail)


def tou_mismatch_rule(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """The total register and the sum of the TOU registers disagree by the threshold or more
    (分时度差); the gap itself comes from vee.tou_mismatch."""
    gap = facts.tou_gap
    if gap is None or gap < thresholds.tou_threshold_kwh:
        return None
    return _finding(
        ReviewRule.TOU_MISMATCH,
        f"Total and TOU registers differ by {_kwh(gap)} kWh "
        f"(limit {_kwh(thresholds.tou_threshold_kwh)} kWh)",
    )


def pf_adjustment_swing(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """Non-residential: the power-factor adjustment moved more than ±percent against the
    previous period, by at least the floor."""
    if facts.customer_kind == CustomerKind.residential:
        return None
    current, base = facts.pf_adjustment, facts.previous_pf_adjustment
    if current is None or base is None:
        return None
    if not _swings(current, base, thresholds.pf_percent, thresholds.pf_min_amount):
        return None
    return _finding(
        ReviewRule.PF_ADJUSTMENT_SWING,
        "Power-factor adjustment " + _swing_text(current, base, _PREVIOUS, ""),
    )


def refund_or_rebill(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """The bill carries an adjustment (退补) line."""
    if not facts.has_adjustment_line:
        return None
    amount = "" if facts.adjustment_amount is None else f" of {_money(facts.adjustment_amount)}"
    return _finding(ReviewRule.REFUND_OR_REBILL, f"The bill carries an adjustment line{amount}")


def correction_findings(
    *, total: Decimal, adjustments: Sequence[Decimal], thresholds: ReviewThresholds
) -> tuple[Finding, ...]:
    """The rules a reviewer's correction is held by: one that adds refund or re-bill (退补)
    lines fires REFUND_OR_REBILL (when the policy has it on), and the re-bill waits for a
    second reviewer instead of being issued."""
    if not adjustments or ReviewRule.REFUND_OR_REBILL not in thresholds.enabled:
        return ()
    facts = PeriodFacts(
        customer_kind="", account_active=True, kwh=ZERO, amount=total, previous_kwh=None,
        previous_amount=None, last_year_kwh=None, last_year_amount=None, reverse=None,
        has_adjustment_line=True, adjustment_amount=sum(adjustments, ZERO),
    )  # fmt: skip
    finding = refund_or_rebill(facts, thresholds)
    return () if finding is None else (finding,)


def four_eyes_refusal(*, raised_by: Iterable[str | None], reviewer: str) -> str | None:
    """Why `reviewer` may not resolve a bill's open items: they raised one of them themselves
    (they corrected the bill into this re-bill). None when they may."""
    if reviewer in set(raised_by):
        return f"{reviewer} prepared this re-bill (退补); a second reviewer must resolve it"
    return None


def meter_replaced(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """The period contains a meter replacement or fault (故障换表): flagged by the bill run or
    recorded as a business change."""
    kinds = [kind for kind in facts.business_changes if kind in _METER_CHANGE_KINDS]
    if not facts.meter_replaced_or_faulty and not kinds:
        return None
    what = ", ".join(kind.replace("_", " ") for kind in kinds) or "meter replacement or fault"
    return _finding(
        ReviewRule.METER_REPLACED,
        f"The period contains a {what}; {_kwh(facts.kwh)} kWh billed",
    )


def first_bill_after_change(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """The first bill after a new connection (no earlier bill) or a business change the policy
    counts (capacity, tariff, meter parameters)."""
    kinds = [kind for kind in facts.business_changes if kind in thresholds.change_kinds]
    if facts.is_first_bill and BusinessChangeKind.new_connection in thresholds.change_kinds:
        kinds.insert(0, BusinessChangeKind.new_connection)
    if not kinds:
        return None
    changes = ", ".join(dict.fromkeys(kind.replace("_", " ") for kind in kinds))
    return _finding(ReviewRule.FIRST_BILL_AFTER_CHANGE, f"First bill after a {changes}")


def zero_usage(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """Zero kWh on an active account (a reading error's zero is REVERSE_READING's)."""
    if not facts.account_active or facts.kwh != ZERO or facts.reverse is ReverseKind.error:
        return None
    return _finding(ReviewRule.ZERO_USAGE, "Zero kWh for the period on an active account")


def estimated(facts: PeriodFacts, thresholds: ReviewThresholds) -> Finding | None:
    """A reading in the period is an estimate (估抄), to be trued up at the next actual one."""
    if not facts.estimated:
        return None
    return _finding(
        ReviewRule.ESTIMATED, f"A reading in the period is estimated; {_kwh(facts.kwh)} kWh billed"
    )


RULES: dict[ReviewRule, RuleCheck] = {
    ReviewRule.USAGE_SWING: usage_swing,
    ReviewRule.CHILD_EXCEEDS_PARENT: child_exceeds_parent,
    ReviewRule.REVERSE_READING: reverse_reading,
    ReviewRule.TOU_MISMATCH: tou_mismatch_rule,
    ReviewRule.PF_ADJUSTMENT_SWING: pf_adjustment_swing,
    ReviewRule.REFUND_OR_REBILL: refund_or_rebill,
    ReviewRule.METER_REPLACED: meter_replaced,
    ReviewRule.FIRST_BILL_AFTER_CHANGE: first_bill_after_change,
    ReviewRule.ZERO_USAGE: zero_usage,
    ReviewRule.ESTIMATED: estimated,
}


# --- helpers -----------------------------------------------------------------------------


def _swings(current: Decimal, base: Decimal, percent: Decimal, floor: Decimal) -> bool:
    # Strictly more than ±percent (超过±30%), and at least the floor, so 2 → 3 kWh is no swing.
    # Multiplied out instead of divided: a base of 0 needs no special case.
    change = abs(current - base)
    return change >= floor and change * HUNDRED > percent * abs(base)


def _swing_text(current: Decimal, base: Decimal, period: str, unit: str) -> str:
    show = _kwh if unit else _money
    suffix = f" {unit}" if unit else ""
    subject = f"{show(current)}{suffix}" if unit else f"amount {show(current)}"
    if base == ZERO:
        return f"{subject} against {show(base)}{suffix} in {period}"
    change = _shown((current - base) * HUNDRED / abs(base), "+.0f")
    return f"{subject} is {change} % on {period} ({show(base)}{suffix})"


def _kwh(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _money(value: Decimal) -> str:
    return _shown(value, ".2f")


def _shown(value: Decimal, spec: str) -> str:
    # Formatting rounds in the context (half-up, like money) and, unlike quantize, never
    # raises on a huge value: a detail must not stop a bill run.
    with localcontext(rounding=ROUND_HALF_UP):
        return format(value, spec)


def _finding(rule: ReviewRule, detail: str) -> Finding:
    if len(detail) > DETAIL_MAX:
        detail = detail[: DETAIL_MAX - 1] + "…"
    return Finding(rule, detail)
