"""Peak resident memory of a process tree, sampled from /proc (Linux).

``ru_maxrss`` only covers the caller and its waited-for children; a server under test
runs in another process with its own workers, so the benchmark samples the whole tree.
The tree walk and the sampling thread are shared with :mod:`fivesafes.bench.cpu`, so
both measures cover the same processes at the same moments.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> Iterator[int]:
    """``pid`` and every descendant (every thread's children), as /proc lists them now."""
    stack = [pid]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(_children(current))


class TreeSampler:
    """Calls :meth:`_sample` every ``interval`` seconds in a thread while it is started.

    Subclasses take their first reading in ``__enter__`` before :meth:`_start_sampling`
    and decide whether ``__exit__`` takes a last one after :meth:`_stop_sampling`.
    """

    def __init__(self, pid: int, interval: float) -> None:
        self.pid = pid
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _start_sampling(self) -> None:
        self._thread.start()

    def _stop_sampling(self) -> None:
        self._stop.set()
        self._thread.join()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def tree_rss_kb(pid: int) -> int:
    """Current RSS of ``pid`` and all its descendants, in KiB."""
    return sum(_rss_kb(current) for current in process_tree(pid))


class PeakSampler(TreeSampler):
    """Samples a process tree's RSS in a thread; ``peak_mb`` is the largest total seen."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(pid, interval)
        self.peak_kb = 0

    def _sample(self) -> None:
        self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))

    def __enter__(self) -> PeakSampler:
        self.peak_kb = tree_rss_kb(self.pid)
        self._start_sampling()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_sampling()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024
