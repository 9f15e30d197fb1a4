"""The Spark engine on structured extracts (no spaCy): refusals, the CLI, the partition code.

In the fast tier: one JVM start (the session is shared) and a few seconds per job.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from fivesafes.cli.deid_commands import register
from fivesafes.deid.engine import DeidRun, RunOptions, deidentify_file
from fivesafes.deid.policy import load_policy
from fivesafes.deid.spark.job import SparkOptions, deidentify_spark
from fivesafes.deid.spark.partitions import (
    INDEX_COLUMN,
    PAYLOAD_COLUMN,
    STATS_COLUMN,
    ChunkOutcome,
    PartitionTransform,
)
from fivesafes.deid.worker import WorkerSpec
from fivesafes.errors import InputFileError
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.spark.extracts import (
    DEV_EXTRACT,
    part_files,
    read_csv,
    structured_dev_policy,
)

pytestmark = pytest.mark.spark


def test_the_partition_transform_is_the_local_worker(
    keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    """In process, no Spark: chunks in as Arrow, the local engine's rows and stats out."""
    policy = load_policy(structured_dev_policy(tmp_path))
    local_out = tmp_path / "local.parquet"
    local = deidentify_file(
        DEV_EXTRACT, policy, local_out, keystore=keystore, options=RunOptions(chunk_rows=64)
    )
    with DeidRun(DEV_EXTRACT, policy, keystore=keystore) as run:
        spec = WorkerSpec(run.plan, tuple(run.source.header), "utf-8", "columns", None)
        chunks = list(run.source.chunks(64))
        outputs = run.outputs
    batch = pa.record_batch(
        [
            pa.array([c.index for c in chunks], pa.int64()),
            pa.array([pickle.dumps(c) for c in chunks]),
        ],
        names=[INDEX_COLUMN, PAYLOAD_COLUMN],
    )
    transform = PartitionTransform("job-1", SimpleNamespace(value=spec), outputs, "parquet")
    table = pa.Table.from_batches(list(transform(iter([batch]))))
    stats_rows = table.filter(pc.is_valid(table[STATS_COLUMN]))
    outcomes = [pickle.loads(b) for b in stats_rows[STATS_COLUMN].to_pylist()]
    assert [o.index for o in outcomes] == [c.index for c in chunks]
    assert all(isinstance(o, ChunkOutcome) and o.problem is None for o in outcomes)
    assert sum(o.stats.rows_out for o in outcomes) == local.rows_out == 200
    data = table.filter(pc.is_null(table[STATS_COLUMN])).drop_columns([STATS_COLUMN])
    assert data.to_pylist() == pq.read_table(local_out).to_pylist()


def test_a_bad_cell_fails_the_job_as_locally_and_writes_nothing(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    """reject_file: the local engine's error (file, line, column), no output directory."""
    policy = load_policy(structured_dev_policy(tmp_path))
    lines = DEV_EXTRACT.read_text(encoding="utf-8").splitlines(keepends=True)
    bad = lines[120].replace(lines[120].split(",", 1)[0], "1234567890", 1)
    extract = tmp_path / "bad.csv"
    extract.write_text("".join([*lines[:120], bad, *lines[121:]]), encoding="utf-8")
    with pytest.raises(InputFileError) as local_error:
        deidentify_file(extract, policy, tmp_path / "local.csv", keystore=keystore)
    out = tmp_path / "spark-out"
    with pytest.raises(InputFileError) as spark_error:
        deidentify_spark(
            extract,
            policy,
            str(out),
            keystore=keystore,
            options=SparkOptions(partitions=2, run=RunOptions(chunk_rows=30)),
            session=spark,
        )
    assert str(spark_error.value) == str(local_error.value)
    assert "line 121" in str(spark_error.value)
    assert not out.exists()


def test_cli_engine_spark_writes_part_files(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fivesafes deidentify --engine spark` end to end, and the local CLI agrees with it."""
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    LocalFileKeyStore(tmp_path / "keys").init()
    common = [str(DEV_EXTRACT), "--policy", str(structured_dev_policy(tmp_path))]
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `deidentify` a subcommand
    runner = CliRunner()
    out = tmp_path / "spark-out"
    spark_args = ["--engine", "spark", "--master", "local[2]", "--partitions", "2"]
    result = runner.invoke(
        app, ["deidentify", *common, "--out", str(out), *spark_args, "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    local = runner.invoke(app, ["deidentify", *common, "--out", str(tmp_path / "local.csv")])
    assert local.exit_code == 0, local.output
    got = [row for part in part_files(out, ".csv") for row in read_csv(part)]
    assert len(got) == 200
    assert got == read_csv(tmp_path / "local.csv")
    assert f"wrote {out}" in result.output
    # Ran again into the same directory: refused, nothing overwritten.
    again = runner.invoke(app, ["deidentify", *common, "--out", str(out), *spark_args])
    assert again.exit_code == 2
    assert "output directory already exists" in again.output


def test_a_header_only_extract_is_refused_as_locally(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    extract = tmp_path / "empty.csv"
    extract.write_text(DEV_EXTRACT.read_text(encoding="utf-8").splitlines()[0] + "\n")
    with pytest.raises(InputFileError) as local_error:
        deidentify_file(extract, policy, tmp_path / "local.csv", keystore=keystore)
    out = tmp_path / "spark-out"
    with pytest.raises(InputFileError) as spark_error:
        deidentify_spark(extract, policy, str(out), keystore=keystore, session=spark)
    assert str(spark_error.value) == str(local_error.value)
    assert "no data rows" in str(spark_error.value)
    assert not out.exists()


def _split_dev_extract(folder: Path, bad_line: int | None = None) -> Path:
    """The dev extract as three CSV files (each with the header), optionally one bad cell."""
    lines = DEV_EXTRACT.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    folder.mkdir()
    for n, start in enumerate((0, 70, 140)):
        part = body[start : start + 70]
        if bad_line is not None and n == 1:
            row = part[bad_line - 2]
            part[bad_line - 2] = row.replace(row.split(",", 1)[0], "1234567890", 1)
        (folder / f"extract-{n}.csv").write_text(header + "".join(part), encoding="utf-8")
    (folder / "_SUCCESS").write_text("")  # bookkeeping files are not data
    return folder


def test_a_directory_of_csv_files_is_one_extract(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    local_out = tmp_path / "local.parquet"
    local = deidentify_file(DEV_EXTRACT, policy, local_out, keystore=keystore)
    folder = _split_dev_extract(tmp_path / "in")
    out = tmp_path / "spark-out"
    report = deidentify_spark(
        folder,
        policy,
        str(out),
        keystore=keystore,
        options=SparkOptions(partitions=2, run=RunOptions(chunk_rows=30)),
        session=spark,
    )
    got = [row for part in part_files(out, ".parquet") for row in pq.read_table(part).to_pylist()]
    # The executors read the files; Spark places them in part files by size, not by name.
    assert sorted(got, key=repr) == sorted(pq.read_table(local_out).to_pylist(), key=repr)
    assert (report.rows_in, report.rows_out) == (local.rows_in, local.rows_out) == (200, 200)
    assert report.input_file == str(folder)


def test_a_bad_cell_in_a_directory_names_its_own_file_and_line(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    folder = _split_dev_extract(tmp_path / "in", bad_line=12)
    with pytest.raises(InputFileError) as error:
        deidentify_spark(folder, policy, str(tmp_path / "out"), keystore=keystore, session=spark)
    assert error.value.file == str(folder / "extract-1.csv")
    assert error.value.line == 12
    assert error.value.column == "nhs_number"
    assert not (tmp_path / "out").exists()


def test_a_directory_whose_headers_differ_is_refused(
    keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    folder = _split_dev_extract(tmp_path / "in")
    second = folder / "extract-1.csv"
    rows = list(csv.reader(second.open(encoding="utf-8", newline="")))
    reordered = [[r[1], r[0], *r[2:]] for r in rows]  # same columns, another order
    with second.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(reordered)
    with pytest.raises(InputFileError, match=r"header differs from extract-0\.csv") as error:
        deidentify_spark(folder, policy, str(tmp_path / "out"), keystore=keystore)
    assert error.value.file == str(second)
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputFileError, match="unsupported input type"):
        deidentify_spark(folder, policy, str(tmp_path / "out"), keystore=keystore)
