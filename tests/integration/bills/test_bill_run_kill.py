"""kill -9 a bill run mid-way, run it again: the result equals an uninterrupted run's (no
duplicate, no missing bill, totals equal), on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from billing_core.bills.run import run_bills
from billing_core.bills.tables import Bill
from billing_core.db.columns import table_of
from tests.integration.bills.helpers import (
    CLOCK,
    TARIFFS,
    THRESHOLDS,
    TZ,
    bills_snapshot,
    busiest_reading_date,
    seeded_twins,
)

CUSTOMERS = 1200


@pytest.fixture
def twins(db_kind: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """Two databases of the same kind seeded identically: one to crash, one to run cleanly."""
    with seeded_twins(db_kind, tmp_path, CUSTOMERS) as pair:
        yield pair


def child(
    engine: Engine, day: str, kill_after: int, chunk_size: int, workers: int = 1
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.bills.crash_run",
            engine.url.render_as_string(hide_password=False),
            day,
            str(kill_after),
            str(chunk_size),
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the workers die with it
    )


def stored_bills(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table_of(Bill))).scalar_one()


def rerun_and_compare(crashed: Engine, clean: Engine, day_iso: str) -> None:
    from datetime import date

    day = date.fromisoformat(day_iso)
    partial = stored_bills(crashed)
    resumed = run_bills(
        engine=crashed, clock=CLOCK, run_date=day, tz=TZ, tariffs=TARIFFS, thresholds=THRESHOLDS
    )
    reference = run_bills(
        engine=clean, clock=CLOCK, run_date=day, tz=TZ, tariffs=TARIFFS, thresholds=THRESHOLDS
    )
    assert resumed.already_billed == partial
    assert resumed.issued + resumed.in_review > 0  # the kill really came before the end
    assert resumed.issued + resumed.in_review + partial == reference.issued + reference.in_review
    assert bills_snapshot(crashed) == bills_snapshot(clean)


def test_sigkill_after_some_chunks_then_rerun_equals_a_clean_run(
    twins: tuple[Engine, Engine],
) -> None:
    crashed, clean = twins
    day = busiest_reading_date(crashed).isoformat()
    process = child(crashed, day, kill_after=150, chunk_size=50)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == -signal.SIGKILL, output
    assert 150 <= stored_bills(crashed) < 400  # killed mid-run, three chunks stored
    rerun_and_compare(crashed, clean, day)


def test_sigkill_at_an_arbitrary_moment_then_rerun_equals_a_clean_run(
    twins: tuple[Engine, Engine],
) -> None:
    crashed, clean = twins
    day = busiest_reading_date(crashed).isoformat()
    process = child(crashed, day, kill_after=0, chunk_size=7)
    assert process.stdout is not None
    process.stdout.readline()  # the first chunk is committed: the run is under way
    time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    rerun_and_compare(crashed, clean, day)


def test_sigkill_of_a_run_in_two_workers_then_rerun_equals_a_clean_run(
    twins: tuple[Engine, Engine],
) -> None:
    crashed, clean = twins
    day = busiest_reading_date(crashed).isoformat()
    process = child(crashed, day, kill_after=0, chunk_size=2, workers=2)
    deadline = time.monotonic() + 60
    while stored_bills(crashed) < 20:  # both workers are under way
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)  # the parent and its workers, mid-chunk
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    rerun_and_compare(crashed, clean, day)
