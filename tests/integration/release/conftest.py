"""A world for release tests: an ingested dataset, two projects with grants, people."""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access import service as access
from fivesafes.access.models import Grant
from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.datasets import service as datasets
from fivesafes.db import session_scope, utcnow
from fivesafes.deid.nhs_number import check_digit
from fivesafes.identity.models import Role
from fivesafes.ingestion.service import IngestionJob, Ingestor, create_upload
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.access.conftest import Person, person
from tests.integration.access.helpers import TRAIL, project_body, request_body, shipped_policy

DATASET = "admissions"
EXEMPT_DATASET = "admissions-s251"
POLICY = f"""\
dataset: {DATASET}
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
COLUMNS = [
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
ALL_OUTPUT = [c for c in COLUMNS if c != "patient_name"]
RARE_POSTCODE = "ZE1 0AA"  # one patient alone in district ZE1


def nhs_numbers(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        nine = "".join(rng.choice("0123456789") for _ in range(9))
        check = check_digit(nine)
        if check is not None and nine[0] != "0":
            out.append(nine + str(check))
    return out


def extract_rows(patients: int = 60, per_patient: int = 2, seed: int = 5) -> list[dict[str, str]]:
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


def write_extract(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    keystore: InMemoryKeyStore
    policy: AccessPolicy
    people: dict[str, Person]
    projects: dict[str, int]
    ingest: Callable[..., None]
    tmp: Path

    def grant(
        self, project: str, requester: str = "a", dataset: str = DATASET, **overrides: Any
    ) -> int:
        """An approved grant for ``project`` (officer approves); returns its id."""
        now = utcnow()
        fields: dict[str, Any] = {
            "columns": ALL_OUTPUT,
            "row_filter": None,
            "date_granularity": "day",
            **overrides,
        }
        with session_scope(self.factory) as session:
            body = request_body(_Dataset(dataset), **fields)  # type: ignore[arg-type]
            requester_user = self.people[requester].user
            req = access.create_request(
                session,
                TRAIL,
                self.policy,
                session.merge(requester_user),
                project_id=self.projects[project],
                body=body,
                now=now,
            )
            access.review_request(
                session,
                TRAIL,
                self.policy,
                session.merge(self.people["officer"].user),
                request_id=req.id,
                approve=True,
                reason="Matches the protocol.",
                now=now,
            )
            session.flush()
            grant = session.query(Grant).filter_by(request_id=req.id).one()
            return grant.id

    def use_policy(self, **release: Any) -> None:
        data = self.policy.model_dump(mode="json")
        data["release"].update(release)
        self.client.app.state.access_policy = AccessPolicy.model_validate(data)  # type: ignore[attr-defined]


@dataclass
class _Dataset:
    name: str


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    keystore = InMemoryKeyStore.generate()
    policy = shipped_policy()
    app = create_app(settings)
    app.state.keystore = keystore
    client = TestClient(app)
    policy_path = tmp_path / "admissions.yaml"
    policy_path.write_text(POLICY)
    # The same data under an opt-out exemption: opted-out rows kept, flagged, not released.
    exempt_path = tmp_path / "admissions-s251.yaml"
    exempt_path.write_text(
        POLICY.replace(f"dataset: {DATASET}", f"dataset: {EXEMPT_DATASET}")
        + "national_data_opt_out: {exempt: true, basis: 'Section 251 support, CAG 99/CAG/0001'}\n"
    )
    with session_scope(session_factory) as session:
        datasets.load_policy_file(session, TRAIL, policy_path)
        datasets.load_policy_file(session, TRAIL, exempt_path)
    ingestor = Ingestor(session_factory, keystore, workers=1)
    counter = [0]

    def ingest(rows: list[dict[str, str]], dataset: str = DATASET) -> None:
        counter[0] += 1
        path = write_extract(tmp_path / f"extract-{counter[0]}.csv", rows)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        with session_scope(session_factory) as session:
            upload = create_upload(
                session, TRAIL, dataset, filename=path.name, size=path.stat().st_size, sha256=sha
            )
        ingestor.run(IngestionJob(upload_id=upload.id, source=path, trail=TRAIL))

    ingest(extract_rows())
    with session_scope(session_factory) as session:
        people = {
            "a": person(session, Role.RESEARCHER, "ra"),
            "b": person(session, Role.RESEARCHER, "rb"),
            "outsider": person(session, Role.RESEARCHER, "out"),
            "officer": person(session, Role.GOVERNANCE, "gov"),
        }
    projects = {}
    with session_scope(session_factory) as session:
        officer = session.merge(people["officer"].user)
        for name in ("a", "b"):
            project = access.create_project(
                session,
                TRAIL,
                policy,
                officer,
                body=project_body(session.merge(people[name].user)),
                now=utcnow(),
            )
            projects[name] = project.id
    return World(client, session_factory, keystore, policy, people, projects, ingest, tmp_path)


def now() -> datetime:
    return utcnow()
