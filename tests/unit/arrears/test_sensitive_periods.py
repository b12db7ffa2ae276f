"""Sensitive periods that do not run out: the same month-days every year, days around a lunar
festival (its date from the `holidays` package) and fixed dates; the shipped policy still
holds disconnections back in 2031; the ladder and the independent checker agree day by day."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from billing_core.arrears.checker import (
    Disconnection,
    HardRules,
    Rule,
    disconnection_violations,
)
from billing_core.arrears.model import (
    Reason,
    disconnection_blockers,
    next_disconnection_slot,
    sensitive_period_on,
)
from billing_core.arrears.policy import (
    Festival,
    LadderPolicy,
    festival_day,
    load_arrears_policy,
)
from billing_core.calendar import WorkingCalendar

TZ = ZoneInfo("Asia/Shanghai")
POLICY = load_arrears_policy()


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TZ).astimezone(UTC)


def with_periods(*periods: dict[str, Any]) -> LadderPolicy:
    data = POLICY.model_dump(by_alias=True)
    data["sensitive"]["periods"] = list(periods)
    return LadderPolicy.model_validate(data)


def test_festival_days_come_from_the_lunar_calendar() -> None:
    assert festival_day(Festival.spring_festival, 2025) == date(2025, 1, 29)
    assert festival_day(Festival.spring_festival, 2031) == date(2031, 1, 23)
    assert festival_day(Festival.dragon_boat, 2031) == date(2031, 6, 24)
    assert festival_day(Festival.mid_autumn, 2031) == date(2031, 10, 1)


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2031, 1, 13), None),
        (date(2031, 1, 14), "Spring Festival"),  # 9 days before 2031-01-23
        (date(2031, 2, 6), "Spring Festival"),  # 14 days after
        (date(2031, 2, 7), None),
        (date(2031, 6, 4), None),
        (date(2031, 6, 7), "gaokao"),
        (date(2031, 6, 10), "gaokao"),
        (date(2031, 8, 15), "summer heat"),
        (date(2031, 8, 16), None),
        (date(2025, 1, 20), "Spring Festival"),  # as the 2025 dates the policy had before
        (date(2025, 2, 12), "Spring Festival"),
        (date(2025, 2, 13), None),
    ],
)
def test_the_shipped_policy_still_has_its_periods_in_2031(day: date, name: str | None) -> None:
    assert sensitive_period_on(day, POLICY) == name


def test_no_disconnection_is_planned_or_allowed_in_the_gaokao_of_2031() -> None:
    calendar = WorkingCalendar.for_country("CN", [2031])
    monday = date(2031, 6, 9)
    assert monday.weekday() == 0
    assert disconnection_blockers(at(monday), policy=POLICY, calendar=calendar, tz=TZ) == [
        Reason.sensitive_period
    ]
    slot = next_disconnection_slot(at(date(2031, 6, 5), 8), policy=POLICY, calendar=calendar, tz=TZ)
    assert slot is not None and slot.astimezone(TZ).date() == date(2031, 6, 11)


def test_an_every_year_range_may_cross_new_year() -> None:
    policy = with_periods({"name": "winter", "every_year": {"from": "12-20", "to": "01-05"}})
    assert sensitive_period_on(date(2030, 12, 19), policy) is None
    for day in (date(2030, 12, 20), date(2030, 12, 31), date(2031, 1, 1), date(2031, 1, 5)):
        assert sensitive_period_on(day, policy) == "winter"
    assert sensitive_period_on(date(2031, 1, 6), policy) is None


def test_fixed_dates_still_work_once() -> None:
    policy = with_periods({"name": "typhoon", "from": "2031-09-01", "to": "2031-09-03"})
    assert sensitive_period_on(date(2031, 9, 2), policy) == "typhoon"
    assert sensitive_period_on(date(2032, 9, 2), policy) is None


@pytest.mark.parametrize(
    ("period", "words"),
    [
        ({"name": "x"}, "exactly one of"),
        ({"name": "x", "from": "2031-01-01", "to": "2031-01-02", "festival": "mid_autumn"},
         "exactly one of"),
        ({"name": "x", "from": "2031-01-01"}, "from and to are both needed"),
        ({"name": "x", "from": "2031-01-02", "to": "2031-01-01"}, "ends before it starts"),
        ({"name": "x", "every_year": {"from": "02-29", "to": "03-02"}}, "not in every year"),
        ({"name": "x", "every_year": {"from": "13-01", "to": "12-02"}}, "not a month and day"),
        ({"name": "x", "every_year": {"from": "6-5", "to": "06-10"}}, "pattern"),
        ({"name": "x", "every_year": {"from": "06-05", "to": "06-10"}, "days_before": 2},
         "go with festival"),
        ({"name": "x", "festival": "qixi"}, "festival"),
    ],
)  # fmt: skip
def test_a_malformed_period_is_refused_naming_it(period: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        with_periods(period)


def test_the_checker_and_the_ladder_agree_on_every_day_for_a_decade() -> None:
    policy = with_periods(
        {"name": "Spring Festival", "festival": "spring_festival", "days_before": 9,
         "days_after": 14},
        {"name": "Mid-Autumn", "festival": "mid_autumn", "days_before": 1, "days_after": 1},
        {"name": "winter", "every_year": {"from": "12-28", "to": "01-02"}},
        {"name": "gaokao", "every_year": {"from": "06-05", "to": "06-10"}},
        {"name": "one-off", "from": "2029-03-03", "to": "2029-03-04"},
    )  # fmt: skip
    rules = HardRules.from_policy(policy)
    calendar = WorkingCalendar.for_country("CN", range(2025, 2036))
    day, disagreements, sensitive_days = date(2025, 1, 1), [], 0
    while day.year < 2036:
        event = Disconnection(
            at=at(day), customer_kind="residential", sensitive=False, lenient_eligible=False,
            reminders_given=9, formal_notice_at=at(day - timedelta(days=10)),
            final_notice_at=at(day, 9), stopped=False,
        )  # fmt: skip
        broken = Rule.sensitive_period in disconnection_violations(
            event, rules=rules, calendar=calendar, tz=TZ
        )
        in_period = sensitive_period_on(day, policy) is not None
        sensitive_days += in_period
        if broken != in_period:
            disagreements.append(day)
        day += timedelta(days=1)
    assert disagreements == []
    assert sensitive_days > 11 * (24 + 3 + 6 + 6)  # every year has them


def test_period_lookups_leave_the_policy_equal_to_a_fresh_one() -> None:
    policy = load_arrears_policy()
    sensitive_period_on(date(2031, 6, 7), policy)
    assert policy == load_arrears_policy() and hash(policy) == hash(load_arrears_policy())
