"""Test extracts and policies for ingestion (structured: no spaCy needed, so fast)."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from fivesafes.deid.nhs_number import check_digit

DATA = Path(__file__).resolve().parents[2] / "data"

STRUCTURED_POLICY = """\
# Structured test extract: every role but free text.
dataset: {name}
version: 1
sensitivity: standard
date_shift: {{max_days: 30}}
{extra}
columns:
  nhs_number: {{type: nhs_number, role: patient_id, on_invalid: {on_invalid}}}
  patient_name: {{type: string, role: identifier, action: drop}}
  date_of_birth:
    type: date
    role: quasi_identifier
    generalise: {{method: age_band, width: 5, reference_date: 2025-01-01}}
  postcode: {{type: postcode, role: quasi_identifier, generalise: district}}
  sex: {{type: string, role: keep}}
  ethnicity: {{type: string, role: keep}}
  admission_date: {{type: date, role: quasi_identifier, generalise: date_shift}}
  diagnosis_code: {{type: string, role: keep}}
"""

COLUMNS = [
    "nhs_number",
    "patient_name",
    "date_of_birth",
    "postcode",
    "sex",
    "ethnicity",
    "admission_date",
    "diagnosis_code",
]


def policy_text(
    name: str = "episodes", *, on_invalid: str = "reject_file", exempt: bool = False
) -> str:
    extra = (
        "national_data_opt_out: {exempt: true, basis: 'Section 251 support, CAG 99/CAG/0001'}"
        if exempt
        else ""
    )
    return STRUCTURED_POLICY.format(name=name, on_invalid=on_invalid, extra=extra)


def dev_rows(limit: int = 200) -> list[dict[str, str]]:
    """Rows of the copied dev extract, without the free-text note."""
    with (DATA / "dev-extract-200.csv").open(newline="", encoding="utf-8") as handle:
        return [{k: row[k] for k in COLUMNS} for row in list(csv.DictReader(handle))[:limit]]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def synthetic_rows(count: int, seed: int = 7) -> list[dict[str, str]]:
    """Valid synthetic rows (random NHS numbers that pass mod 11)."""
    rng = random.Random(seed)
    rows = []
    while len(rows) < count:
        nine = "".join(rng.choice("0123456789") for _ in range(9))
        check = check_digit(nine)
        if check is None:
            continue
        rows.append(
            {
                "nhs_number": nine + str(check),
                "patient_name": f"Test Person{len(rows)}",
                "date_of_birth": (
                    date(1940, 1, 1) + timedelta(days=rng.randrange(30000))
                ).isoformat(),
                "postcode": rng.choice(["CO4 3SQ", "SW1A 1AA", "M1 1AE", "LS1 4AP"]),
                "sex": rng.choice("MF"),
                "ethnicity": rng.choice("ABCDZ"),
                "admission_date": (
                    date(2022, 1, 1) + timedelta(days=rng.randrange(700))
                ).isoformat(),
                "diagnosis_code": rng.choice(["I21.9", "E11.9", "J44.1"]),
            }
        )
    return rows
