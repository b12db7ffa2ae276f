"""`price_period`: the consumption of a billing period into bill lines rounded half-up to the
currency's minor unit; the period split by days over versions, seasons and tariff years."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import NoReturn

from billing_core.tariffs.exact import _price_exact
from billing_core.tariffs.fast import _FastPlan
from billing_core.tariffs.model import (
    NO_ATTRIBUTES,
    AccountAttributes,
    Consumption,
    PricedBill,
    Tariff,
    TariffError,
    TariffVersion,
)

# --- billing plans: how a period splits over versions, seasons and tariff years ---------------


@dataclass(frozen=True, slots=True)
class _Segment:
    version: TariffVersion
    season_index: int
    first: date
    last: date
    days: int
    new_tariff_year: bool  # year-to-date consumption starts again at 0 here
    periods_used: tuple[bool, ...]  # TOU periods the schedule uses on these days


@dataclass(frozen=True, slots=True)
class _Plan:
    start: date
    end: date
    days: int
    segments: tuple[_Segment, ...]
    fast: _FastPlan | None


def _tariff_year(version: TariffVersion, day: date) -> int | None:
    if not version.annual_blocks:
        return None
    month, dom = version.year_start
    return day.year if (day.month, day.day) >= (month, dom) else day.year - 1


def _build_plan(tariff: Tariff, start: date, end: date) -> _Plan:
    if end < start:
        raise TariffError([f"period: end {end.isoformat()} is before start {start.isoformat()}"])
    days = (end - start).days + 1
    # Group the days of the period by (version, season, tariff year).
    groups: list[tuple[TariffVersion, int, int | None, date, int]] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        version = tariff.version_on(day)
        season = version.season_of_month[day.month - 1]
        year = _tariff_year(version, day)
        if groups:
            last_version, last_season, last_year, first, count = groups[-1]
            if last_version is version and last_season == season and last_year == year:
                groups[-1] = (last_version, last_season, last_year, first, count + 1)
                continue
        groups.append((version, season, year, day, 1))
    segments = []
    previous_year: int | None = None
    for version, season, year, first, count in groups:
        months = {(first + timedelta(days=offset)).month for offset in range(count)}
        segments.append(
            _Segment(
                version=version,
                season_index=season,
                first=first,
                last=first + timedelta(days=count - 1),
                days=count,
                new_tariff_year=(
                    year is not None and previous_year is not None and year != previous_year
                ),
                periods_used=version.periods_used_in(months),
            )
        )
        previous_year = year
    fast = _FastPlan.build(tariff, segments[0], days) if len(segments) == 1 else None
    return _Plan(start=start, end=end, days=days, segments=tuple(segments), fast=fast)


def _plan_for(tariff: Tariff, start: date, end: date) -> _Plan:
    plans = tariff._plans
    plan = plans.get((start, end))
    if plan is None:
        if len(plans) > 4096:  # bounded: a bill run has a handful of distinct periods
            plans.clear()
        plan = plans[(start, end)] = _build_plan(tariff, start, end)
    return plan


# --- the entry point -------------------------------------------------------------------------


def _refuse_kind(tariff: Tariff, account: AccountAttributes) -> NoReturn:
    kinds = ", ".join(tariff.customer_kinds)
    raise TariffError(
        [f"account: {tariff.code} is for {kinds} customers, not {account.customer_kind}"]
    )


def price_period(
    tariff: Tariff,
    *,
    start: date,
    end: date,
    consumption: Consumption,
    account: AccountAttributes = NO_ATTRIBUTES,
) -> PricedBill:
    """Price the consumption of the billing period `start`..`end` (both days included).

    A period that straddles tariff versions, seasons or tariff years is split by days: each
    part gets its share of the kWh (or the intervals that fall in it), of the monthly block
    limits and of the monthly charges."""
    if account.customer_kind not in tariff.customer_kinds:
        _refuse_kind(tariff, account)
    plan = _plan_for(tariff, start, end)
    fast = plan.fast
    if fast is not None and not consumption.intervals:
        return fast.price(fast, consumption, account)
    return _price_exact(tariff, plan, consumption, account)


def price_period_exact(
    tariff: Tariff,
    *,
    start: date,
    end: date,
    consumption: Consumption,
    account: AccountAttributes = NO_ATTRIBUTES,
) -> PricedBill:
    """The reference: the same bill computed with exact fractions throughout, never the fast
    path. Tests hold `price_period` to it."""
    if account.customer_kind not in tariff.customer_kinds:
        _refuse_kind(tariff, account)
    return _price_exact(tariff, _plan_for(tariff, start, end), consumption, account)
