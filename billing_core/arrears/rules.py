"""What the arrears services need besides the session and the clock, built once at start: the
ladder policy (`policies/arrears.yaml`), the collections policy (`policies/collections.yaml`:
instalments, the daily job's time), the working calendar and the time zone."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from billing_core.arrears.model import DailyForecast
from billing_core.arrears.policy import LadderPolicy, load_arrears_policy
from billing_core.calendar import WorkingCalendar
from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class CollectionsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1)]
    daily_run_at: time = time(7, 30)
    max_instalments: Annotated[int, Field(ge=1, le=60)] = 12
    max_arrangement_days: Annotated[int, Field(ge=1, le=1095)] = 365
    instalment_grace_days: Annotated[int, Field(ge=0, le=30)] = 3
    # A customer's request for an arrangement that staff have neither agreed nor declined
    # this many days after it was made becomes a call task, and the ladder resumes.
    requested_arrangement_timeout_days: Annotated[int, Field(ge=1, le=60)] = 5


def load_collections_policy(directory: Path = DEFAULT_POLICY_DIR) -> CollectionsPolicy:
    return load_policy("collections", CollectionsPolicy, directory)


@dataclass(frozen=True)
class ArrearsRules:
    """The ladder's policy, the collections policy, the region's calendar (built for the
    years asked, a few around each, and kept) and the utility's time zone."""

    ladder: LadderPolicy
    collections: CollectionsPolicy
    country: str
    tz: ZoneInfo
    forecast: Mapping[date, DailyForecast] = field(default_factory=dict)

    def calendar(self, now: datetime) -> WorkingCalendar:
        """A calendar covering the year of `now` (local), the one before and the two after
        (the ladder looks up to `disconnection.search_days` ahead)."""
        return _calendar(self.country, now.astimezone(self.tz).year)


# Kept per process, not on the rules: units of work travel pickled to the SQLite writer
# process with the conversation context that holds the rules, and a lock or a calendar would
# go with every unit (a lock cannot: every webhook failed with "cannot pickle '_thread.lock'").
@functools.lru_cache(maxsize=16)
def _calendar(country: str, year: int) -> WorkingCalendar:
    return WorkingCalendar.for_country(country, range(year - 1, year + 3))


def load_arrears_rules(directory: Path, *, country: str, tz: ZoneInfo) -> ArrearsRules:
    return ArrearsRules(
        ladder=load_arrears_policy(directory),
        collections=load_collections_policy(directory),
        country=country,
        tz=tz,
    )
