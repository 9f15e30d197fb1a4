"""The de-identification engine: stream an extract through a policy, in parallel, in order.

Two entry points, one implementation:

- :func:`deidentify_file` — extract in, de-identified file and a :class:`DeidReport` out
  (the ``fivesafes deidentify`` command);
- :func:`open_run` — the same run as an iterator of :class:`DeidChunk` (column batches),
  so ingestion can load a database without writing a file.

Memory stays bounded: the reader yields chunks of a few thousand rows, at most
``2 * workers + 1`` chunks are in flight, and results are consumed in submission order
(which is also how output order is preserved).
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from fivesafes.config import DEFAULT_SPACY_MODEL, get_settings
from fivesafes.deid.io.limits import ReaderLimits
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import Cell, CellProblem, Source, StreamInput
from fivesafes.deid.io.writers import AtomicOutput, ChunkWriter, output_format
from fivesafes.deid.optout import OptOutFilter
from fivesafes.deid.plan import OutputColumn, RowPlan
from fivesafes.deid.policy import Policy, check_columns
from fivesafes.deid.report import DeidReport
from fivesafes.deid.worker import (
    ChunkResult,
    Encoding,
    ScrubberFactory,
    WorkerSpec,
    WorkerState,
    init_worker,
    process_chunk,
)
from fivesafes.errors import InputFileError, InvalidInputError
from fivesafes.keys.store import KeyStore, key_id
from fivesafes.software_versions import software_versions

#: Rows per chunk: large for structured data (amortises IPC and the vectorised HMAC's
#: per-call planning, about 2 ms), smaller with free text (NER is ~100 rows/s per core;
#: small chunks keep workers evenly busy and memory low).
STRUCTURED_CHUNK_ROWS = 20_000
FREE_TEXT_CHUNK_ROWS = 200
#: What a ``forkserver`` start method's server imports before forking any worker.
FORKSERVER_PRELOAD = ("fivesafes.deid.worker", "datafusion")


@dataclass(frozen=True, slots=True)
class ProgressUpdate:
    """Progress after a chunk: rows so far and input units (bytes or rows) read of total."""

    rows_done: int
    units_done: int
    units_total: int | None


Progress = Callable[[ProgressUpdate], None]


@dataclass(frozen=True, slots=True)
class DeidChunk:
    """A batch of de-identified rows, column-major (one sequence per output column)."""

    index: int
    columns: Sequence[OutputColumn]
    values: Sequence[Sequence[Cell]]

    @property
    def row_count(self) -> int:
        return len(self.values[0]) if self.values else 0

    def rows(self) -> Iterator[tuple[Cell, ...]]:
        """Row tuples in output-column order."""
        return zip(*self.values, strict=True)

    def as_dicts(self) -> list[dict[str, Cell]]:
        names = [c.name for c in self.columns]
        return [dict(zip(names, row, strict=True)) for row in self.rows()]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How a run is carried out; what it does to the data is the policy's alone.

    ``encoding`` is what the workers make of each chunk: ``columns`` (values, to iterate),
    ``csv``/``jsonl`` (bytes of the output file) or ``pgcopy`` (PostgreSQL COPY text, so
    the parent only streams bytes into the database). ``optouts`` applies the National
    Data Opt-out list in force. A multi-threaded caller (the API server) should use
    ``start_method="spawn"``: forking a process whose other threads hold locks can hang
    the child; ``start_method="forkserver"`` is as safe and starts workers in milliseconds
    (the server does). ``limits`` defaults to the operator's (``FIVESAFES_MAX_FIELD_BYTES``...).
    """

    workers: int = 1
    progress: Progress | None = None
    spacy_model: str = DEFAULT_SPACY_MODEL
    scrubber_factory: ScrubberFactory | None = None
    chunk_rows: int | None = None
    encoding: Encoding = "columns"
    optouts: OptOutFilter | None = None
    start_method: str = "fork"
    limits: ReaderLimits | None = None
    #: Workers return each chunk's patients for re-identification records (see
    #: :mod:`fivesafes.ingestion.reid_capture`); off, the hot path does no extra work.
    capture_patients: bool = False


class DeidRun(AbstractContextManager["DeidRun"]):
    """One engine run over one extract. Use as a context manager; iterate for results.

    ``output_file`` and ``output_format`` only name the output in the report (the
    database loaders write no file).
    """

    def __init__(
        self,
        input_path: Path | StreamInput,
        policy: Policy,
        *,
        keystore: KeyStore,
        options: RunOptions = RunOptions(),
        output_file: str | None = None,
        output_format: str = "columns",
    ) -> None:
        if options.workers < 1:
            raise InvalidInputError("workers must be at least 1")
        self._stack = ExitStack()
        self._options = options
        self._started = time.perf_counter()
        source_input = input_path if isinstance(input_path, StreamInput) else Path(input_path)
        limits = options.limits
        if limits is None:  # the operator's limits (FIVESAFES_MAX_FIELD_BYTES...)
            limits = ReaderLimits.from_settings(get_settings())
        self.source: Source = open_source(
            source_input, encoding=policy.input.encoding, limits=limits
        )
        self._stack.callback(self.source.close)
        try:
            check_columns(policy, self.source.header, self.source.file)
            self.plan = RowPlan(policy, self.source.header, keystore, options.optouts)
        except BaseException:
            self._stack.close()
            raise
        scrubber_config = self.plan.scrubber_config(options.spacy_model)
        self._spec = WorkerSpec(
            plan=self.plan,
            header=tuple(self.source.header),
            encoding=policy.input.encoding,
            output=options.encoding,
            scrubber_config=scrubber_config,
            scrubber_factory=options.scrubber_factory,
            limits=limits,
            capture_patients=options.capture_patients,
        )
        self._allow_empty = policy.allow_empty
        self._chunk_rows = options.chunk_rows or (
            FREE_TEXT_CHUNK_ROWS if scrubber_config is not None else STRUCTURED_CHUNK_ROWS
        )
        key_ids = {"pseudonym": key_id(keystore.secret("pseudonym"))}
        if self.plan.shifter is not None:
            key_ids["date_shift"] = key_id(keystore.secret("date_shift"))
        self.report = DeidReport(
            input_file=self.source.file,
            input_format=self.source.format,
            output_file=output_file,
            output_format=output_format,
            dataset=policy.dataset,
            policy_version=policy.version,
            policy_hash=policy.content_hash,
            sensitivity=policy.sensitivity,
            workers=options.workers,
            versions=software_versions(
                options.spacy_model if scrubber_config is not None else None
            ),
            key_ids=key_ids,
            opt_out_list_applied=options.optouts is not None,
            opt_out_list_id=options.optouts.list_id if options.optouts is not None else None,
        )

    @property
    def outputs(self) -> list[OutputColumn]:
        """The output columns, in policy order."""
        return self.plan.outputs

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def results(self) -> Iterator[ChunkResult]:
        """Processed chunks in input order (statistics already merged into the report)."""
        rows_done = 0
        try:
            for result in self._ordered_results():
                self.report.add(result.stats)
                rows_done += result.stats.rows_in
                if self._options.progress is not None:
                    self._options.progress(
                        ProgressUpdate(rows_done, result.units_done, self.source.total_units)
                    )
                yield result
        except CellProblem as problem:
            raise InputFileError(
                problem.reason,
                file=self.source.file,
                line=problem.line,
                column=problem.column,
                code=problem.code,
            ) from None
        if self.report.rows_in == 0 and not self._allow_empty:
            # A header and nothing else is what a failed or truncated export looks like:
            # refused rather than becoming a version (or an output) with no rows.
            raise InputFileError(
                "no data rows: the file has a header and nothing else; if this dataset may "
                "be empty, set allow_empty: true in its policy",
                file=self.source.file,
                line=2,
                code="empty_extract",
            )
        self.report.finish(time.perf_counter() - self._started, self.source.sha256())

    def __iter__(self) -> Iterator[DeidChunk]:
        if self._spec.output != "columns":
            raise TypeError("iterate a run opened with encoding='columns'")
        for result in self.results():
            assert result.columns is not None
            yield DeidChunk(result.index, self.outputs, result.columns)

    def _ordered_results(self) -> Iterator[ChunkResult]:
        chunks = self.source.chunks(self._chunk_rows)
        workers = self._options.workers
        if workers == 1:
            state = WorkerState(self._spec)
            for chunk in chunks:
                yield state.process(chunk)
            return
        context = multiprocessing.get_context(self._options.start_method)
        if self._options.start_method == "forkserver":
            # The fork server imports the engine (and its vectorised HMAC) once; each
            # run's workers are forked from it in milliseconds instead of each importing
            # it afresh for a second or two, as spawned workers do.
            context.set_forkserver_preload(list(FORKSERVER_PRELOAD))
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=init_worker,
            initargs=(self._spec,),
        )
        pending: deque[Future[ChunkResult]] = deque()
        limit = 2 * workers + 1
        try:
            for chunk in chunks:
                pending.append(pool.submit(process_chunk, chunk))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def open_run(
    input_path: Path | StreamInput,
    policy: Policy,
    *,
    keystore: KeyStore,
    options: RunOptions = RunOptions(),
) -> DeidRun:
    """Open a run whose iteration yields :class:`DeidChunk` batches (for database loaders).

    The report (``run.report``) is complete once iteration has finished. Bad input raises
    :class:`~fivesafes.errors.InputFileError` during iteration; callers that load a
    database roll back their transaction on it. With ``options.encoding="pgcopy"`` read
    the workers' COPY text from ``run.results()`` instead of iterating.
    """
    return DeidRun(input_path, policy, keystore=keystore, options=options)


def deidentify_file(
    input_path: Path,
    policy: Policy,
    output_path: Path,
    *,
    keystore: KeyStore,
    options: RunOptions = RunOptions(),
) -> DeidReport:
    """De-identify ``input_path`` into ``output_path`` (format from its extension).

    Either the whole output appears (renamed into place at the end) or none of it does.
    The workers' encoding follows the output's format, whatever ``options.encoding`` says.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    fmt = output_format(output_path)
    if output_path.resolve() == input_path.resolve():
        raise InvalidInputError(f"{output_path}: output would overwrite the input")
    encoding: Encoding = "columns" if fmt == "parquet" else fmt
    with DeidRun(
        input_path,
        policy,
        keystore=keystore,
        options=replace(options, encoding=encoding),
        output_file=str(output_path),
        output_format=fmt,
    ) as run:
        with AtomicOutput(output_path) as target:
            writer = ChunkWriter(target, fmt, run.outputs)
            for result in run.results():
                if result.payload is not None:
                    writer.write_bytes(result.payload)
                else:
                    assert result.columns is not None
                    writer.write_columns(result.columns)
            writer.close()
        return run.report
