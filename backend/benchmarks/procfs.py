"""What /proc says about the benchmarked servers: a process tree's resident set (sampled for its
peak) and CPU time, and the CPU time the hypervisor stole from this machine meanwhile."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Direct children from /proc (no psutil needed)."""
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        found: list[int] = []
        for task in tasks:
            text = (task / "children").read_text()
            found += [int(child) for child in text.split()]
        return found
    except OSError:  # the process is gone
        return []


def tree_pids(root: int) -> list[int]:
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo += _children(pid)
    return pids


def rss_bytes(pid: int) -> int:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * PAGE_SIZE


def tree_rss_bytes(root: int) -> int:
    """Resident memory of a process and all its descendants (e.g. gunicorn master + workers)."""
    return sum(rss_bytes(pid) for pid in tree_pids(root))


def cpu_seconds(pid: int) -> float:
    """User plus system time the process has used (its own, not its children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process and its live descendants: per request, what a design costs the
    machine, whatever the hypervisor lets it have."""
    return sum(cpu_seconds(pid) for pid in tree_pids(root))


def stolen_seconds() -> float:
    """CPU time the hypervisor gave to others while this machine's vCPUs wanted to run (`steal`
    in /proc/stat, all vCPUs)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / CLOCK_TICKS if len(fields) > 8 else 0.0


class PeakRssSampler:
    """Samples the tree's RSS on a thread every `interval_s`; `.peak` is the largest sum seen."""

    def __init__(self, root: int, interval_s: float = 0.1) -> None:
        self.root = root
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.root))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
