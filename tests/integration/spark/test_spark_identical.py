"""The Spark engine's output is row-for-row the local engine's (same keys, same policy).

Order: the driver cuts the extract into the local reader's chunks and ``parallelize``
hands out contiguous slices of them; nothing shuffles, each partition transforms its
chunks in order and writes one part file, and Spark numbers the part files by partition.
So the part files read in name order are the input order, and these tests compare the
two outputs as ordered lists: a reordering would fail them, not just a changed value.

Slow tier: the notes are scrubbed by spaCy in Spark's Python workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from fivesafes.audit.trust import store_trusted_keys
from fivesafes.deid.engine import RunOptions
from fivesafes.deid.policy import load_policy
from fivesafes.deid.spark.job import SparkOptions, deidentify_spark
from fivesafes.handover.manifest import HandoverRefusedError, verify_directory
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.spark.extracts import (
    DEV_EXTRACT,
    DEV_POLICY,
    part_files,
    read_csv,
    read_jsonl,
    read_parquet_parts,
    run_both,
    same_report,
    write_mixed,
)

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_dev_extract_is_identical_on_spark(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    """The 200-row dev extract with its real policy (spaCy scrubbing the notes)."""
    policy = load_policy(DEV_POLICY)
    local_out, local, spark_out, report = run_both(
        spark, DEV_EXTRACT, policy, keystore, tmp_path, "parquet", chunk_rows=40
    )
    expected = pq.read_table(local_out).to_pylist()
    got = read_parquet_parts(spark_out)
    assert len(expected) == 200
    assert got == expected
    assert len(part_files(spark_out, ".parquet")) == 3
    same_report(local, report)
    assert sum(report.entities["clinical_note"].values()) > 200  # the notes were scrubbed


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_mixed_extract_is_identical_on_spark(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path, fmt: str
) -> None:
    """Every column role and kept type, rejected rows, nulled values, each output format."""
    extract, policy = write_mixed(tmp_path, 150)
    local_out, local, spark_out, report = run_both(
        spark, extract, policy, keystore, tmp_path, fmt, chunk_rows=25
    )
    assert local.rows_rejected == 4  # reject_row really happened, in several chunks
    # Bad date-times nulled; a rejected row has no patient key to shift its dates by.
    assert local.invalid_values_nulled == {"updated_at": 9, "admitted_at": 4, "discharged_on": 4}
    if fmt == "parquet":
        expected: list[dict[str, Any]] = pq.read_table(local_out).to_pylist()
        got: list[dict[str, Any]] = read_parquet_parts(spark_out)
    elif fmt == "csv":
        expected = read_csv(local_out)
        got = [row for part in part_files(spark_out, ".csv") for row in read_csv(part)]
    else:
        expected = read_jsonl(local_out)
        got = [row for part in part_files(spark_out, ".json") for row in read_jsonl(part)]
    assert len(expected) == 146
    assert got == expected
    same_report(local, report)


def test_the_job_signs_a_handover_manifest_the_store_accepts(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    """Written last, it lists exactly the part files, and verifies with the store's key."""
    extract, policy = write_mixed(tmp_path, 80)
    out = tmp_path / "spark-out"
    report = deidentify_spark(
        extract,
        policy,
        str(out),
        keystore=keystore,
        options=SparkOptions(partitions=2, run=RunOptions(chunk_rows=20)),
        session=spark,
    )
    verified = verify_directory(out, store_trusted_keys(keystore), policy=policy)
    signed = verified.manifest
    assert signed["engine"] == "spark"
    assert signed["rows"] == {"input": report.rows_in, "output": report.rows_out}
    assert sorted(signed["files"]) == [p.name for p in part_files(out, ".parquet")]
    assert sum(signed["report_counts"].values()) == sum(report.entities["note"].values())
    part = part_files(out, ".parquet")[0]
    part.write_bytes(part.read_bytes() + b"\0")  # altered after signing: refused
    with pytest.raises(HandoverRefusedError, match=part.name):
        verify_directory(out, store_trusted_keys(keystore), policy=policy)
