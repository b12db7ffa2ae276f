"""The scheduler's timetable: `policies/schedule.yaml` (when each timed job runs, how late a
missed run may start, how far back the bill run catches up). Unknown keys are refused."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from billing_core.policies import DEFAULT_POLICY_DIR, load_policy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DailyJob(_Strict):
    """A job run once a day at a local time."""

    at: time
    # a run missed by up to this much (downtime, a busy process) still starts
    misfire_grace_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60


class IntervalJob(_Strict):
    """A job run every few minutes."""

    every_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 1


class Jobs(_Strict):
    bill_notices: IntervalJob = IntervalJob(every_minutes=1)
    due_reminders: DailyJob = DailyJob(at=time(8, 0), misfire_grace_minutes=60)
    late_fees: DailyJob = DailyJob(at=time(0, 30), misfire_grace_minutes=360)
    queue_timeouts: IntervalJob = IntervalJob(every_minutes=1)
    live_retention: DailyJob = DailyJob(at=time(3, 15), misfire_grace_minutes=720)
    bill_run: DailyJob = DailyJob(at=time(22, 0), misfire_grace_minutes=720)
    reading_plans: DailyJob = DailyJob(at=time(0, 10), misfire_grace_minutes=720)


class BillRunSchedule(_Strict):
    # missed days billed after downtime, at most this many days back from today
    catch_up_days: Annotated[int, Field(ge=0, le=31)] = 7


class SchedulePolicy(_Strict):
    version: Annotated[int, Field(ge=1)]
    effective_from: date
    jobs: Jobs = Jobs()
    bill_run: BillRunSchedule = BillRunSchedule()


# The shipped timetable's values, for a scheduler built without the file (tests, tools).
DEFAULT_SCHEDULE = SchedulePolicy(version=1, effective_from=date(2025, 1, 1))


def load_schedule_policy(directory: Path = DEFAULT_POLICY_DIR) -> SchedulePolicy:
    return load_policy("schedule", SchedulePolicy, directory)
