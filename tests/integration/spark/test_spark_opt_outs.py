"""The Spark job applies the National Data Opt-out list, as keyed digests, like the local
engine: the same rows excluded (or flagged, for an exempt dataset), and the list's id in
the signed manifest."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from fivesafes.deid.nhs_number import normalise_nhs_number
from fivesafes.deid.optout import OPTED_OUT_COLUMN, OptOutFilter, optout_digest, optout_filter
from fivesafes.deid.policy import load_policy
from fivesafes.handover.manifest import MANIFEST_NAME
from fivesafes.ingestion.optouts import optout_key
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.spark.extracts import (
    DEV_EXTRACT,
    read_parquet_parts,
    run_both,
    structured_dev_policy,
)

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def _opted_out(count: int) -> list[str]:
    with DEV_EXTRACT.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [rows[i]["nhs_number"] for i in range(7, 7 + 11 * count, 11)]


def _filter(keystore: LocalFileKeyStore, numbers: list[str], list_id: int) -> OptOutFilter:
    key = optout_key(keystore)
    digests = frozenset(optout_digest(key, normalise_nhs_number(n)) for n in numbers)
    return optout_filter(key, digests, (), list_id)


def _manifest(out: Path) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    return envelope["manifest"]


def test_opted_out_patients_are_excluded_on_spark_as_locally(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    policy = load_policy(structured_dev_policy(tmp_path))
    optouts = _filter(keystore, _opted_out(5), list_id=7)
    local_out, local, spark_out, report = run_both(
        spark, DEV_EXTRACT, policy, keystore, tmp_path, "parquet", optouts=optouts, chunk_rows=30
    )
    assert (local.opted_out_excluded, report.opted_out_excluded) == (5, 5)
    assert report.rows_out == local.rows_out == 195
    assert read_parquet_parts(spark_out) == pq.read_table(local_out).to_pylist()
    manifest = _manifest(spark_out)
    assert manifest["opt_out_list"] == 7
    assert manifest["rows"] == {"input": 200, "output": 195}
    assert report.opt_out_list_id == 7


def test_an_exempt_dataset_is_flagged_on_spark_as_locally(
    spark: Any, keystore: LocalFileKeyStore, tmp_path: Path
) -> None:
    path = structured_dev_policy(tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["national_data_opt_out"] = {"exempt": True, "basis": "CAG 1-23(b)/2026"}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    policy = load_policy(path)
    optouts = _filter(keystore, _opted_out(3), list_id=2)
    local_out, local, spark_out, report = run_both(
        spark, DEV_EXTRACT, policy, keystore, tmp_path, "parquet", optouts=optouts
    )
    got = read_parquet_parts(spark_out)
    assert got == pq.read_table(local_out).to_pylist()
    assert len(got) == 200
    assert [row[OPTED_OUT_COLUMN] for row in got].count(True) == 3
    assert report.opted_out_flagged == local.opted_out_flagged == 3
    assert _manifest(spark_out)["opt_out_list"] == 2
