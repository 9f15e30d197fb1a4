"""Test extracts for the Spark engine: a mixed extract with every column role, and readers
for the local engine's files and Spark's part files."""

from __future__ import annotations

import csv
import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from fivesafes.deid.engine import RunOptions, deidentify_file
from fivesafes.deid.nhs_number import check_digit
from fivesafes.deid.policy import Policy, load_policy
from fivesafes.deid.report import DeidReport
from fivesafes.deid.spark.job import SparkOptions, deidentify_spark
from fivesafes.keys.local import LocalFileKeyStore

ROOT = Path(__file__).parents[3]
DEV_EXTRACT = ROOT / "tests" / "data" / "dev-extract-200.csv"
DEV_POLICY = ROOT / "policies" / "datasets" / "sample-extract.yaml"


def structured_dev_policy(folder: Path) -> Path:
    """The dev extract's policy with the note kept as is: no spaCy anywhere."""
    data = yaml.safe_load(DEV_POLICY.read_text(encoding="utf-8"))
    data["columns"]["clinical_note"] = {"type": "string", "role": "keep"}
    path = folder / "structured.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


#: Every role, every generalisation, every kept type, free text with patient context
#: and date shifting in the text, and reject_row (rows rejected in the middle of chunks).
MIXED_POLICY = r"""
dataset: mixed
version: 3
sensitivity: standard
date_shift: {max_days: 60}
free_text_dates: shift
hospital_number_patterns: ['\b[A-Z]\d{7}\b']
columns:
  nhs_number: {type: nhs_number, role: patient_id, on_invalid: reject_row,
               patient_context: nhs_number}
  mrn: {type: string, role: identifier, action: pseudonymise, patient_context: identifier}
  patient_name: {type: string, role: identifier, action: drop, patient_context: name}
  date_of_birth:
    type: date
    role: quasi_identifier
    generalise: {method: age_band, width: 10, reference_date: 2025-01-01}
    patient_context: date
  postcode: {type: postcode, role: quasi_identifier, generalise: sector,
             patient_context: postcode}
  gp_postcode: {type: postcode, role: quasi_identifier, generalise: district}
  admitted_at: {type: datetime, role: quasi_identifier, generalise: date_shift}
  discharged_on: {type: date, role: quasi_identifier, generalise: date_shift}
  referred_on: {type: date, role: quasi_identifier, generalise: {method: truncate, to: month}}
  first_seen: {type: date, role: quasi_identifier, generalise: to_year}
  weight_kg: {type: decimal, role: quasi_identifier, generalise: {method: band, width: 10}}
  stay_days: {type: integer, role: keep}
  cost: {type: decimal, role: keep}
  seen_on: {type: date, role: keep}
  updated_at: {type: datetime, role: keep, on_invalid: null_and_count}
  smoker: {type: boolean, role: keep}
  ward: {type: string, role: keep}
  note: {type: string, role: free_text}
"""

MIXED_COLUMNS = [
    "nhs_number",
    "mrn",
    "patient_name",
    "date_of_birth",
    "postcode",
    "gp_postcode",
    "admitted_at",
    "discharged_on",
    "referred_on",
    "first_seen",
    "weight_kg",
    "stay_days",
    "cost",
    "seen_on",
    "updated_at",
    "smoker",
    "ward",
    "note",
]

FIRST = ["Alison", "Mohammed", "Priya", "Gareth", "Siobhan", "Tomasz"]
LAST = ["Taylor", "Khan", "Patel", "Evans", "O'Neill", "Nowak"]
POSTCODES = ["CO4 3SQ", "SW1A 1AA", "M1 1AE", "LS1 4AP", "B15 2TT"]


def _nhs(rng: random.Random) -> str:
    while True:
        nine = "".join(rng.choice("0123456789") for _ in range(9))
        check = check_digit(nine)
        if check is not None:
            return nine + str(check)


def mixed_rows(count: int, seed: int = 18) -> list[dict[str, str]]:
    """Synthetic rows: valid mostly, with empty cells, odd text and a few bad NHS numbers."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        nhs = _nhs(rng) if i % 37 != 5 else "1234567890"  # invalid: rejected row
        dob = date(1935, 1, 1) + timedelta(days=rng.randrange(30000))
        admitted = date(2022, 1, 1) + timedelta(days=rng.randrange(700))
        postcode = rng.choice(POSTCODES)
        mrn = f"D{rng.randrange(10**7):07d}"
        note = (
            f"{name} (MRN {mrn}, NHS {nhs[:3]} {nhs[3:6]} {nhs[6:]}) seen {admitted}; "
            f'lives at {postcode}. Said "better, thanks", weight stable.'
        )
        if i % 11 == 3:
            note += "\nSecond line, after a break."
        rows.append(
            {
                "nhs_number": nhs,
                "mrn": mrn if i % 9 else "",
                "patient_name": name,
                "date_of_birth": dob.isoformat(),
                "postcode": postcode,
                "gp_postcode": rng.choice(POSTCODES) if i % 13 else "",
                "admitted_at": f"{admitted.isoformat()}T{rng.randrange(24):02d}:15:00"
                + ("+01:00" if i % 2 else ""),
                "discharged_on": (admitted + timedelta(days=rng.randrange(20))).isoformat(),
                "referred_on": (admitted - timedelta(days=rng.randrange(90))).isoformat(),
                "first_seen": (dob + timedelta(days=rng.randrange(4000))).isoformat(),
                "weight_kg": f"{rng.uniform(40, 130):.1f}",
                "stay_days": str(rng.randrange(30)) if i % 7 else "",
                "cost": f"{rng.randrange(100, 99999)}.{rng.randrange(100):02d}",
                "seen_on": admitted.isoformat(),
                "updated_at": "not a time" if i % 17 == 4 else f"{admitted}T08:00:00Z",
                "smoker": rng.choice(["true", "false", ""]),
                "ward": rng.choice(["  Ward 7 ", "Ward, East", 'The "Oak" unit', "ICU"]),
                "note": note,
            }
        )
    return rows


def write_mixed(folder: Path, count: int) -> tuple[Path, Policy]:
    extract = folder / "mixed.csv"
    with extract.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MIXED_COLUMNS)
        writer.writeheader()
        writer.writerows(mixed_rows(count))
    policy_path = folder / "mixed.yaml"
    policy_path.write_text(MIXED_POLICY, encoding="utf-8")
    return extract, load_policy(policy_path)


def part_files(out_dir: Path, suffix: str) -> list[Path]:
    parts = sorted(out_dir.glob(f"part-*{suffix}"))
    assert parts, f"no part files in {out_dir}"
    assert (out_dir / "_SUCCESS").exists()
    return parts


def read_parquet_parts(out_dir: Path) -> list[dict[str, Any]]:
    return [
        row for part in part_files(out_dir, ".parquet") for row in pq.read_table(part).to_pylist()
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def same_report(local: DeidReport, spark: DeidReport) -> None:
    assert (spark.rows_in, spark.rows_out, spark.rows_rejected) == (
        local.rows_in,
        local.rows_out,
        local.rows_rejected,
    )
    assert spark.rejections == local.rejections
    assert spark.invalid_values_nulled == local.invalid_values_nulled
    assert spark.entities == local.entities
    assert spark.input_sha256 == local.input_sha256


def run_both(
    spark: Any,
    extract: Path,
    policy: Policy,
    keystore: LocalFileKeyStore,
    tmp_path: Path,
    fmt: str,
    **run: Any,
) -> tuple[Path, DeidReport, Path, DeidReport]:
    suffix = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}[fmt]
    local_out = tmp_path / f"local{suffix}"
    options = RunOptions(workers=1, **run)
    local = deidentify_file(extract, policy, local_out, keystore=keystore, options=options)
    spark_out = tmp_path / f"spark-{fmt}"
    report = deidentify_spark(
        extract,
        policy,
        str(spark_out),
        keystore=keystore,
        options=SparkOptions(output_format=fmt, partitions=3, run=options),
        session=spark,
    )
    return local_out, local, spark_out, report
