"""Synthetic extracts and the dataset policies they are ingested under.

Two shapes serve every world: ``admissions`` (structured: every column kind, a rare
postcode for the disclosure gate, spreadsheet-formula cells for the CSV writer) and
``notes`` (free text: a script tag, blank notes, identifiers for the scrubber), whose
policy is written with or without a governance review.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from fivesafes.deid.nhs_number import check_digit

ADMISSIONS = "admissions"
ADMISSIONS_POLICY = f"""\
dataset: {ADMISSIONS}
version: 1
sensitivity: standard
date_shift: {{max_days: 30}}
columns:
  nhs_number: {{type: nhs_number, role: patient_id}}
  patient_name: {{type: string, role: identifier, action: drop}}
  date_of_birth:
    type: date
    role: quasi_identifier
    generalise: {{method: age_band, width: 20, reference_date: 2025-01-01, top_code: 80}}
  postcode: {{type: postcode, role: quasi_identifier, generalise: district}}
  sex: {{type: string, role: keep}}
  admission_date: {{type: date, role: quasi_identifier, generalise: date_shift}}
  length_of_stay: {{type: integer, role: keep}}
  comment: {{type: string, role: keep}}
  weight_kg: {{type: decimal, role: keep}}
  discharged_at: {{type: datetime, role: keep}}
  readmitted: {{type: boolean, role: keep}}
"""
ADMISSION_COLUMNS = [
    "nhs_number",
    "patient_name",
    "date_of_birth",
    "postcode",
    "sex",
    "admission_date",
    "length_of_stay",
    "comment",
    "weight_kg",
    "discharged_at",
    "readmitted",
]
#: What a release of every column holds (the name is dropped by the policy).
ADMISSION_OUTPUT = [c for c in ADMISSION_COLUMNS if c != "patient_name"]
RARE_POSTCODE = "ZE1 0AA"  # one patient alone in district ZE1

NOTES_POLICY = """\
dataset: {name}
version: 1
sensitivity: standard
{review}
columns:
  nhs_number: {{type: nhs_number, role: patient_id}}
  sex: {{type: string, role: keep}}
  note: {{type: string, role: free_text}}
"""
NOTE_COLUMNS = ["nhs_number", "sex", "note"]
SCRIPT_NOTE = "<script>alert('x')</script> Seen by Dr John Smith on 12/03/2024 & discharged."
BLANK_NOTES = 3  # rows 1..3: empty or blank notes are not cells worth reviewing
NOTE_PATIENTS = 30


def notes_policy(name: str, review: str = "") -> str:
    """The notes policy for dataset ``name``; ``review`` e.g. ``"review_sample: 5"``."""
    return NOTES_POLICY.format(name=name, review=review)


def nhs_numbers(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        nine = "".join(rng.choice("0123456789") for _ in range(9))
        check = check_digit(nine)
        if check is not None and nine[0] != "0":
            out.append(nine + str(check))
    return out


def admission_rows(patients: int = 60, per_patient: int = 2, seed: int = 5) -> list[dict[str, str]]:
    """Two admissions per patient in three common districts; patient 0 alone in ZE1."""
    rng = random.Random(seed)
    rows = []
    for i, nhs in enumerate(nhs_numbers(patients)):
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 10))  # one age band
        postcode = RARE_POSTCODE if i == 0 else rng.choice(["CO4 3SQ", "M1 1AE", "LS1 4AP"])
        for j in range(per_patient):
            rows.append(
                {
                    "nhs_number": nhs,
                    "patient_name": f"Person {i}",
                    "date_of_birth": born.isoformat(),
                    "postcode": postcode,
                    "sex": rng.choice("MF"),
                    "admission_date": (
                        date(2023, 1, 1) + timedelta(days=rng.randrange(700))
                    ).isoformat(),
                    "length_of_stay": str(rng.randrange(-2, 30)),
                    "comment": ['=HYPERLINK("x")', "+1", "-x", "@SUM(A1)", "ok, fine"][(i + j) % 5],
                    "weight_kg": ["72.50", "0.125", "", "-3"][(i + j) % 4],
                    "discharged_at": ["2024-03-01T10:30:00Z", ""][j % 2],
                    "readmitted": ["true", "false", ""][(i + j) % 3],
                }
            )
    return rows


def note_rows(seed: int = 0) -> list[dict[str, str]]:
    """One note with a script tag and identifiers, three blank ones, the rest ordinary."""
    rows = []
    for i, nhs in enumerate(nhs_numbers(NOTE_PATIENTS, seed=11 + seed)):
        if i == 0:
            note = SCRIPT_NOTE
        elif i <= BLANK_NOTES:
            note = ["", "   ", ""][i - 1]
        else:
            note = f"Reviewed in clinic {i} on 0{1 + i % 9}/02/2023; BP stable, plan review."
        rows.append({"nhs_number": nhs, "sex": "MF"[i % 2], "note": note})
    return rows


def write_csv(
    path: Path, rows: list[dict[str, str]], columns: Sequence[str] = ADMISSION_COLUMNS
) -> Path:
    """``rows`` as a CSV extract with ``columns`` as its header; returns ``path``."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path
