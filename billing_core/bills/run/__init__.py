"""The bill run: `plan` (accounts due, parts), `load` (what a part reads), `store` (bills, lines,
ledger, events), `workers` (forked processes) and `service` (`run_bills`, called by the CLI)."""

from billing_core.bills.run.load import load_due_periods
from billing_core.bills.run.plan import plan_parts
from billing_core.bills.run.service import (
    BillRunSummary,
    Progress,
    TariffLookup,
    cycle_collection_paused,
    draft_all,
    run_bills,
)
from billing_core.bills.run.store import PreparedChunk, StoredChunk, prepare_chunk, store_drafts
from billing_core.bills.run.workers import DEFAULT_WORKERS, can_fork, map_in_forks, shutdown_workers

__all__ = [
    "DEFAULT_WORKERS",
    "BillRunSummary",
    "PreparedChunk",
    "Progress",
    "StoredChunk",
    "TariffLookup",
    "can_fork",
    "cycle_collection_paused",
    "draft_all",
    "load_due_periods",
    "map_in_forks",
    "plan_parts",
    "prepare_chunk",
    "run_bills",
    "shutdown_workers",
    "store_drafts",
]
