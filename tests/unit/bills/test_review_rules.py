"""The bill review rules (电费复核) and their policy file: each rule fires when it should and
stays quiet when it should not."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_core.bills.model import (
    DETAIL_MAX,
    BusinessChangeKind,
    Finding,
    PeriodFacts,
    ReviewRule,
    ReviewThresholds,
    review_findings,
)
from billing_core.bills.policy import (
    ReviewPolicy,
    UsageSwingPolicy,
    load_review_policy,
)
from billing_core.customers.model import CustomerKind, Language
from billing_core.policies import DEFAULT_POLICY_DIR, PolicyError, parse_policy
from billing_core.readings.vee import ReverseKind, meter_consumption

D = Decimal
HEADER = {"version": 1, "effective_from": "2025-01-01"}
DEFAULTS = ReviewThresholds.from_policy(ReviewPolicy(version=1, effective_from=date(2025, 1, 1)))


def facts(**changes: Any) -> PeriodFacts:
    """An unremarkable residential bill (no rule fires), with `changes` applied."""
    values: dict[str, Any] = {
        "customer_kind": CustomerKind.residential,
        "account_active": True,
        "kwh": D(250),
        "amount": D("140.00"),
        "previous_kwh": D(245),
        "previous_amount": D("137.20"),
        "last_year_kwh": D(260),
        "last_year_amount": D("145.60"),
        "reverse": None,
    }
    return PeriodFacts(**(values | changes))


def fired(facts: PeriodFacts, thresholds: ReviewThresholds = DEFAULTS) -> dict[str, str]:
    return {finding.rule: finding.detail for finding in review_findings(facts, thresholds)}


def thresholds(**sections: Any) -> ReviewThresholds:
    return ReviewThresholds.from_policy(parse_policy(HEADER | sections, ReviewPolicy))


def test_an_ordinary_bill_fires_no_rule() -> None:
    assert review_findings(facts(), DEFAULTS) == []


# --- USAGE_SWING ---------------------------------------------------------------------------


def test_usage_up_more_than_30_percent_on_the_previous_period_is_a_swing() -> None:
    found = fired(facts(kwh=D(412), previous_kwh=D(245), last_year_kwh=None))

    assert found[ReviewRule.USAGE_SWING].startswith(
        "412 kWh is +68 % on the previous period (245 kWh)"
    )


def test_usage_down_more_than_30_percent_is_a_swing() -> None:
    found = fired(facts(kwh=D(100), previous_kwh=D(300), last_year_kwh=None))

    assert "100 kWh is -67 % on the previous period (300 kWh)" in found[ReviewRule.USAGE_SWING]


def test_usage_within_30_percent_of_both_periods_is_not_a_swing() -> None:
    assert ReviewRule.USAGE_SWING not in fired(facts(kwh=D(300), amount=D("150.00")))


def test_exactly_30_percent_is_not_a_swing() -> None:
    found = fired(facts(kwh=D(260), previous_kwh=D(200), last_year_kwh=None))

    assert ReviewRule.USAGE_SWING not in found


def test_small_absolute_change_does_not_count_as_a_swing() -> None:
    small = facts(
        kwh=D(3),
        amount=D("1.68"),
        previous_kwh=D(2),
        previous_amount=D("1.12"),
        last_year_kwh=D(2),
        last_year_amount=D("1.12"),
    )

    assert ReviewRule.USAGE_SWING not in fired(small)


def test_small_absolute_change_in_amount_does_not_count_as_a_swing() -> None:
    # +80 % but 4.00 below the 10.00 floor; kWh steady
    found = fired(
        facts(
            kwh=D(10),
            previous_kwh=D(10),
            last_year_kwh=None,
            amount=D("9.00"),
            previous_amount=D("5.00"),
            last_year_amount=None,
        )
    )

    assert ReviewRule.USAGE_SWING not in found


def test_amount_swing_fires_while_kwh_is_steady() -> None:
    found = fired(facts(amount=D("230.00"), previous_amount=D("135.00"), last_year_amount=None))

    assert found[ReviewRule.USAGE_SWING] == (
        "Amount 230.00 is +70 % on the previous period (135.00)"
    )


def test_swing_against_the_same_period_last_year_fires_when_last_month_was_similar() -> None:
    winter = facts(kwh=D(600), previous_kwh=D(560), last_year_kwh=D(400), amount=D("140.00"))

    assert fired(winter)[ReviewRule.USAGE_SWING] == (
        "600 kWh is +50 % on the same period last year (400 kWh)"
    )


def test_missing_comparison_periods_are_not_compared() -> None:
    first_months = facts(
        kwh=D(900),
        previous_kwh=None,
        previous_amount=None,
        last_year_kwh=None,
        last_year_amount=None,
    )

    assert ReviewRule.USAGE_SWING not in fired(first_months)


def test_usage_from_zero_above_the_floor_is_a_swing() -> None:
    found = fired(facts(kwh=D(50), previous_kwh=D(0), last_year_kwh=None))

    assert found[ReviewRule.USAGE_SWING] == "50 kWh against 0 kWh in the previous period"


def test_every_comparison_that_swings_is_named_in_the_detail() -> None:
    detail = fired(
        facts(
            kwh=D(500),
            amount=D("280.00"),
            previous_kwh=D(250),
            previous_amount=D("140.00"),
            last_year_kwh=D(200),
            last_year_amount=D("112.00"),
        )
    )[ReviewRule.USAGE_SWING]

    assert detail.count(";") == 3
    assert len(detail) <= DETAIL_MAX


def test_reading_error_is_not_also_a_usage_swing() -> None:
    error = facts(kwh=D(0), amount=D("5.00"), reverse=ReverseKind.error)

    assert set(fired(error)) == {ReviewRule.REVERSE_READING}


# --- CHILD_EXCEEDS_PARENT ------------------------------------------------------------------


def test_children_using_more_than_the_parent_meter_fire() -> None:
    found = fired(facts(kwh=D(1000), children_kwh=D("1012.5")))

    assert found[ReviewRule.CHILD_EXCEEDS_PARENT] == (
        "Child meters total 1012.5 kWh, more than the parent meter's 1000 kWh (by 12.5 kWh)"
    )


def test_children_using_no_more_than_the_parent_meter_do_not_fire() -> None:
    assert ReviewRule.CHILD_EXCEEDS_PARENT not in fired(facts(kwh=D(250), children_kwh=D(250)))
    assert ReviewRule.CHILD_EXCEEDS_PARENT not in fired(facts(children_kwh=None))


def test_children_are_compared_with_the_parent_meter_before_any_deduction() -> None:
    # billed 50 kWh after deducting children; the parent meter itself read 250
    deducted = facts(
        kwh=D(50),
        previous_kwh=D(50),
        last_year_kwh=D(50),
        amount=D("28.00"),
        previous_amount=D("28.00"),
        last_year_amount=D("28.00"),
        parent_kwh=D(250),
        children_kwh=D(200),
    )

    assert fired(deducted) == {}


# --- REVERSE_READING -----------------------------------------------------------------------


def test_rollover_is_held_for_review_and_says_so() -> None:
    delta = meter_consumption(
        D(999_870), D(120), multiplier=D(1), digits=6, rollover_max=DEFAULTS.rollover_max(D(245))
    )
    rollover = facts(
        kwh=delta.advance,
        reverse=delta.reverse,
        previous_reading=D(999_870),
        current_reading=D(120),
    )

    assert fired(rollover)[ReviewRule.REVERSE_READING] == (
        "Reading 120 is below the previous 999870: taken as a register rollover, 250 kWh; confirm"
    )


def test_reading_error_is_held_for_review_and_says_nothing_was_billed() -> None:
    detail = fired(facts(kwh=D(0), reverse=ReverseKind.error))[ReviewRule.REVERSE_READING]

    assert detail == (
        "Reading is below the previous one: not a plausible rollover, so nothing was billed; "
        "check the reading"
    )


def test_meter_replacement_is_held_for_review_and_says_how_it_was_billed() -> None:
    detail = fired(facts(reverse=ReverseKind.meter_replaced))[ReviewRule.REVERSE_READING]

    assert detail.startswith("Meter replaced: billed as old final − previous")
    assert "250 kWh" in detail


def test_forward_reading_is_not_a_reverse_reading() -> None:
    assert ReviewRule.REVERSE_READING not in fired(facts(reverse=None))


# --- TOU_MISMATCH --------------------------------------------------------------------------


def test_tou_gap_of_exactly_three_kwh_fires() -> None:
    found = fired(facts(tou_gap=D(3)))

    assert found[ReviewRule.TOU_MISMATCH] == "Total and TOU registers differ by 3 kWh (limit 3 kWh)"


def test_tou_gap_just_under_three_kwh_does_not_fire() -> None:
    assert ReviewRule.TOU_MISMATCH not in fired(facts(tou_gap=D("2.999")))


def test_meter_without_tou_registers_is_not_compared() -> None:
    assert ReviewRule.TOU_MISMATCH not in fired(facts(tou_gap=None))


def test_tou_threshold_comes_from_the_policy() -> None:
    strict = thresholds(tou_mismatch={"threshold_kwh": 1})

    assert ReviewRule.TOU_MISMATCH in fired(facts(tou_gap=D(2)), strict)


# --- PF_ADJUSTMENT_SWING -------------------------------------------------------------------


def business(**changes: Any) -> PeriodFacts:
    return facts(customer_kind=CustomerKind.non_residential, **changes)


def test_power_factor_adjustment_up_more_than_30_percent_fires() -> None:
    found = fired(business(pf_adjustment=D("140.00"), previous_pf_adjustment=D("100.00")))

    assert found[ReviewRule.PF_ADJUSTMENT_SWING] == (
        "Power-factor adjustment amount 140.00 is +40 % on the previous period (100.00)"
    )


def test_power_factor_credit_turning_into_a_charge_fires() -> None:
    found = fired(business(pf_adjustment=D("30.00"), previous_pf_adjustment=D("-20.00")))

    assert ReviewRule.PF_ADJUSTMENT_SWING in found


def test_power_factor_adjustment_within_30_percent_does_not_fire() -> None:
    found = fired(business(pf_adjustment=D("120.00"), previous_pf_adjustment=D("100.00")))

    assert ReviewRule.PF_ADJUSTMENT_SWING not in found


def test_small_power_factor_adjustment_change_does_not_fire() -> None:
    found = fired(business(pf_adjustment=D("15.00"), previous_pf_adjustment=D("10.00")))

    assert ReviewRule.PF_ADJUSTMENT_SWING not in found


def test_power_factor_adjustment_without_a_previous_one_is_not_compared() -> None:
    found = fired(business(pf_adjustment=D("300.00"), previous_pf_adjustment=None))

    assert ReviewRule.PF_ADJUSTMENT_SWING not in found


def test_power_factor_rule_does_not_apply_to_residential_accounts() -> None:
    found = fired(facts(pf_adjustment=D("300.00"), previous_pf_adjustment=D("100.00")))

    assert ReviewRule.PF_ADJUSTMENT_SWING not in found


# --- REFUND_OR_REBILL, METER_REPLACED, FIRST_BILL_AFTER_CHANGE -----------------------------


def test_bill_with_an_adjustment_line_fires() -> None:
    found = fired(facts(has_adjustment_line=True, adjustment_amount=D("-35.2")))

    assert found[ReviewRule.REFUND_OR_REBILL] == "The bill carries an adjustment line of -35.20"


def test_bill_without_an_adjustment_line_does_not_fire() -> None:
    assert ReviewRule.REFUND_OR_REBILL not in fired(facts(has_adjustment_line=False))


def test_meter_replaced_in_the_period_fires() -> None:
    assert ReviewRule.METER_REPLACED in fired(facts(meter_replaced_or_faulty=True))


def test_meter_fault_recorded_as_a_business_change_fires() -> None:
    found = fired(facts(business_changes=(BusinessChangeKind.meter_fault,)))

    assert found[ReviewRule.METER_REPLACED] == "The period contains a meter fault; 250 kWh billed"
    assert ReviewRule.FIRST_BILL_AFTER_CHANGE not in found


def test_period_without_a_meter_change_does_not_fire() -> None:
    assert ReviewRule.METER_REPLACED not in fired(facts(business_changes=("tariff_change",)))


def test_first_bill_on_a_new_connection_fires() -> None:
    found = fired(facts(is_first_bill=True, previous_kwh=None, previous_amount=None))

    assert found[ReviewRule.FIRST_BILL_AFTER_CHANGE] == "First bill after a new connection"


@pytest.mark.parametrize(
    "kind", ["capacity_change", "tariff_change", "meter_parameter_change", "new_connection"]
)
def test_first_bill_after_a_business_change_fires(kind: str) -> None:
    assert ReviewRule.FIRST_BILL_AFTER_CHANGE in fired(facts(business_changes=(kind,)))


def test_bill_after_no_business_change_does_not_fire() -> None:
    assert ReviewRule.FIRST_BILL_AFTER_CHANGE not in fired(facts(business_changes=()))


def test_change_kinds_the_policy_leaves_out_do_not_count() -> None:
    only_tariffs = thresholds(first_bill_after_change={"change_kinds": ["tariff_change"]})
    bill = facts(is_first_bill=True, business_changes=("capacity_change",))

    assert ReviewRule.FIRST_BILL_AFTER_CHANGE not in fired(bill, only_tariffs)


# --- ZERO_USAGE, ESTIMATED -----------------------------------------------------------------


def test_zero_usage_on_an_active_account_fires() -> None:
    assert ReviewRule.ZERO_USAGE in fired(facts(kwh=D("0.000")))


def test_zero_usage_on_an_inactive_account_does_not_fire() -> None:
    assert ReviewRule.ZERO_USAGE not in fired(facts(kwh=D(0), account_active=False))


def test_some_usage_does_not_fire_zero_usage() -> None:
    assert ReviewRule.ZERO_USAGE not in fired(facts(kwh=D("0.1")))


def test_estimated_reading_fires() -> None:
    assert fired(facts(estimated=True))[ReviewRule.ESTIMATED] == (
        "A reading in the period is estimated; 250 kWh billed"
    )


def test_actual_readings_do_not_fire_estimated() -> None:
    assert ReviewRule.ESTIMATED not in fired(facts(estimated=False))


# --- all rules, disabling, details ---------------------------------------------------------

EVERYTHING_WRONG = facts(
    customer_kind=CustomerKind.non_residential,
    kwh=D(0),
    previous_kwh=D(300),
    reverse=ReverseKind.rollover,
    tou_gap=D(5),
    children_kwh=D(10),
    pf_adjustment=D(200),
    previous_pf_adjustment=D(100),
    has_adjustment_line=True,
    meter_replaced_or_faulty=True,
    is_first_bill=True,
    estimated=True,
)


def test_every_rule_fires_on_a_bill_with_everything_wrong_in_table_order() -> None:
    findings = review_findings(EVERYTHING_WRONG, DEFAULTS)

    assert [finding.rule for finding in findings] == list(ReviewRule)


@pytest.mark.parametrize("rule", list(ReviewRule))
def test_a_disabled_rule_never_fires(rule: ReviewRule) -> None:
    without = thresholds(**{rule.lower(): {"enabled": False}})

    assert set(fired(EVERYTHING_WRONG, without)) == set(ReviewRule) - {rule}


def test_rule_codes_are_their_names_and_fit_the_review_item_column() -> None:
    assert all(rule.value == rule.name and len(rule) <= 32 for rule in ReviewRule)


def test_a_long_detail_is_cut_to_fit() -> None:
    huge = D(10) ** 150
    detail = fired(facts(children_kwh=huge * 3, kwh=huge))[ReviewRule.CHILD_EXCEEDS_PARENT]

    assert len(detail) == DETAIL_MAX
    assert detail.endswith("…")


def test_findings_are_plain_values() -> None:
    finding = Finding(ReviewRule.ESTIMATED, "x")

    assert finding == Finding(ReviewRule.ESTIMATED, "x")
    with pytest.raises(AttributeError):
        finding.detail = "y"  # type: ignore[misc]


# --- USAGE_SWING properties ----------------------------------------------------------------

EPS = D("0.01")
percents = st.integers(min_value=5, max_value=90).map(Decimal)
# Bases large enough that a (percent + ε) change clears the 20 kWh floor for any percent ≥ 5.
bases = st.decimals(min_value=400, max_value=10**6, places=3)
present = st.sampled_from(["previous", "last_year", "both"])


def _swing_facts(base: Decimal, kwh: Decimal, which: str, *, amounts: bool) -> PeriodFacts:
    """kWh against `base` in the periods named by `which`; with `amounts`, the amount moves
    the same way (same numbers), otherwise amounts are not compared."""
    previous = base if which in ("previous", "both") else None
    last_year = base if which in ("last_year", "both") else None
    return facts(
        kwh=kwh,
        previous_kwh=previous,
        last_year_kwh=last_year,
        amount=kwh if amounts else D(0),
        previous_amount=previous if amounts else None,
        last_year_amount=last_year if amounts else None,
    )


def _with_percent(percent: Decimal) -> ReviewThresholds:
    policy = ReviewPolicy(
        version=1, effective_from=date(2025, 1, 1), usage_swing=UsageSwingPolicy(percent=percent)
    )
    return ReviewThresholds.from_policy(policy)


@given(percent=percents, base=bases, which=present, data=st.data())
def test_scaling_usage_within_the_percent_of_both_periods_never_swings(
    percent: Decimal, base: Decimal, which: str, data: st.DataObject
) -> None:
    change = data.draw(st.decimals(min_value=-(percent - EPS), max_value=percent - EPS, places=2))
    kwh = base * (1 + change / 100)

    found = fired(_swing_facts(base, kwh, which, amounts=True), _with_percent(percent))

    assert ReviewRule.USAGE_SWING not in found


@given(percent=percents, base=bases, which=present, data=st.data())
def test_scaling_usage_beyond_the_percent_above_the_floor_always_swings(
    percent: Decimal, base: Decimal, which: str, data: st.DataObject
) -> None:
    change = data.draw(
        st.decimals(min_value=percent + EPS, max_value=500, places=2)
        | st.decimals(min_value=-100, max_value=-(percent + EPS), places=2)
    )
    kwh = base * (1 + change / 100)

    found = fired(_swing_facts(base, kwh, which, amounts=False), _with_percent(percent))

    assert ReviewRule.USAGE_SWING in found


# --- the policy file -----------------------------------------------------------------------


def test_shipped_review_policy_loads_with_the_domain_defaults() -> None:
    policy = load_review_policy(DEFAULT_POLICY_DIR)

    assert policy.version >= 1
    assert policy.usage_swing.percent == 30
    assert policy.usage_swing.min_kwh == 20
    assert policy.tou_mismatch.threshold_kwh == 3
    assert policy.pf_adjustment_swing.percent == 30
    assert set(policy.first_bill_after_change.change_kinds) == {
        "new_connection",
        "capacity_change",
        "tariff_change",
        "meter_parameter_change",
    }
    assert ReviewThresholds.from_policy(policy).enabled == set(ReviewRule)


def test_shipped_causes_have_both_labels_and_fit_the_review_item_column() -> None:
    policy = load_review_policy(DEFAULT_POLICY_DIR)
    codes = [cause.code for cause in policy.causes]

    assert {"meter_misread", "genuine_usage_change", "other"} <= set(codes)
    assert all(len(code) <= 32 for code in codes)
    misread = policy.cause("meter_misread")
    assert misread is not None
    assert misread.label(Language.zh_cn) == "抄表差错"
    assert misread.label(Language.en) == "Meter misread"


@pytest.mark.parametrize(
    ("sections", "path"),
    [
        ({"usage_swing": {"percent": -5}}, "usage_swing.percent"),
        ({"usage_swing": {"percnt": 5}}, "usage_swing.percnt"),
        ({"tou_mismatch": {"threshold_kwh": 0}}, "tou_mismatch.threshold_kwh"),
        (
            {"reverse_reading": {"rollover_max_factor": "lots"}},
            "reverse_reading.rollover_max_factor",
        ),
        ({"first_bill_after_change": {"change_kinds": ["new_conection"]}}, "change_kinds.0"),
        ({"zero_usage": {"enabled": "sometimes"}}, "zero_usage.enabled"),
        ({"causes": [{"code": "other", "labels": {"en": "Other"}}]}, "causes.0.labels"),
        ({"causes": [{"code": "Bad Code", "labels": {"en": "x", "zh-CN": "x"}}]}, "causes.0.code"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_malformed_policy_is_refused_naming_the_field(sections: dict[str, Any], path: str) -> None:
    with pytest.raises(PolicyError, match=path.replace(".", r"\.")):
        parse_policy(HEADER | sections, ReviewPolicy, source="review.yaml")


def test_repeated_cause_codes_are_refused() -> None:
    cause = {"code": "other", "labels": {"en": "Other", "zh-CN": "其他"}}

    with pytest.raises(PolicyError, match="cause codes repeated: other"):
        parse_policy(HEADER | {"causes": [cause, cause]}, ReviewPolicy)


def test_policy_without_a_version_is_refused() -> None:
    with pytest.raises(PolicyError, match="version"):
        parse_policy({"effective_from": "2025-01-01"}, ReviewPolicy)


def test_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="missing"):
        load_review_policy(tmp_path)


# --- rollover limits for the bill run ------------------------------------------------------


def test_rollover_limit_is_a_few_times_the_previous_period() -> None:
    assert DEFAULTS.rollover_max(D(1000)) == D(3000)


def test_rollover_limit_without_history_is_the_default() -> None:
    assert DEFAULTS.rollover_max(None) == D(2000)


def test_rollover_limit_never_falls_below_the_default_after_a_vacant_period() -> None:
    assert DEFAULTS.rollover_max(D(0)) == D(2000)


def test_rollover_limit_is_in_register_units_before_the_multiplier() -> None:
    assert DEFAULTS.rollover_max(D(40_000), multiplier=D(40)) == D(3000)


def test_thresholds_are_immutable_plain_values() -> None:
    with pytest.raises(AttributeError):
        DEFAULTS.swing_percent = D(1)  # type: ignore[misc]
    assert replace(DEFAULTS, swing_percent=D(50)).checks == DEFAULTS.checks
