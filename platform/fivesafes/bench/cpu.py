"""CPU time of a process tree over an interval, sampled from /proc (Linux).

Wall-clock throughput on a shared two-core machine moves by a third from one run to the
next with other people's load; the CPU seconds a server spends on the same work move far
less, so comparing two variants of the server (the local key store against the PKCS#11
one) by CPU time tells whether one does more work per row, whatever the load. Processes
are walked as :mod:`fivesafes.bench.memory` walks them (every thread's children); each
process's latest utime + stime is kept, so a worker that exits keeps what it had used
when last seen. The database server's own CPU is outside the tree and not counted.
"""

from __future__ import annotations

import os
from pathlib import Path

from fivesafes.bench.memory import TreeSampler, process_tree

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int | None:
    """utime + stime of ``pid`` in clock ticks (fields 14 and 15 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def tree_cpu_ticks(pid: int) -> dict[int, int]:
    """Each live process of the tree rooted at ``pid`` and its CPU ticks so far."""
    ticks: dict[int, int] = {}
    for current in process_tree(pid):
        used = _cpu_ticks(current)
        if used is not None:
            ticks[current] = used
    return ticks


class CpuSampler(TreeSampler):
    """CPU seconds a process tree uses between ``__enter__`` and ``__exit__``."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(pid, interval)
        self._start: dict[int, int] = {}
        self._latest: dict[int, int] = {}

    def _sample(self) -> None:
        for pid, ticks in tree_cpu_ticks(self.pid).items():
            self._latest[pid] = max(ticks, self._latest.get(pid, 0))

    def __enter__(self) -> CpuSampler:
        self._start = tree_cpu_ticks(self.pid)
        self._latest = dict(self._start)
        self._start_sampling()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_sampling()
        self._sample()  # the work done since the last tick of the thread

    @property
    def seconds(self) -> float:
        used = sum(ticks - self._start.get(pid, 0) for pid, ticks in self._latest.items())
        return used / _TICKS_PER_SECOND
