"""A ``spawn`` worker pool warmed up before anything is timed, kept open across rounds.

The free-text benchmarks time work per round, never the cost of starting processes and
loading spaCy: a pool is made once, every worker proves it is ready (each is handed two
readiness probes, so all of them have loaded before the first round), and then it serves
every round. The scrubber's pool and the NER-only ceiling's pool are this one class with
their own initialiser.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any, Self

#: Threads per worker: the pool already uses every core it is given.
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_per_worker() -> None:
    """Called first by each worker's initialiser (before numpy or spaCy load)."""
    for variable in _ONE_THREAD:
        os.environ.setdefault(variable, "1")


class WarmPool:
    """``workers`` processes, each set up by ``initializer(*initargs)``; ``ready(i)`` says
    whether worker state exists (a failed set-up refuses the pool rather than timing
    errors)."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...],
        ready: Callable[[int], bool],
        what: str,
    ) -> None:
        self.workers = workers
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(workers, initializer=initializer, initargs=initargs)
        if not all(self._pool.map(ready, range(workers * 2), chunksize=1)):
            self.close()
            raise RuntimeError(f"a worker failed to {what}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.close()
        self._pool.join()
