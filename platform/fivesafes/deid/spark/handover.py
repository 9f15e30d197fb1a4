"""The Spark job's last step: the signed hand-over manifest beside its part files.

The manifest module (:mod:`fivesafes.handover.manifest`) signs what this module lists:
every part file the job's output committer published (``part-*``: the data), with its
SHA-256, and the report's counts. Spark's ``_SUCCESS`` marker and Hadoop's ``.crc`` side
files are bookkeeping, not listed. Written only after Spark has committed the whole job,
so a job killed half-way never leaves a manifest.

A local output directory is hashed and written here; one on ``hdfs://``, ``s3a://`` or
``abfss://`` is hashed by the executors (Spark's ``sha2`` over its ``binaryFile`` rows,
in the JVM, nothing read by the driver) and the manifest written through Hadoop's file
system, under a temporary name renamed into place (:mod:`.hadoop_fs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fivesafes.deid.handover_output import report_counts
from fivesafes.deid.policy import Policy
from fivesafes.deid.report import DeidReport
from fivesafes.deid.spark.hadoop_fs import HadoopFileSystem
from fivesafes.handover.manifest import (
    MANIFEST_NAME,
    build_manifest,
    sha256_file,
    signed_manifest_bytes,
    write_manifest,
)
from fivesafes.keys.store import KeyStore

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _manifest(
    policy: Policy,
    report: DeidReport,
    files: Mapping[str, str],
    *,
    output_format: str,
    spacy_model: str | None,
) -> dict[str, Any]:
    return build_manifest(
        policy_name=policy.dataset,
        policy_version=policy.version,
        policy_sha256=policy.content_hash,
        input_rows=report.rows_in,
        output_rows=report.rows_out,
        files=files,
        engine="spark",
        report_counts=report_counts(report),
        output_format=output_format,
        opt_out_list=report.opt_out_list_id,
        spacy_model=spacy_model,
    )


def write_handover_manifest(
    out_dir: Path,
    policy: Policy,
    report: DeidReport,
    keystore: KeyStore,
    *,
    output_format: str,
    spacy_model: str | None,
) -> Path:
    """Sign and write the manifest of a finished job; the manifest's path."""
    files = {
        path.relative_to(out_dir).as_posix(): sha256_file(path)
        for path in sorted(out_dir.glob("part-*"))
        if path.is_file()
    }
    manifest = _manifest(
        policy, report, files, output_format=output_format, spacy_model=spacy_model
    )
    return write_manifest(out_dir, manifest, keystore)


def write_remote_manifest(
    spark: SparkSession,
    out_uri: str,
    policy: Policy,
    report: DeidReport,
    keystore: KeyStore,
    *,
    output_format: str,
    spacy_model: str | None,
) -> str:
    """The same manifest for an output directory only Spark's file systems reach; its URI."""
    from pyspark.sql import functions as f  # noqa: PLC0415 - only the Spark engine loads it

    base = out_uri.rstrip("/")
    hashed = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", "part-*")
        .load(base)
        .select("path", f.sha2(f.col("content"), 256).alias("sha256"))
        .collect()
    )
    files = {str(row["path"]).rsplit("/", 1)[-1]: str(row["sha256"]) for row in hashed}
    manifest = _manifest(
        policy, report, files, output_format=output_format, spacy_model=spacy_model
    )
    target = f"{base}/{MANIFEST_NAME}"
    HadoopFileSystem(spark, base).write_new(target, signed_manifest_bytes(manifest, keystore))
    return target
