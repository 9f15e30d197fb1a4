"""`fivesafes deidentify --engine spark`: the local engine's plan, run on Apache Spark.

The driver does what the local engine's parent does, with the same code: it opens the
extract with the same reader, validates the header against the policy
(:class:`~fivesafes.deid.engine.DeidRun`: same errors, file, line, column), builds the
:class:`~fivesafes.deid.plan.RowPlan` once and cuts the input into the same chunks. The
plan is broadcast (it pickles derived sub-keys only: each pseudonym namespace's HMAC key,
the date-shift HMAC key, the opt-out digests and their key; never the master keys) and
every partition runs the local worker's code (:mod:`.partitions`).

Two ways in. A single local file is read by the driver, as the local engine's parent
reads it: its chunks are spread over partitions in order (``parallelize`` cuts contiguous
slices) and nothing shuffles, so part file *n* holds the rows of the *n*-th slice in input
order. A directory or a remote URI (``hdfs://``, ``s3a://``, ``abfss://``) is read by the
executors: Spark's ``binaryFile`` source gives each task whole files, which
:mod:`.file_partitions` opens with the local reader; each file's rows stay in order, but
Spark packs files into partitions by size, so files may follow one another in another
order than their names. The driver reads only the first file's header (through Hadoop's
file system, :mod:`.hadoop_fs`), so its memory does not grow with the extract.

Retries: each task's output is a pure function of its input (chunks or files, fixed when
the job is planned) and the plan, and Spark's output committer publishes only one attempt
per task: a retried or speculative task cannot duplicate or lose rows.

Security: ``spark.io.encryption.enabled`` must be true (this module sets it for a session
it creates, and refuses an existing session without it). With it, PySpark sends the
parallelised chunks and the broadcast plan to the JVM over a socket instead of a temporary
file, and Spark encrypts what it spills or caches on disk. See docs/scale-out.md.
"""

from __future__ import annotations

import os
import pickle
import re
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fivesafes.config import get_settings
from fivesafes.deid.engine import FREE_TEXT_CHUNK_ROWS, STRUCTURED_CHUNK_ROWS, DeidRun, RunOptions
from fivesafes.deid.io.limits import ReaderLimits
from fivesafes.deid.io.sources import open_source
from fivesafes.deid.io.types import StreamInput
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.deid.spark.file_partitions import CONTENT_COLUMN, PATH_COLUMN, FileTransform
from fivesafes.deid.spark.hadoop_fs import HadoopFileSystem
from fivesafes.deid.spark.handover import write_handover_manifest, write_remote_manifest
from fivesafes.deid.spark.listing import ListedEntry, data_entries
from fivesafes.deid.spark.partitions import (
    INDEX_COLUMN,
    PAYLOAD_COLUMN,
    STATS_COLUMN,
    ChunkOutcome,
    PartitionTransform,
    cached_scrubber,
)
from fivesafes.deid.worker import WorkerSpec
from fivesafes.errors import ConfigurationError, InputFileError, InvalidInputError
from fivesafes.keys.store import KeyStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SPARK_FORMATS = ("parquet", "csv", "jsonl")

#: Settings every session the job runs in must have (the operator may add, not remove).
REQUIRED_CONF: dict[str, str] = {
    "spark.io.encryption.enabled": "true",
}

#: Settings for a session the job creates itself: UTC, Parquet timestamps as the local
#: writer makes them (not INT96), no UI serving job details.
DEFAULT_CONF: dict[str, str] = {
    **REQUIRED_CONF,
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.ui.enabled": "false",
    "spark.python.worker.reuse": "true",
}

#: For ``local[...]`` masters: everything stays on the loopback interface.
LOCAL_CONF: dict[str, str] = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

#: For a cluster (any master but ``local[...]``), on top of :data:`REQUIRED_CONF`: the
#: executors receive the plan's keys over the network, so RPC is authenticated and
#: encrypted (Spark itself warns that I/O encryption alone sends its keys in clear).
CLUSTER_CONF: dict[str, str] = {
    "spark.authenticate": "true",
    "spark.network.crypto.enabled": "true",
}


@dataclass(frozen=True, slots=True)
class SparkOptions:
    """How the Spark job runs; what it does to the data is the policy's alone."""

    master: str | None = None
    partitions: int | None = None
    output_format: str = "parquet"
    run: RunOptions = field(default_factory=RunOptions)
    conf: Mapping[str, str] = field(default_factory=dict)


def spark_session(master: str | None, conf: Mapping[str, str] = {}) -> SparkSession:
    """The active session, or a new one with :data:`DEFAULT_CONF`; refused without
    :data:`REQUIRED_CONF` (an existing session is not silently reconfigured)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 - only the Spark engine loads PySpark

    builder: Any = SparkSession.builder.appName("fivesafes-deidentify")
    settings = dict(DEFAULT_CONF)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            settings.update(LOCAL_CONF)
            # PySpark starts its workers with $PYSPARK_PYTHON (else `python3` on PATH):
            # locally that must be this interpreter, the one with fivesafes and spaCy.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings.update(conf)
    for key, value in settings.items():
        builder = builder.config(key, value)
    session: SparkSession = builder.getOrCreate()
    check_session(session)
    return session


def check_session(session: SparkSession) -> None:
    """Refuse a session missing a required security setting, naming the setting."""
    spark_conf = session.sparkContext.getConf()
    required = dict(REQUIRED_CONF)
    if not (session.sparkContext.master or "").startswith("local"):
        required.update(CLUSTER_CONF)
    for key, value in required.items():
        if (spark_conf.get(key) or "false").lower() != value:
            raise ConfigurationError(
                f"the Spark session must have {key}={value}: without it the extract or the "
                "plan's keys would be spooled to disk or sent over the network in clear "
                "(docs/scale-out.md)"
            )


def spark_schema(run: DeidRun, output_format: str) -> Any:
    """The Spark schema of the transformed rows (output columns, then the stats column)."""
    from pyspark.sql.pandas.types import from_arrow_schema  # noqa: PLC0415

    from fivesafes.deid.spark.partitions import output_schema  # noqa: PLC0415

    return from_arrow_schema(output_schema(run.outputs, output_format))


def input_files(path: Path) -> list[Path]:
    """The extract's files: ``path`` itself, or a directory's data files in name order.

    A directory must hold files of one format (by extension) and nothing else but hidden
    or ``_``-prefixed bookkeeping files (Spark's and Hadoop's); it is refused otherwise,
    naming the file, rather than silently skipping what it does not read.
    """
    if not path.is_dir():
        return [path]
    entries = (ListedEntry(p.name, p.is_file(), str(p), p) for p in path.iterdir())
    return data_entries(entries, str(path))


def local_path(location: str | Path) -> Path | None:
    """``location`` as a path on this machine, or None for a URI (``hdfs://``,
    ``s3a://``, ``file:///``...): those are read and written through Spark's file systems,
    by the executors."""
    if isinstance(location, Path):
        return location
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", location):
        return None
    return Path(location)


def _writer_options(output_format: str) -> dict[str, str]:
    """Writer settings that make Spark's files read back as the local engine's do."""
    if output_format == "csv":
        # RFC 4180 quote doubling, the header row, null and empty both written as nothing,
        # and values as they are (Spark's CSV writer trims spaces by default).
        return {
            "header": "true",
            "escape": '"',
            "emptyValue": "",
            "nullValue": "",
            "ignoreLeadingWhiteSpace": "false",
            "ignoreTrailingWhiteSpace": "false",
        }
    if output_format == "jsonl":
        return {"ignoreNullFields": "false"}
    return {"compression": "zstd"}


def deidentify_spark(
    input_path: Path | str,
    policy: Policy,
    out_dir: str,
    *,
    keystore: KeyStore,
    options: SparkOptions = SparkOptions(),
    session: SparkSession | None = None,
) -> DeidReport:
    """De-identify ``input_path`` into the directory ``out_dir`` of part files, on Spark.

    ``input_path`` is a file, a directory of files of one format, or a URI Spark reads;
    ``out_dir`` may be any URI Spark writes and must not exist yet. Either every part file,
    ``_SUCCESS`` and then the signed hand-over manifest (:mod:`.handover`) appear, or, on
    bad input, nothing is written.

    A single local file is read by the driver (the local reader's chunks, spread over the
    partitions in order); a directory or a remote URI is read by the executors, whole files
    at a time (:mod:`.file_partitions`), the driver reading only the first file's header.
    """
    fmt = options.output_format
    if fmt not in SPARK_FORMATS:
        raise InvalidInputError(
            f"unsupported output format {fmt!r}; expected " + ", ".join(SPARK_FORMATS)
        )
    if options.partitions is not None and options.partitions < 1:
        raise InvalidInputError("partitions must be at least 1")
    out_local = local_path(out_dir)
    if out_local is not None and out_local.exists():
        raise InvalidInputError(f"{out_dir}: output directory already exists")
    started = time.perf_counter()
    limits = options.run.limits or ReaderLimits.from_settings(get_settings())
    run_options = replace(options.run, workers=1, encoding="columns", limits=limits)
    in_local = local_path(input_path)
    job = _JobInput(policy, keystore, run_options)
    with ExitStack() as stack:
        if in_local is not None:
            files = input_files(in_local)
            run = stack.enter_context(job.open(files[0], out_dir, fmt))
            if len(files) > 1:
                job.check_local_headers(files, run)
            spark = session or spark_session(options.master, options.conf)
        else:
            spark = session or spark_session(options.master, options.conf)
            fs = HadoopFileSystem(spark, str(input_path))
            remote = fs.data_files(str(input_path))
            run = stack.enter_context(job.open(fs.stream_input(remote[0]), out_dir, fmt))
        check_session(spark)
        out_local, out_dir = _resolve_output(spark, out_local, out_dir)
        spec = job.spec(run)
        if in_local is not None and len(files) == 1:
            _run_chunks(spark, run, spec, out_dir, options, job.chunk_rows(spec))
            digest = run.source.sha256()
        else:
            labels = (
                {_spark_uri(f): str(f) for f in files}
                if in_local is not None
                else {f.uri: f.label for f in remote}
            )
            _run_files(spark, run, spec, labels, out_dir, options, job.chunk_rows(spec))
            run.report.input_file = str(input_path)
            digest = None  # per-file hashes of a directory's input: not recorded
        run.report.finish(time.perf_counter() - started, digest)
        # Last, after Spark committed every part file: the directory becomes a hand-over.
        model = spec.scrubber_config.spacy_model if spec.scrubber_config else None
        if out_local is not None:
            write_handover_manifest(
                out_local, policy, run.report, keystore, output_format=fmt, spacy_model=model
            )
        else:
            write_remote_manifest(
                spark, out_dir, policy, run.report, keystore, output_format=fmt, spacy_model=model
            )
        return run.report


def _resolve_output(
    spark: SparkSession, out_local: Path | None, out_dir: str
) -> tuple[Path | None, str]:
    """Where Spark will really write: a path without a scheme is on the cluster's default
    file system (HDFS on YARN, DBFS on Databricks), local only where that is ``file:``.
    Refused if it exists (Spark would refuse too, but only after all the work)."""
    fs = HadoopFileSystem(spark, out_dir)
    if out_local is not None:
        qualified = fs.qualified(str(out_local.absolute()))
        if qualified.startswith("file:"):
            return out_local.absolute(), str(out_local.absolute())
        out_dir = qualified
    if fs.exists(out_dir):
        raise InvalidInputError(f"{out_dir}: output directory already exists")
    return None, out_dir


@dataclass(frozen=True, slots=True)
class _JobInput:
    """What the driver does with the input before any task runs, whichever way it is read."""

    policy: Policy
    keystore: KeyStore
    options: RunOptions

    def open(self, first: Path | StreamInput, out_dir: str, fmt: str) -> DeidRun:
        """The local engine's run on the first file: the header checked, the plan built."""
        return DeidRun(
            first,
            self.policy,
            keystore=self.keystore,
            options=self.options,
            output_file=out_dir,
            output_format=fmt,
        )

    def check_local_headers(self, files: list[Path], run: DeidRun) -> None:
        """Every other local file's header: checked before any task starts."""
        for path in files[1:]:
            source = open_source(path, encoding=self.policy.input.encoding, limits=self._limits)
            try:
                if tuple(source.header) != tuple(run.source.header):
                    raise InputFileError(
                        f"header differs from {files[0].name}'s: the files of an input "
                        "directory must share one header, in one column order",
                        file=source.file,
                        line=1,
                    )
            finally:
                source.close()

    def spec(self, run: DeidRun) -> WorkerSpec:
        scrubber_config = run.plan.scrubber_config(self.options.spacy_model)
        return WorkerSpec(
            plan=run.plan,
            header=tuple(run.source.header),
            encoding=self.policy.input.encoding,
            output="columns",
            scrubber_config=scrubber_config,
            scrubber_factory=self.options.scrubber_factory or cached_scrubber,
            limits=self._limits,
        )

    @property
    def _limits(self) -> ReaderLimits:
        assert self.options.limits is not None  # deidentify_spark sets the operator's
        return self.options.limits

    def chunk_rows(self, spec: WorkerSpec) -> int:
        return self.options.chunk_rows or (
            FREE_TEXT_CHUNK_ROWS if spec.scrubber_config is not None else STRUCTURED_CHUNK_ROWS
        )


def _spark_uri(path: Path) -> str:
    """A local file as Spark's file sources name it in their ``path`` column."""
    return "file:" + str(path.resolve())


def _run_chunks(
    spark: SparkSession,
    run: DeidRun,
    spec: WorkerSpec,
    out_dir: str,
    options: SparkOptions,
    chunk_rows: int,
) -> None:
    """A single local file: the driver cuts it into the local reader's chunks."""
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType  # noqa: PLC0415

    chunks = [
        (number, pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL))
        for number, chunk in enumerate(run.source.chunks(chunk_rows))
    ]
    context = spark.sparkContext
    slices = options.partitions or max(1, min(len(chunks), 2 * context.defaultParallelism))
    input_schema = StructType(
        [
            StructField(INDEX_COLUMN, LongType(), nullable=False),
            StructField(PAYLOAD_COLUMN, BinaryType()),
        ]
    )
    frame = spark.createDataFrame(context.parallelize(chunks, slices), input_schema)
    labels = [run.source.file] * len(chunks)

    def transform(broadcast: Any) -> PartitionTransform:
        return PartitionTransform(
            secrets.token_hex(16), broadcast, run.outputs, options.output_format
        )

    def merge(outcomes: list[ChunkOutcome]) -> None:
        _merge(run, sorted(outcomes, key=lambda o: o.index), labels)

    _run_job(spark, run, spec, (frame, transform, merge), out_dir, options)


def _run_files(
    spark: SparkSession,
    run: DeidRun,
    spec: WorkerSpec,
    labels: dict[str, str],
    out_dir: str,
    options: SparkOptions,
    chunk_rows: int,
) -> None:
    """A directory or a URI: the executors read whole files, in Spark's binaryFile rows."""
    uris = list(labels)
    numbers = {uri: (n, labels[uri]) for n, uri in enumerate(uris)}
    frame = spark.read.format("binaryFile").load(uris).select(PATH_COLUMN, CONTENT_COLUMN)

    def transform(broadcast: Any) -> FileTransform:
        return FileTransform(
            secrets.token_hex(16),
            broadcast,
            run.outputs,
            options.output_format,
            numbers,
            labels[uris[0]],
            chunk_rows,
        )

    def merge(outcomes: list[ChunkOutcome]) -> None:
        _merge_files(run, outcomes, [labels[uri] for uri in uris])

    _run_job(spark, run, spec, (frame, transform, merge), out_dir, options)


def _run_job(
    spark: SparkSession,
    run: DeidRun,
    spec: WorkerSpec,
    job: tuple[Any, Callable[[Any], Any], Callable[[list[ChunkOutcome]], None]],
    out_dir: str,
    options: SparkOptions,
) -> None:
    """Transform (cached), collect every outcome, check them, then and only then write."""
    from pyspark import StorageLevel  # noqa: PLC0415
    from pyspark.sql import functions as f  # noqa: PLC0415

    frame, make_transform, merge = job
    context = spark.sparkContext
    if options.partitions is not None:  # files are packed into at least this many tasks
        spark.conf.set("spark.sql.files.minPartitionNum", str(options.partitions))
    run.report.workers = context.defaultParallelism  # the cores Spark runs tasks on
    broadcast = context.broadcast(spec)
    transformed = None
    try:
        transformed = frame.mapInArrow(
            make_transform(broadcast), spark_schema(run, options.output_format)
        )
        transformed = transformed.persist(StorageLevel.MEMORY_AND_DISK)
        rows = transformed.where(f.col(STATS_COLUMN).isNotNull()).select(STATS_COLUMN).collect()
        # Our own executors' pickles, made from this job's input: trusted.
        merge([pickle.loads(r[0]) for r in rows])  # noqa: S301
        _check_empty(run, spec.plan.policy.allow_empty)
        data = transformed.where(f.col(STATS_COLUMN).isNull()).drop(STATS_COLUMN)
        writer = data.write.mode("errorifexists").options(**_writer_options(options.output_format))
        if options.output_format == "jsonl":
            writer.json(out_dir)
        else:
            writer.format(options.output_format).save(out_dir)
    finally:
        if transformed is not None:
            transformed.unpersist()
        broadcast.destroy()
        if options.partitions is not None:
            spark.conf.unset("spark.sql.files.minPartitionNum")


def _merge(run: DeidRun, outcomes: list[ChunkOutcome], origins: list[str]) -> None:
    """Add each chunk's statistics to the report in input order, or raise its problem."""
    expected = len(origins)
    if len(outcomes) != expected or len({o.index for o in outcomes}) != expected:
        raise RuntimeError(
            f"the Spark job returned {len(outcomes)} chunk outcomes for {expected} chunks"
        )
    for outcome in outcomes:
        problem = outcome.problem
        if problem is not None:
            raise InputFileError(
                problem.reason,
                file=origins[outcome.index],
                line=problem.line,
                column=problem.column,
                code=problem.code,
            )
        assert outcome.stats is not None
        run.report.add(outcome.stats)


def _merge_files(run: DeidRun, outcomes: list[ChunkOutcome], labels: list[str]) -> None:
    """Per-file outcomes: the first problem in input order, else every file read whole."""
    problems = sorted(
        (o for o in outcomes if o.problem is not None), key=lambda o: (o.file, o.index)
    )
    if problems:
        first = problems[0]
        assert first.problem is not None
        raise InputFileError(
            first.problem.reason,
            file=labels[first.file],
            line=first.problem.line,
            column=first.problem.column,
            code=first.problem.code,
        )
    ends = {o.file: o.chunks for o in outcomes if o.chunks is not None}
    chunks = sorted((o.file, o.index) for o in outcomes if o.stats is not None)
    expected = [(n, i) for n in range(len(labels)) for i in range(ends.get(n) or 0)]
    if set(ends) != set(range(len(labels))) or chunks != expected:
        raise RuntimeError(
            f"the Spark job returned outcomes for {len(ends)} of {len(labels)} files "
            f"and {len(chunks)} of {len(expected)} chunks"
        )
    by_position = {(o.file, o.index): o for o in outcomes if o.stats is not None}
    for position in expected:
        stats = by_position[position].stats
        assert stats is not None
        run.report.add(stats)


def _check_empty(run: DeidRun, allow_empty: bool) -> None:
    """The local engine's refusal of a header-only extract (same message, same code)."""
    if run.report.rows_in == 0 and not allow_empty:
        raise InputFileError(
            "no data rows: the file has a header and nothing else; if this dataset may "
            "be empty, set allow_empty: true in its policy",
            file=run.source.file,
            line=2,
            code="empty_extract",
        )
