"""What runs inside a worker process: parse a chunk, apply the plan, encode the output.

The scrubber (spaCy + Presidio, hundreds of MB and seconds to load) is built once per
process in :func:`init_worker`, never per chunk or row. ``workers=1`` runs the same code in
the parent through :class:`WorkerState`, so both paths are tested by the same tests.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from fivesafes.deid.io.csv_source import parse_csv_chunk
from fivesafes.deid.io.limits import DEFAULT_LIMITS, ReaderLimits
from fivesafes.deid.io.types import Cell, Chunk, ParsedChunk
from fivesafes.deid.io.writers import encode_csv, encode_jsonl, encode_pgcopy
from fivesafes.deid.plan import ChunkStats, RowPlan, Scrubber
from fivesafes.deid.types import ScrubberConfig
from fivesafes.deid.vector.csv_parse import parse_csv_chunk_arrow
from fivesafes.deid.vector.encode import (
    encode_csv_arrays,
    encode_jsonl_arrays,
    encode_pgcopy_arrays,
)

ScrubberFactory = Callable[[ScrubberConfig], Scrubber]
Encoding = Literal["csv", "jsonl", "columns", "pgcopy"]


def default_scrubber_factory(config: ScrubberConfig) -> Scrubber:
    """The real free-text scrubber (imports spaCy and Presidio, in the worker only)."""
    # Imported by name so that a structured-only run never loads spaCy or Presidio.
    module = importlib.import_module("fivesafes.deid.scrubber")
    scrubber_class: ScrubberFactory = module.FreeTextScrubber
    return scrubber_class(config)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs; inherited by fork (or pickled), built once per run."""

    plan: RowPlan
    header: tuple[str, ...]
    encoding: str
    output: Encoding
    scrubber_config: ScrubberConfig | None
    scrubber_factory: ScrubberFactory | None = None
    limits: ReaderLimits = DEFAULT_LIMITS
    #: Return each chunk's (stored pseudonym, NHS number) pairs: re-identifiable datasets only.
    capture_patients: bool = False


@dataclass(slots=True)
class ChunkResult:
    """One processed chunk: encoded bytes (CSV/JSONL) or columns, plus statistics."""

    index: int
    units_done: int
    stats: ChunkStats
    payload: bytes | None = None
    columns: list[Sequence[Cell]] | None = None
    #: (stored pseudonym, NHS number) of the chunk's patients when capturing; the parent
    #: seals them and clears this at once (never logged: kept out of the repr).
    patients: list[tuple[str, str]] | None = field(default=None, repr=False)


class WorkerState:
    """A worker's long-lived state: the plan and the scrubber, built once."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.scrubber: Scrubber | None = None
        if spec.scrubber_config is not None:
            factory = spec.scrubber_factory or default_scrubber_factory
            self.scrubber = factory(spec.scrubber_config)

    def process(self, chunk: Chunk) -> ChunkResult:
        spec = self.spec
        if chunk.csv_bytes is not None:
            parsed = parse_csv_chunk_arrow(
                chunk, spec.header, spec.encoding, spec.limits
            ) or parse_csv_chunk(chunk, spec.header, spec.encoding, spec.limits)
        else:
            parsed = ParsedChunk.of_columns(chunk)
        if parsed.arrays is not None and spec.plan.vectorised and not spec.capture_patients:
            return self._process_arrays(chunk, parsed)
        patients = None
        if spec.capture_patients:
            columns, stats, patients = spec.plan.apply_capturing(parsed, self.scrubber)
        else:
            columns, stats = spec.plan.apply(parsed, self.scrubber)
        result = ChunkResult(chunk.index, chunk.units_done, stats, patients=patients)
        if spec.output == "csv":
            result.payload = encode_csv(columns)
        elif spec.output == "jsonl":
            result.payload = encode_jsonl(columns, spec.plan.outputs)
        elif spec.output == "pgcopy":
            result.payload = encode_pgcopy(columns)
        else:
            result.columns = columns
        return result

    def _process_arrays(self, chunk: Chunk, parsed: ParsedChunk) -> ChunkResult:
        """The vectorised path: Arrow columns in, the same bytes or values out."""
        spec = self.spec
        arrays, stats = spec.plan.apply_arrays(parsed)
        result = ChunkResult(chunk.index, chunk.units_done, stats)
        if spec.output == "csv":
            result.payload = encode_csv_arrays(arrays)
        elif spec.output == "jsonl":
            result.payload = encode_jsonl_arrays(arrays, spec.plan.outputs)
        elif spec.output == "pgcopy":
            result.payload = encode_pgcopy_arrays(arrays)
        else:
            result.columns = [array.to_pylist() for array in arrays]
        return result


_STATE: WorkerState | None = None
_INIT_ERROR: str | None = None


def _exit_with_parent(interval: float = 1.0) -> None:
    """End this worker when its parent dies (``kill -9`` of the server, say).

    A killed parent cannot shut its pool down, and its workers would otherwise live on,
    holding the memory of rows they were given. Reparenting is the signal.
    """
    # The pid the pool's parent had, not whatever the parent is now: a parent killed
    # before this worker got here has already been replaced by init.
    process = multiprocessing.parent_process()
    parent = process.pid if process is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    if process is not None and os.getppid() != parent:
        # A fork server's child (its parent process is the fork server, not the pool's
        # owner), or an owner already gone: the owner's sentinel ends when it does.
        def watch() -> None:
            process.join()
            os._exit(1)

    threading.Thread(target=watch, name="fivesafes-parent-watch", daemon=True).start()


def init_worker(spec: WorkerSpec) -> None:
    """Process-pool initializer: build this process's state (and its scrubber) once.

    A failure is kept and reported by the first task: an exception escaping an initializer
    only surfaces as an opaque ``BrokenProcessPool`` in the parent.
    """
    global _STATE, _INIT_ERROR  # noqa: PLW0603 - per-process state is the point here
    _exit_with_parent()
    try:
        _STATE = WorkerState(spec)
    except Exception as exc:  # reported by process_chunk with its type and message
        _INIT_ERROR = f"{type(exc).__name__}: {exc}"


def process_chunk(chunk: Chunk) -> ChunkResult:
    """Process-pool task: one chunk through this process's state."""
    if _STATE is None:
        raise RuntimeError(f"de-identification worker failed to start: {_INIT_ERROR}")
    return _STATE.process(chunk)
