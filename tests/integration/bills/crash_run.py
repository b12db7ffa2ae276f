"""Run a bill run in a child process, and kill it with SIGKILL after a number of committed
chunks (or let the parent kill it from outside, as it must a run in worker processes: the
fifth argument, default 1). Used by test_bill_run_kill."""

from __future__ import annotations

import os
import signal
import sys
from datetime import date

from billing_core.bills.run import run_bills
from billing_core.db import create_db_engine
from tests.integration.bills.helpers import CLOCK, TARIFFS, THRESHOLDS, TZ


def main() -> None:
    url, day, kill_after, chunk_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 1

    def after_chunk(stored: int) -> None:
        print(f"stored {stored}", flush=True)
        if kill_after and stored >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    run_bills(
        engine=create_db_engine(url),
        clock=CLOCK,
        run_date=date.fromisoformat(day),
        tz=TZ,
        tariffs=TARIFFS,
        thresholds=THRESHOLDS,
        chunk_size=chunk_size,
        workers=workers,
        after_chunk=after_chunk if workers == 1 else None,
    )


if __name__ == "__main__":
    main()
