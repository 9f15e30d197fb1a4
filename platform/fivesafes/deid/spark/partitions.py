"""What runs in a Spark executor's Python worker: the local engine's worker, per partition.

Each input row of the job is one chunk exactly as the local reader cut it (pickled
:class:`~fivesafes.deid.io.types.Chunk`); each is run through
:class:`~fivesafes.deid.worker.WorkerState` (the same parsing, plan and scrubber as a
local worker process), so the output cannot drift from the local engine's.

Nothing here imports PySpark: the function handed to ``mapInArrow`` sees only Arrow
batches, and the broadcast plan is read through ``.value``. Per Python worker process
(Spark reuses them between tasks, ``spark.python.worker.reuse``) the state is built once
per job and the scrubber (spaCy, seconds to load) once per configuration, in module-level
caches, never per batch.

After each chunk's rows comes one *stats row*: every output column null and
:data:`STATS_COLUMN` holding the pickled chunk statistics, or the chunk's
:class:`~fivesafes.deid.io.types.CellProblem`. The driver collects those before writing a
byte, so a bad cell fails the job with the local engine's error (file, line, column) and
no output, and a retried task (same input, same deterministic transform) only ever
replaces its own rows.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pyarrow as pa

from fivesafes.column_kinds import ColumnKind
from fivesafes.deid.io.types import Cell, CellProblem, Chunk
from fivesafes.deid.plan import ChunkStats, OutputColumn, Scrubber
from fivesafes.deid.types import ScrubberConfig
from fivesafes.deid.worker import WorkerSpec, WorkerState, default_scrubber_factory

#: The job's bookkeeping column: null on data rows, set on each chunk's stats row.
STATS_COLUMN = "__fivesafes_chunk_stats"
#: Input columns of the job's DataFrame: the chunk's index and the pickled chunk.
INDEX_COLUMN = "chunk_index"
PAYLOAD_COLUMN = "chunk"


class Broadcast(Protocol):
    """The part of ``pyspark.Broadcast`` a partition uses."""

    @property
    def value(self) -> WorkerSpec: ...


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What the driver learns of one chunk: its statistics, or the problem that stops the job.

    When executors read the files themselves (:mod:`.file_partitions`), ``file`` is the
    file's number and ``index`` the chunk's within it, and each file ends with an outcome
    whose ``chunks`` is how many it had: the driver can tell a file read whole from one
    cut short.
    """

    index: int
    stats: ChunkStats | None = None
    problem: CellProblem | None = None
    file: int = 0
    chunks: int | None = None


_SCRUBBERS: dict[ScrubberConfig, Scrubber] = {}
_STATES: dict[str, WorkerState] = {}


def cached_scrubber(config: ScrubberConfig) -> Scrubber:
    """The real scrubber, built once per configuration in this process (a scrubber factory)."""
    scrubber = _SCRUBBERS.get(config)
    if scrubber is None:
        scrubber = _SCRUBBERS[config] = default_scrubber_factory(config)
    return scrubber


def worker_state(job: str, broadcast: Broadcast) -> WorkerState:
    """This process's state for ``job`` (built once from the broadcast plan)."""
    state = _STATES.get(job)
    if state is None:
        _STATES.clear()  # one job's plan at a time: an old job's keys are not kept
        state = _STATES[job] = WorkerState(broadcast.value)
    return state


def output_arrow_type(kind: ColumnKind, output_format: str) -> pa.DataType:
    """The Arrow type of an output column as the job carries it, by output format.

    Parquet gets the local writer's types; CSV keeps every value as the engine's text and
    JSON Lines types only integers and booleans, as the local encoders do, so Spark's
    writers have nothing to reformat (dates, date-times, decimals stay exactly as text).
    """
    if output_format == "parquet":
        return kind.arrow_type()
    if output_format == "jsonl" and kind in (ColumnKind.INTEGER, ColumnKind.BOOLEAN):
        return kind.arrow_type()
    return pa.string()


def output_schema(outputs: Sequence[OutputColumn], output_format: str) -> pa.Schema:
    """The Arrow schema of the job's transformed rows (outputs, then :data:`STATS_COLUMN`)."""
    fields = [pa.field(c.name, output_arrow_type(c.kind, output_format)) for c in outputs]
    return pa.schema([*fields, pa.field(STATS_COLUMN, pa.binary())])


def _array(kind: ColumnKind, values: Sequence[Cell], arrow_type: pa.DataType) -> pa.Array:
    if arrow_type == pa.string():
        return pa.array(list(values), type=pa.string())
    return kind.arrow_array(values)


class PartitionTransform:
    """The ``mapInArrow`` function: chunks in, de-identified rows and stats rows out.

    Pickled by reference to this class plus the broadcast handle (its id, not its value),
    a random job token (the per-process cache's key) and the output layout: no key travels
    in the task itself.
    """

    def __init__(
        self,
        job: str,
        broadcast: Broadcast,
        outputs: Sequence[OutputColumn],
        output_format: str,
    ) -> None:
        self.job = job
        self.broadcast = broadcast
        self.outputs = list(outputs)
        self.output_format = output_format

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        state = worker_state(self.job, self.broadcast)
        schema = output_schema(self.outputs, self.output_format)
        for batch in batches:
            indexes = batch.column(INDEX_COLUMN).to_pylist()
            payloads = batch.column(PAYLOAD_COLUMN).to_pylist()
            for index, payload in zip(indexes, payloads, strict=True):
                # The driver pickled this chunk moments ago, in this job: trusted input.
                chunk: Chunk = pickle.loads(payload)  # noqa: S301
                yield from self._one(state, schema, index, chunk)

    def _one(
        self, state: WorkerState, schema: pa.Schema, index: int, chunk: Chunk
    ) -> Iterator[pa.RecordBatch]:
        try:
            yield from chunk_batches(state, schema, self.outputs, chunk, ChunkOutcome(index))
        except CellProblem as problem:
            yield stats_row(schema, ChunkOutcome(index, problem=problem))


def chunk_batches(
    state: WorkerState,
    schema: pa.Schema,
    outputs: Sequence[OutputColumn],
    chunk: Chunk,
    where: ChunkOutcome,
) -> Iterator[pa.RecordBatch]:
    """One chunk through the local worker: its rows, then its stats row (``where`` says
    which chunk it is). A bad cell raises :class:`CellProblem` before anything is yielded."""
    result = state.process(chunk)
    assert result.columns is not None
    arrays = [
        _array(out.kind, column, schema.field(out.name).type)
        for out, column in zip(outputs, result.columns, strict=True)
    ]
    rows = len(result.columns[0]) if result.columns else 0
    arrays.append(pa.nulls(rows, type=pa.binary()))
    yield pa.record_batch(arrays, schema=schema)
    yield stats_row(schema, replace(where, stats=result.stats))


def stats_row(schema: pa.Schema, outcome: ChunkOutcome) -> pa.RecordBatch:
    """A row with every output column null and ``outcome`` pickled in :data:`STATS_COLUMN`."""
    arrays: list[Any] = [pa.nulls(1, type=f.type) for f in list(schema)[:-1]]
    arrays.append(pa.array([pickle.dumps(outcome)], type=pa.binary()))
    return pa.record_batch(arrays, schema=schema)
