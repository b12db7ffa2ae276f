"""What the machine did while a benchmark measured: the share of CPU time the hypervisor gave
to other guests (steal, from Linux's /proc/stat). On a shared virtual machine it comes and
goes, and a few percent of it stalls a server long enough to show in its p99: a figure
measured under steal is printed with it, so that it is read for what it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
# Worth a word next to the figures: at this share the measured latencies show it.
NOTABLE_STEAL = 0.02


@dataclass(frozen=True)
class CpuTimes:
    """The machine's CPU time so far, in clock ticks: all of it, and the stolen part."""

    total: int
    steal: int

    def steal_since(self, earlier: CpuTimes) -> float | None:
        """The stolen share of the CPU time between `earlier` and this (None: no time)."""
        total = self.total - earlier.total
        return (self.steal - earlier.steal) / total if total > 0 else None


def cpu_times(path: Path = PROC_STAT) -> CpuTimes | None:
    """The machine's CPU times now (None where there is no /proc/stat with a steal column)."""
    try:
        first = path.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if len(first) < 9 or first[0] != "cpu":
        return None
    ticks = [int(value) for value in first[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    # counted in user time already
    return CpuTimes(total=sum(ticks[:8]), steal=ticks[7])


def describe_steal(start: CpuTimes | None, end: CpuTimes | None) -> str | None:
    """A line on the steal between two readings, or None when it cannot be known."""
    if start is None or end is None:
        return None
    share = end.steal_since(start)
    if share is None:
        return None
    note = (
        ": other guests of this virtual machine's host took CPU time, latencies and rates "
        "measured now are worse than the code's"
        if share >= NOTABLE_STEAL
        else ""
    )
    return f"CPU steal while measuring: {share:.1%}{note}"
