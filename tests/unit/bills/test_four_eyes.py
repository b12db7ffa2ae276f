"""Four-eyes re-billing's pure rules (issue 19, item 3): which corrections are held for a
second reviewer, and who may not resolve them."""

from __future__ import annotations

from decimal import Decimal

from billing_core.bills.model import (
    ReviewRule,
    ReviewThresholds,
    correction_findings,
    four_eyes_refusal,
)
from billing_core.bills.policy import load_review_policy

POLICY = load_review_policy()
THRESHOLDS = ReviewThresholds.from_policy(POLICY)
D = Decimal


def test_a_correction_with_refund_or_rebill_lines_fires_refund_or_rebill() -> None:
    [finding] = correction_findings(
        total=D("100.00"), adjustments=[D("-12.50"), D("30.00")], thresholds=THRESHOLDS
    )
    assert finding.rule == ReviewRule.REFUND_OR_REBILL
    assert finding.detail == "The bill carries an adjustment line of 17.50"


def test_a_correction_without_adjustment_lines_fires_nothing() -> None:
    assert correction_findings(total=D("100.00"), adjustments=[], thresholds=THRESHOLDS) == ()


def test_a_policy_with_the_rule_off_holds_no_correction() -> None:
    off = POLICY.model_copy(
        update={"refund_or_rebill": POLICY.refund_or_rebill.model_copy(update={"enabled": False})}
    )
    thresholds = ReviewThresholds.from_policy(off)
    assert correction_findings(total=D(1), adjustments=[D("-1.00")], thresholds=thresholds) == ()


def test_whoever_raised_an_item_may_not_resolve_it() -> None:
    refusal = four_eyes_refusal(raised_by=[None, "rita"], reviewer="rita")
    assert refusal is not None and "second reviewer" in refusal
    assert four_eyes_refusal(raised_by=[None, "rita"], reviewer="ada") is None
    assert four_eyes_refusal(raised_by=[None], reviewer="rita") is None  # the bill run's items
    assert four_eyes_refusal(raised_by=[], reviewer="rita") is None
