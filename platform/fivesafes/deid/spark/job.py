"""`fivesafes deidentify --engine spark`: the local engine's plan, run on Apache Spark.

The driver does what the local engine's parent does, with the same code: it opens the
extract with the same reader, validates the header against the policy
(:class:`~fivesafes.deid.engine.DeidRun`: same errors, file, line, column), builds the
:class:`~fivesafes.deid.plan.RowPlan` once and cuts the input into the same chunks. The
plan is broadcast (it pickles derived sub-keys only: each pseudonym namespace's HMAC key,
the date-shift HMAC key, the opt-out digests and their key; never the master keys) and
every partition runs the local worker's code (:mod:`.partitions`).

Order and retries: chunks are spread over partitions in order (``parallelize`` cuts
contiguous slices) and nothing shuffles, so part file *n* holds the rows of the *n*-th
slice in input order. Each task's output is a pure function of its chunks and the plan,
and Spark's output committer publishes only one attempt per task: a retried or
speculative task cannot duplicate or lose rows.

Security: ``spark.io.encryption.enabled`` must be true (this module sets it for a session
it creates, and refuses an existing session without it). With it, PySpark sends the
parallelised chunks and the broadcast plan to the JVM over a socket instead of a temporary
file, and Spark encrypts what it spills or caches on disk. See docs/scale-out.md.
"""

from __future__ import annotations

import os
import pickle
import secrets
import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fivesafes.config import get_settings
from fivesafes.deid.engine import FREE_TEXT_CHUNK_ROWS, STRUCTURED_CHUNK_ROWS, DeidRun, RunOptions
from fivesafes.deid.io.limits import ReaderLimits
from fivesafes.deid.io.sources import input_format
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.deid.spark.handover import write_handover_manifest
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
    files = sorted(p for p in path.iterdir() if not p.name.startswith((".", "_")))
    if not files:
        raise InputFileError("input directory holds no data files", file=str(path))
    formats = set()
    for file in files:
        if not file.is_file():
            raise InputFileError("not a regular file in the input directory", file=str(file))
        formats.add(input_format(file.name))
    if len(formats) > 1:
        raise InputFileError(
            "input directory mixes formats (" + ", ".join(sorted(formats)) + "): one per job",
            file=str(path),
        )
    return files


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
    input_path: Path,
    policy: Policy,
    out_dir: str,
    *,
    keystore: KeyStore,
    options: SparkOptions = SparkOptions(),
    session: SparkSession | None = None,
) -> DeidReport:
    """De-identify ``input_path`` into the directory ``out_dir`` of part files, on Spark.

    ``out_dir`` may be any URI Spark writes; it must not exist yet. Either every part file
    and ``_SUCCESS`` appear or, on bad input, nothing is written. A local ``out_dir`` then
    gets the signed hand-over manifest (:mod:`.handover`), written last.
    """
    fmt = options.output_format
    if fmt not in SPARK_FORMATS:
        raise InvalidInputError(
            f"unsupported output format {fmt!r}; expected " + ", ".join(SPARK_FORMATS)
        )
    if options.partitions is not None and options.partitions < 1:
        raise InvalidInputError("partitions must be at least 1")
    local_out = "://" not in out_dir
    if local_out and Path(out_dir).exists():
        raise InvalidInputError(f"{out_dir}: output directory already exists")
    started = time.perf_counter()
    limits = options.run.limits or ReaderLimits.from_settings(get_settings())
    run_options = replace(options.run, workers=1, encoding="columns", limits=limits)
    files = input_files(Path(input_path))
    with ExitStack() as stack:
        run = stack.enter_context(
            DeidRun(
                files[0],
                policy,
                keystore=keystore,
                options=run_options,
                output_file=out_dir,
                output_format=fmt,
            )
        )
        scrubber_config = run.plan.scrubber_config(run_options.spacy_model)
        spec = WorkerSpec(
            plan=run.plan,
            header=tuple(run.source.header),
            encoding=policy.input.encoding,
            output="columns",
            scrubber_config=scrubber_config,
            scrubber_factory=run_options.scrubber_factory or cached_scrubber,
            limits=limits,
        )
        chunk_rows = run_options.chunk_rows or (
            FREE_TEXT_CHUNK_ROWS if scrubber_config is not None else STRUCTURED_CHUNK_ROWS
        )
        chunks: list[tuple[int, bytes]] = []
        origins: list[str] = []  # the file each chunk came from (errors name it)
        for number, path in enumerate(files):
            source = run.source
            if number:  # the same header check, then the first file's header exactly
                other = stack.enter_context(
                    DeidRun(path, policy, keystore=keystore, options=run_options)
                )
                source = other.source
                if tuple(source.header) != spec.header:
                    raise InputFileError(
                        f"header differs from {files[0].name}'s: the files of an input "
                        "directory must share one header, in one column order",
                        file=source.file,
                        line=1,
                    )
            for chunk in source.chunks(chunk_rows):
                chunks.append((len(chunks), pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)))
                origins.append(source.file)
        if len(files) > 1:  # the report names the directory; per-file hashes: not yet
            run.report.input_file = str(input_path)
        spark = session or spark_session(options.master, options.conf)
        check_session(spark)
        _run_job(
            spark, run, spec, (chunks, origins), out_dir, options, allow_empty=policy.allow_empty
        )
        digest = run.source.sha256() if len(files) == 1 else None
        run.report.finish(time.perf_counter() - started, digest)
        if local_out:  # last, after Spark committed every part file
            write_handover_manifest(
                Path(out_dir),
                policy,
                run.report,
                keystore,
                output_format=fmt,
                spacy_model=scrubber_config.spacy_model if scrubber_config else None,
            )
        return run.report


def _run_job(
    spark: SparkSession,
    run: DeidRun,
    spec: WorkerSpec,
    job_input: tuple[list[tuple[int, bytes]], list[str]],
    out_dir: str,
    options: SparkOptions,
    *,
    allow_empty: bool,
) -> None:
    """Transform (cached), collect every chunk's outcome, then and only then write."""
    from pyspark import StorageLevel  # noqa: PLC0415
    from pyspark.sql import functions as f  # noqa: PLC0415
    from pyspark.sql.types import BinaryType, LongType, StructField, StructType  # noqa: PLC0415

    chunks, origins = job_input
    context = spark.sparkContext
    slices = options.partitions or max(1, min(len(chunks), 2 * context.defaultParallelism))
    run.report.workers = context.defaultParallelism  # the cores Spark runs tasks on
    broadcast = context.broadcast(spec)
    transformed = None
    try:
        input_schema = StructType(
            [
                StructField(INDEX_COLUMN, LongType(), nullable=False),
                StructField(PAYLOAD_COLUMN, BinaryType()),
            ]
        )
        frame = spark.createDataFrame(context.parallelize(chunks, slices), input_schema)
        transform = PartitionTransform(
            secrets.token_hex(16), broadcast, run.outputs, options.output_format
        )
        transformed = frame.mapInArrow(transform, spark_schema(run, options.output_format))
        transformed = transformed.persist(StorageLevel.MEMORY_AND_DISK)
        rows = transformed.where(f.col(STATS_COLUMN).isNotNull()).select(STATS_COLUMN).collect()
        # Our own executors' pickles, made from this job's chunks: trusted input.
        outcomes = sorted((pickle.loads(r[0]) for r in rows), key=lambda o: o.index)  # noqa: S301
        _merge(run, outcomes, origins)
        _check_empty(run, allow_empty)
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
