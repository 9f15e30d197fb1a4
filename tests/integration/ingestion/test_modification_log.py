"""The modification log of a version ingested for real (SATRE 3.1.11), read over the API.

A small extract goes through the ingestion path `fivesafes ingest` takes, under a policy
using most treatments (drop, pseudonymise, age band, district, date shift, month, band,
scrub, keep) and a loaded opt-out list; the log read back must say what each did, with
the report's counts, and only governance and the uploader may read it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.db import session_scope
from fivesafes.identity.models import Role
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories.datasets import load_policies
from tests.factories.extracts import nhs_numbers, write_csv
from tests.factories.people import Person, person
from tests.factories.web import logged_in
from tests.integration.access.helpers import TRAIL

DATASET = "clinic"
POLICY = f"""\
dataset: {DATASET}
version: 1
date_shift: {{max_days: 20}}
columns:
  nhs_number: {{type: nhs_number, role: patient_id}}
  patient_name: {{type: string, role: identifier, action: drop, patient_context: name}}
  mrn: {{type: string, role: identifier, action: pseudonymise}}
  date_of_birth:
    type: date
    role: quasi_identifier
    generalise: {{method: age_band, width: 10, reference_date: 2025-01-01, top_code: 90}}
  postcode: {{type: postcode, role: quasi_identifier, generalise: district}}
  seen_on: {{type: date, role: quasi_identifier, generalise: date_shift}}
  referred_on: {{type: date, role: quasi_identifier, generalise: {{method: truncate, to: month}}}}
  visits: {{type: integer, role: quasi_identifier, generalise: {{method: band, width: 5}},
            on_invalid: null_and_count}}
  sex: {{type: string, role: keep}}
  note: {{type: string, role: free_text}}
"""
COLUMNS = [
    "nhs_number",
    "patient_name",
    "mrn",
    "date_of_birth",
    "postcode",
    "seen_on",
    "referred_on",
    "visits",
    "sex",
    "note",
]
PATIENTS = 12


@dataclass
class Clinic:
    client: TestClient
    uploader: Person
    other_uploader: Person
    researcher: Person
    officer: Person
    opted_out: int  # rows of the one opted-out patient


def _rows() -> list[dict[str, str]]:
    rows = []
    for i, nhs in enumerate(nhs_numbers(PATIENTS, seed=21)):
        for j in range(2):
            rows.append(
                {
                    "nhs_number": nhs,
                    "patient_name": f"Alison Taylor{i}",
                    "mrn": f"RX{1000 + i}",
                    "date_of_birth": "1961-03-12",
                    "postcode": "WN8 7YH",
                    "seen_on": f"2024-02-{10 + j:02d}",
                    "referred_on": "2024-01-15",
                    "visits": "three" if i == 1 and j == 0 else str(i + j),
                    "sex": "MF"[i % 2],
                    "note": f"Seen by Dr Smith on 12/03/2024. Alison Taylor{i} is well.",
                }
            )
    return rows


@pytest.fixture
def clinic(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> Iterator[Clinic]:
    keystore = InMemoryKeyStore.generate()
    app = create_app(settings)
    app.state.keystore = keystore
    with session_scope(session_factory) as session:
        load_policies(session, tmp_path, {DATASET: POLICY})
        people = {
            "uploader": person(session, Role.UPLOADER, "up"),
            "other_uploader": person(session, Role.UPLOADER, "up2"),
            "researcher": person(session, Role.RESEARCHER, "res"),
            "officer": person(session, Role.GOVERNANCE, "gov"),
        }
    rows = _rows()
    listing = tmp_path / "optouts.txt"
    listing.write_text(rows[0]["nhs_number"] + "\n")
    with session_scope(session_factory) as session:
        load_optouts(session, TRAIL, listing, keystore)
    ingestor = Ingestor(session_factory, keystore)
    try:
        extract = write_csv(tmp_path / "clinic.csv", rows, COLUMNS)
        view = ingest_file(ingestor, people["uploader"].trail, DATASET, extract)
        assert view.state == "succeeded", view.errors
        assert view.dataset_version == 1
        yield Clinic(TestClient(app), **people, opted_out=2)
    finally:
        ingestor.close()


PATH = f"/datasets/{DATASET}/versions/1/modifications"


def _log(clinic: Clinic, who: Person) -> dict[str, Any]:
    response = clinic.client.get(PATH, headers=who.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_log_says_what_each_treatment_did_with_the_reports_counts(clinic: Clinic) -> None:
    log = _log(clinic, clinic.officer)
    assert log["dataset"] == DATASET
    assert log["version"] == 1
    assert log["policy_version"] == 1
    cols = {c["column"]: c for c in log["columns"]}
    assert list(cols) == COLUMNS
    treatments = {name: c["treatment"] for name, c in cols.items()}
    assert treatments == {
        "nhs_number": "pseudonymised",
        "patient_name": "dropped",
        "mrn": "pseudonymised",
        "date_of_birth": "age_band",
        "postcode": "postcode_district",
        "seen_on": "date_shifted",
        "referred_on": "truncated_to_month",
        "visits": "number_band",
        "sex": "kept",
        "note": "scrubbed",
    }
    assert cols["patient_name"]["in_output"] is False
    assert "10-year age bands at 1 January 2025" in cols["date_of_birth"]["sentences"][0]
    assert "between 1 and 20" in cols["seen_on"]["sentences"][0]
    # One "three" in visits was emptied and counted (null_and_count).
    assert cols["visits"]["values_emptied"] == 1
    assert any("1 value(s) were emptied" in s for s in cols["visits"]["sentences"])
    # The scrubber's labels and counts, from the report; the patient's own name was context.
    labels = cols["note"]["labels_found"]
    assert labels
    assert all(isinstance(n, int) and n > 0 for n in labels.values())
    note = " ".join(cols["note"]["sentences"])
    assert "Labels found and replaced:" in note
    assert "The patient's own name, NHS number from the row's other columns" in note
    # Rows: the opted-out patient's two rows were excluded.
    rows = log["rows"]
    assert rows["rows_in"] == 2 * PATIENTS
    assert rows["opted_out_excluded"] == clinic.opted_out
    assert rows["rows_out"] == 2 * PATIENTS - clinic.opted_out
    assert rows["opt_out_list_id"] is not None
    assert any("rows of opted-out patients were excluded" in s for s in rows["sentences"])
    # It never quotes data: no name, MRN, postcode or NHS number of the extract.
    text = json.dumps(log)
    for value in ("Alison", "Taylor", "RX100", "WN8 7YH", _rows()[0]["nhs_number"], "Smith"):
        assert value not in text


def test_only_governance_and_the_uploader_read_it(clinic: Clinic) -> None:
    assert _log(clinic, clinic.uploader) == _log(clinic, clinic.officer)
    for who in (clinic.other_uploader, clinic.researcher):
        refused = clinic.client.get(PATH, headers=who.auth)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "denied_not_uploader"
    assert clinic.client.get(PATH).status_code == 401
    missing = clinic.client.get(
        f"/datasets/{DATASET}/versions/9/modifications", headers=clinic.officer.auth
    )
    assert missing.status_code == 404
    unknown = clinic.client.get(
        "/datasets/nope/versions/1/modifications", headers=clinic.officer.auth
    )
    assert unknown.status_code == 404
    assert "'nope'" in unknown.json()["error"]["message"]


def test_the_governance_version_page_shows_the_log(clinic: Clinic) -> None:
    browser = logged_in(clinic.client.app, clinic.officer.token)
    page = browser.get(f"/web/governance/datasets/{DATASET}/versions/1")
    assert page.status_code == 200, page.text
    assert 'id="modification-log"' in page.text
    assert "postcode generalised to its district" in page.text
    assert "Alison" not in page.text
