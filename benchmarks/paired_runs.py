"""Runs timed against a baseline on a machine that may be shared: each repeat runs every run once,
in an order rotated by one per repeat, and each run's ratio is taken against the baseline of the
same repeat (paired), in wall time and in this process's CPU time (all its threads), which
others' load disturbs less. Used by edit_cpu.py and edit_v2_cpu.py."""

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Timings:
    wall: dict[str, list[float]]  # seconds per repeat, by run name (in the runs' order)
    cpu: dict[str, list[float]]
    loads: list[float]  # the 1-minute load average before the first repeat and after each
    folders: dict[str, Path]  # where each run wrote in the first repeat

    def rows(self, baseline: str, items: int, label_width: int) -> list[str]:
        """Per run: items/s, median wall and CPU ratio to the baseline, and the wall ratios' range."""
        lines = []
        for name, times in self.wall.items():
            walls = [b / t for b, t in zip(self.wall[baseline], times, strict=True)]
            work = statistics.median(b / t for b, t in zip(self.cpu[baseline], self.cpu[name], strict=True))
            lines.append(f"{name:{label_width}s} {items / statistics.median(times):9.2f} "
                         f"{statistics.median(walls):7.2f} {work:6.2f}  ({min(walls):.2f}-{max(walls):.2f})")
        return lines


def rotating_runs(runs: dict[str, Callable[[Path], None]], repeats: int, work: Path) -> Timings:
    """Each run called with its own output folder under `work` (run<index>_<repeat>)."""
    names = list(runs)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    loads = [os.getloadavg()[0]]
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            start, start_cpu = time.perf_counter(), time.process_time()
            runs[name](work / f"run{names.index(name)}_{repeat}")
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
        loads.append(os.getloadavg()[0])
    return Timings(wall, cpu, loads, {name: work / f"run{index}_0" for index, name in enumerate(names)})
