"""Executors that read the extract themselves: one input file per row, the local reader on it.

For a directory or a URI (``hdfs://``, ``s3a://``, ``abfss://``), the driver does not read
the data: Spark's ``binaryFile`` source hands each executor whole files (the bytes stay in
the JVM's and this worker's memory; nothing is spooled unencrypted), and each is opened
here with the local engine's own reader (:func:`~fivesafes.deid.io.sources.open_source`),
cut into the local engine's chunks and run through the same
:class:`~fivesafes.deid.worker.WorkerState` as in :mod:`.partitions`.

The driver checked the first file's header against the policy; every other file's header
must equal it exactly (same refusal as for a local directory, line 1). A reader error
(malformed CSV, bad encoding) or a cell problem becomes the file's problem outcome, with
the file named by the driver's label, so the job fails with the local engine's message
and writes nothing. Each file ends with an outcome counting its chunks.

Like :mod:`.partitions`, nothing here imports PySpark.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence

import pyarrow as pa

from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import CellProblem, StreamInput
from fivesafes.deid.plan import OutputColumn
from fivesafes.deid.spark.partitions import (
    Broadcast,
    ChunkOutcome,
    chunk_batches,
    output_schema,
    stats_row,
    worker_state,
)
from fivesafes.deid.worker import WorkerState
from fivesafes.errors import InputFileError

#: The columns of Spark's binaryFile source the job reads.
PATH_COLUMN = "path"
CONTENT_COLUMN = "content"


class FileTransform:
    """The ``mapInArrow`` function over whole input files.

    ``files`` maps each file's URI as Spark names it to its number and its label (what
    errors call it: a local path for a local directory); ``first`` is the label of the
    file whose header the driver checked. No key travels in the task.
    """

    def __init__(
        self,
        job: str,
        broadcast: Broadcast,
        outputs: Sequence[OutputColumn],
        output_format: str,
        files: Mapping[str, tuple[int, str]],
        first: str,
        chunk_rows: int,
    ) -> None:
        self.job = job
        self.broadcast = broadcast
        self.outputs = list(outputs)
        self.output_format = output_format
        self.files = dict(files)
        self.first = first
        self.chunk_rows = chunk_rows

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        state = worker_state(self.job, self.broadcast)
        schema = output_schema(self.outputs, self.output_format)
        for batch in batches:
            paths = batch.column(PATH_COLUMN).to_pylist()
            for row, path in enumerate(paths):
                number, label = self.files[path]
                content: bytes = batch.column(CONTENT_COLUMN)[row].as_py()
                yield from self._file(state, schema, number, label, content)

    def _file(
        self, state: WorkerState, schema: pa.Schema, number: int, label: str, content: bytes
    ) -> Iterator[pa.RecordBatch]:
        spec = state.spec
        count = 0
        try:
            source = open_source(
                StreamInput(label, lambda: io.BytesIO(content), len(content)),
                encoding=spec.encoding,
                limits=spec.limits,
            )
            try:
                if tuple(source.header) != spec.header:
                    raise CellProblem(
                        f"header differs from {self.first.rsplit('/', 1)[-1]}'s: the files of "
                        "an input directory must share one header, in one column order",
                        line=1,
                    )
                for chunk in source.chunks(self.chunk_rows):
                    where = ChunkOutcome(count, file=number)
                    yield from chunk_batches(state, schema, self.outputs, chunk, where)
                    count += 1
            finally:
                source.close()
        except InputFileError as error:
            problem = CellProblem(error.reason, error.line, error.column, error.code)
            yield stats_row(schema, ChunkOutcome(count, problem=problem, file=number))
            return
        except CellProblem as problem:
            yield stats_row(schema, ChunkOutcome(count, problem=problem, file=number))
            return
        yield stats_row(schema, ChunkOutcome(-1, file=number, chunks=count))
