"""The benchmarks' steal meter (bench/machine.py): the stolen share of the machine's
CPU time between two readings of /proc/stat, and the line printed beside the figures."""

from __future__ import annotations

from pathlib import Path

from bench.machine import CpuTimes, cpu_times, describe_steal


def stat_file(tmp_path: Path, name: str, cpu_line: str) -> Path:
    path = tmp_path / name
    path.write_text(f"{cpu_line}\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 12345\n")
    return path


def test_the_steal_share_is_the_stolen_part_of_all_cpu_time_between_two_readings(
    tmp_path: Path,
) -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    before = cpu_times(stat_file(tmp_path, "a", "cpu  1000 0 200 5000 10 0 5 100 300 0"))
    after = cpu_times(stat_file(tmp_path, "b", "cpu  1600 0 300 5210 10 0 5 190 900 0"))
    assert before == CpuTimes(total=6315, steal=100)  # guest time is in user time already
    assert after is not None and before is not None
    assert after.steal_since(before) == 90 / 1000
    line = describe_steal(before, after)
    assert line is not None and line.startswith("CPU steal while measuring: 9.0%: other guests")


def test_little_steal_is_reported_without_a_warning(tmp_path: Path) -> None:
    before = CpuTimes(total=10_000, steal=0)
    after = CpuTimes(total=20_000, steal=100)
    assert describe_steal(before, after) == "CPU steal while measuring: 1.0%"


def test_no_proc_stat_or_no_time_passed_says_nothing(tmp_path: Path) -> None:
    assert cpu_times(tmp_path / "missing") is None
    assert cpu_times(stat_file(tmp_path, "old", "cpu  1 2 3 4")) is None  # no steal column
    assert describe_steal(None, CpuTimes(1, 0)) is None
    assert describe_steal(CpuTimes(5, 1), CpuTimes(5, 1)) is None
