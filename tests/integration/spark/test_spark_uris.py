"""Input and output as URIs: the executors read the files, the manifest goes through Hadoop.

``file:///`` URIs take exactly the path an ``hdfs://``, ``s3a://`` or ``abfss://`` one
takes (the job treats every URI alike: Hadoop's file system on the driver for the listing,
the first header and the manifest; Spark's ``binaryFile`` source on the executors), so
these tests run that code without a cluster.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from fivesafes.audit.trust import store_trusted_keys
from fivesafes.deid.engine import RunOptions, deidentify_file
from fivesafes.deid.policy import load_policy
from fivesafes.deid.spark.job import SparkOptions, deidentify_spark, local_path
from fivesafes.errors import InputFileError, InvalidInputError
from fivesafes.handover.manifest import MANIFEST_NAME, verify_directory
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.spark.extracts import (
    DEV_EXTRACT,
    read_jsonl,
    read_parquet_parts,
    structured_dev_policy,
)

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _dev_rows() -> list[dict[str, str]]:
    with DEV_EXTRACT.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _jsonl_folder(folder: Path, sizes: tuple[int, ...] = (90, 60, 50)) -> Path:
    """The dev extract as JSON Lines files of different sizes, plus bookkeeping files."""
    rows = _dev_rows()
    folder.mkdir()
    start = 0
    for n, size in enumerate(sizes):
        lines = [json.dumps(row) for row in rows[start : start + size]]
        (folder / f"extract-{n}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        start += size
    (folder / "_SUCCESS").write_text("")
    (folder / ".extract-0.jsonl.crc").write_text("")
    return folder


def _local_rows(tmp_path: Path, keystore: LocalFileKeyStore) -> list[dict[str, Any]]:
    policy = load_policy(structured_dev_policy(tmp_path))
    out = tmp_path / "local.parquet"
    deidentify_file(DEV_EXTRACT, policy, out, keystore=keystore)
    return pq.read_table(out).to_pylist()


def test_a_uri_folder_in_and_a_uri_out_give_the_local_rows_and_a_signed_manifest(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    expected = _local_rows(tmp_path, keystore)
    folder = _jsonl_folder(tmp_path / "in")
    out = tmp_path / "out"
    report = deidentify_spark(
        folder.as_uri(),
        policy,
        out.as_uri(),
        keystore=keystore,
        options=SparkOptions(run=RunOptions(chunk_rows=25)),
        session=spark,
    )
    got = read_parquet_parts(out)
    # Each file's rows in order; the files packed into part files by size, not name.
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert (report.rows_in, report.rows_out) == (200, 200)
    assert report.input_file == folder.as_uri()
    verified = verify_directory(out, store_trusted_keys(keystore), policy=policy)
    assert verified.manifest["rows"] == {"input": 200, "output": 200}
    assert sorted(verified.files) == sorted(p.name for p in out.glob("part-*"))
    assert not list(out.glob("*.tmp"))  # written under a temporary name, renamed


def test_jsonl_output_to_a_uri_from_a_single_uri_file(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    expected = _local_rows(tmp_path, keystore)
    out = tmp_path / "out"
    deidentify_spark(
        DEV_EXTRACT.as_uri(),
        policy,
        out.as_uri(),
        keystore=keystore,
        options=SparkOptions(output_format="jsonl"),
        session=spark,
    )
    parts = sorted(out.glob("part-*.json"))
    got = [row for part in parts for row in read_jsonl(part)]
    assert len(got) == 200  # one file: one task, its rows in order
    assert [row["nhs_number"] for row in got] == [row["nhs_number"] for row in expected]
    assert (out / MANIFEST_NAME).is_file()


def test_a_bad_cell_read_by_an_executor_names_the_file_and_line_and_writes_nothing(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    folder = _jsonl_folder(tmp_path / "in")
    second = folder / "extract-1.jsonl"
    lines = second.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[9])
    row["nhs_number"] = "1234567890"  # fails the check digit; the policy rejects the file
    lines[9] = json.dumps(row)
    second.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(InputFileError) as error:
        deidentify_spark(folder.as_uri(), policy, out.as_uri(), keystore=keystore, session=spark)
    assert error.value.file == second.as_uri()
    assert error.value.line == 10
    assert error.value.column == "nhs_number"
    assert "1234567890" not in str(error.value)
    assert not out.exists()


def test_a_file_whose_header_differs_is_refused_by_the_executor(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    folder = _jsonl_folder(tmp_path / "in")
    third = folder / "extract-2.jsonl"
    rows = [json.loads(line) for line in third.read_text(encoding="utf-8").splitlines()]
    renamed = [{("nhs" if k == "nhs_number" else k): v for k, v in r.items()} for r in rows]
    third.write_text("\n".join(json.dumps(r) for r in renamed) + "\n", encoding="utf-8")
    with pytest.raises(InputFileError) as error:
        deidentify_spark(
            folder.as_uri(), policy, (tmp_path / "out").as_uri(), keystore=keystore, session=spark
        )
    assert error.value.file == third.as_uri()
    assert error.value.line == 1
    assert "header differs from extract-0.jsonl's" in str(error.value)


def test_an_existing_uri_output_and_a_missing_input_are_refused_before_any_work(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    folder = _jsonl_folder(tmp_path / "in")
    taken = tmp_path / "taken"
    taken.mkdir()
    with pytest.raises(InvalidInputError, match="output directory already exists"):
        deidentify_spark(folder.as_uri(), policy, taken.as_uri(), keystore=keystore, session=spark)
    with pytest.raises(InputFileError, match="input not found"):
        deidentify_spark(
            (tmp_path / "nothing").as_uri(),
            policy,
            (tmp_path / "out").as_uri(),
            keystore=keystore,
            session=spark,
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("location", "local"),
    [
        ("/data/out", Path("/data/out")),
        ("relative/out", Path("relative/out")),
        ("hdfs://nn:8020/data/out", None),
        ("s3a://bucket/out", None),
        ("abfss://c@account.dfs.core.windows.net/out", None),
        ("dbfs:/mnt/out", None),
        ("file:///tmp/out", None),
    ],
)
def test_only_a_plain_path_is_local(location: str, local: Path | None) -> None:
    assert local_path(location) == local
