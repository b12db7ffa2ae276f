"""The review policy (电费复核): which rules run, their thresholds and the resolution causes,
loaded from `policies/review.yaml`; `ReviewThresholds.from_policy` compiles it for a bill run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from billing_core.bills.model import BusinessChangeKind
from billing_core.customers.model import Language
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy

Percent = Annotated[Decimal, Field(gt=0, le=1000)]
Floor = Annotated[Decimal, Field(ge=0)]
Positive = Annotated[Decimal, Field(gt=0)]
# Stored in review_item.cause (at most 32 characters).
CauseCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RuleSwitch(BaseModel):
    """A rule's section: on or off; rules with thresholds add their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


class UsageSwingPolicy(RuleSwitch):
    percent: Percent = Decimal(30)
    min_kwh: Floor = Decimal(20)
    min_amount: Floor = Decimal(10)


class ReverseReadingPolicy(RuleSwitch):
    # Used by the bill run to tell a rollover from an error (vee.register_delta), not by the
    # rule itself: every reverse reading is held for review.
    rollover_max_factor: Positive = Decimal(3)
    rollover_max_kwh_default: Positive = Decimal(2000)


class TouMismatchPolicy(RuleSwitch):
    threshold_kwh: Positive = Decimal(3)


class PfAdjustmentSwingPolicy(RuleSwitch):
    percent: Percent = Decimal(30)
    min_amount: Floor = Decimal(10)


class FirstBillAfterChangePolicy(RuleSwitch):
    change_kinds: tuple[BusinessChangeKind, ...] = (
        BusinessChangeKind.new_connection,
        BusinessChangeKind.capacity_change,
        BusinessChangeKind.tariff_change,
        BusinessChangeKind.meter_parameter_change,
    )


class ReviewCause(BaseModel):
    """A cause category a reviewer picks when resolving a review item (原因分析)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: CauseCode
    labels: dict[Language, Label]

    @field_validator("labels")
    @classmethod
    def _every_language(cls, labels: dict[Language, str]) -> dict[Language, str]:
        missing = [language.value for language in Language if language not in labels]
        if missing:
            raise ValueError(f"missing labels for {', '.join(missing)}")
        return labels

    def label(self, language: Language) -> str:
        return self.labels[language]


def _default_causes() -> tuple[ReviewCause, ...]:
    return (ReviewCause(code="other", labels={Language.zh_cn: "其他", Language.en: "Other"}),)


class ReviewPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    usage_swing: UsageSwingPolicy = UsageSwingPolicy()
    child_exceeds_parent: RuleSwitch = RuleSwitch()
    reverse_reading: ReverseReadingPolicy = ReverseReadingPolicy()
    tou_mismatch: TouMismatchPolicy = TouMismatchPolicy()
    pf_adjustment_swing: PfAdjustmentSwingPolicy = PfAdjustmentSwingPolicy()
    refund_or_rebill: RuleSwitch = RuleSwitch()
    meter_replaced: RuleSwitch = RuleSwitch()
    first_bill_after_change: FirstBillAfterChangePolicy = FirstBillAfterChangePolicy()
    zero_usage: RuleSwitch = RuleSwitch()
    estimated: RuleSwitch = RuleSwitch()
    causes: Annotated[tuple[ReviewCause, ...], Field(min_length=1)] = Field(
        default_factory=_default_causes
    )

    @field_validator("causes")
    @classmethod
    def _unique_cause_codes(cls, causes: tuple[ReviewCause, ...]) -> tuple[ReviewCause, ...]:
        codes = [cause.code for cause in causes]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"cause codes repeated: {', '.join(repeated)}")
        return causes

    def cause(self, code: str) -> ReviewCause | None:
        return next((cause for cause in self.causes if cause.code == code), None)


def load_review_policy(directory: Path = DEFAULT_POLICY_DIR) -> ReviewPolicy:
    return load_policy("review", ReviewPolicy, directory)
