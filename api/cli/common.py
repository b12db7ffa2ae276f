"""What every command shares: settings loaded once, the engine, clear errors, exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.clock import Clock, SystemClock
from billing_core.db import create_db_engine, session_scope
from billing_core.db.engine import BATCH_AUTOCHECKPOINT_PAGES
from billing_core.db.unit_of_work import UNIT_RETRY, WRITE
from billing_core.errors import WattdeskError
from billing_core.settings import Settings, SettingsError, load_settings

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2
T = TypeVar("T")


@cache
def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        err_console.print(f"[bold red]wattdesk cannot start[/]: {exc}")
        raise typer.Exit(code=EXIT_USAGE) from None


@cache
def engine() -> Engine:
    """The commands' engine: batch jobs, with a batch job's checkpoints on SQLite."""
    return create_db_engine(
        settings().effective_database_url, sqlite_autocheckpoint=BATCH_AUTOCHECKPOINT_PAGES
    )


def clock() -> Clock:
    return SystemClock()


@contextmanager
def unit_of_work(*, write: bool = True) -> Iterator[Session]:
    """One transaction for one command; a domain error becomes a clear message and exit 2.
    A command that writes waits its turn for SQLite's write lock at the start (the server,
    the scheduler and other commands write to the same file); `write=False` for reports."""
    try:
        with session_scope(engine(), write=write) as session:
            yield session
    except WattdeskError as exc:
        fail(str(exc))


def run_unit(work: Callable[[Session], T], *, write: bool = True) -> T:
    """`work(session)` in one transaction for a command, committed; run again while it fails
    transiently (the one retry loop of billing_core.db.unit_of_work, as the server's units),
    which `unit_of_work()`'s block cannot be. A domain error becomes a clear message and
    exit 2."""
    try:
        return UNIT_RETRY.transaction(engine(), work, WRITE if write else None)
    except WattdeskError as exc:
        fail(str(exc))
        raise AssertionError("unreachable") from exc  # fail() exits


def fail(message: str, code: int = EXIT_USAGE) -> None:
    err_console.print(f"[bold red]error[/]: {message}")
    raise typer.Exit(code=code)
