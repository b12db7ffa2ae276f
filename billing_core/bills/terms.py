"""Payment terms by customer kind: `policies/payment_terms.yaml` (the days from a bill's issue
to its due date, `bills.model.due_date_for`), and the one rule that picks an account's terms.

An account keeps the terms agreed with it (`account.payment_terms_days`); an account with
none (the column empty, as every account starts) follows the policy's terms for its
customer's kind, so that a change of policy reaches every account that never agreed its own,
with no data to rewrite."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy

DEFAULT_TERMS = 15  # days, for a kind the policy does not name
Days = Annotated[int, Field(ge=0, le=90)]  # the account column's range


class TermsByKind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # one field per `customers.model.CustomerKind`
    residential: Days = DEFAULT_TERMS
    non_residential: Days = DEFAULT_TERMS


class PaymentTermsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    effective_from: date
    days_by_customer_kind: TermsByKind = TermsByKind()

    def terms_days(self, *, account_terms: int | None, customer_kind: str) -> int:
        """The account's own terms, or else the policy's for its kind (`DEFAULT_TERMS` for a
        kind the policy does not name)."""
        if account_terms is not None:
            return account_terms
        by_kind: int | None = getattr(self.days_by_customer_kind, customer_kind, None)
        return DEFAULT_TERMS if by_kind is None else by_kind


DEFAULT_PAYMENT_TERMS = PaymentTermsPolicy(version=1, effective_from=date(2025, 1, 1))


def load_payment_terms_policy(directory: Path = DEFAULT_POLICY_DIR) -> PaymentTermsPolicy:
    return load_policy("payment_terms", PaymentTermsPolicy, directory)
