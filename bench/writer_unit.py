"""`wattdesk bench writer-unit`: what a Telegram "my bill" answer costs the SQLite writer, in
this process alone. The unit of work is the one the webhook hands the writer process
(`actions.receive_command` for BILL from a linked chat), run as the writer runs it: several
to a transaction (`GroupCommit.run_batch`), with a passive checkpoint once so many units have
committed (the writer's idle checkpoint). No HTTP, no second process: the figure is this
process's CPU time a unit, which tells two settings or two builds apart where the server
benchmarks swing by ±15 % from one run to the next. The configurations are alternated round
by round and each one's median is printed."""

from __future__ import annotations

import functools
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from billing_core.clock import SystemClock
from billing_core.conversations import actions
from billing_core.conversations.model import Outcome
from billing_core.conversations.service import ConversationContext
from billing_core.db.group_commit import GroupCommit
from billing_core.db.unit_of_work import WRITE
from billing_core.db.writer_process import checkpoint
from bot.inbound import inbound_message


@dataclass(frozen=True)
class Setting:
    batch: int  # units a transaction
    checkpoint_every: int  # units between passive checkpoints (0: SQLite's own only)

    def label(self) -> str:
        every = f"every {self.checkpoint_every}" if self.checkpoint_every else "SQLite's own"
        return f"{self.batch} a transaction, checkpoint {every}"


@dataclass(eq=False)
class _Unit:
    work: Callable[[Session], Any]
    result: Any = None
    error: BaseException | None = None
    settled: bool = False

    def run(self, session: Session) -> Any:
        return self.work(session)


@dataclass(frozen=True)
class Measured:
    setting: Setting
    per_unit: list[float]  # CPU µs a unit, one per round
    paid: int  # answers that carry a pay link
    units: int

    @property
    def median(self) -> float:
        return statistics.median(self.per_unit)


class BillUnits:
    """Fresh "my bill" units round the linked chats, each with its own update id."""

    def __init__(self, context: ConversationContext, users: Sequence[int]) -> None:
        self.context = context
        self.users = list(users)
        self.clock = SystemClock()
        self._ids = itertools.count(time.time_ns() // 1000)
        self._turn = itertools.cycle(self.users)

    def next(self) -> _Unit:
        message = inbound_message(
            update_id=next(self._ids), user_id=next(self._turn), body="BILL", clock=self.clock
        )
        return _Unit(functools.partial(
            actions.receive_command, clock=self.clock, context=self.context, message=message,
        ))  # fmt: skip


def run_units(engine: Engine, units: BillUnits, setting: Setting, count: int) -> tuple[float, int]:
    """`count` units as the setting says; returns CPU µs a unit and how many answers carry a
    pay link. A unit that fails is an error of the benchmark (RuntimeError)."""
    writer = GroupCommit(engine, max_batch=setting.batch, connection_options=WRITE)
    paid = since = done = 0
    started = time.process_time()
    while done < count:
        batch = [units.next() for _ in range(min(setting.batch, count - done))]
        writer.run_batch(batch)
        for unit in batch:
            if unit.error is not None:
                raise RuntimeError(f"a unit of work failed: {unit.error!r}") from unit.error
            outcome: Outcome = unit.result
            paid += outcome.reply is not None and outcome.reply.pay is not None
        done += len(batch)
        since += len(batch)
        if setting.checkpoint_every and since >= setting.checkpoint_every:
            checkpoint(engine)
            since = 0
    return (time.process_time() - started) / count * 1e6, paid


def measure(
    engine: Engine, units: BillUnits, settings: Sequence[Setting], *, count: int, rounds: int
) -> list[Measured]:
    """Each setting `rounds` times, alternated (a warm-up round first, not counted)."""
    for setting in settings:
        run_units(engine, units, setting, max(count // 4, setting.batch))
    per_unit: dict[Setting, list[float]] = {setting: [] for setting in settings}
    paid = dict.fromkeys(settings, 0)
    for _ in range(rounds):
        for setting in settings:
            cpu, with_link = run_units(engine, units, setting, count)
            per_unit[setting].append(cpu)
            paid[setting] += with_link
    return [Measured(s, per_unit[s], paid[s], count * rounds) for s in settings]
