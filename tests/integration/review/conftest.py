"""A world for governance review tests: datasets with free-text notes (one asks for a
review of 5 cells, one for more cells than there are, one for none), people, a project."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
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
from fivesafes.identity.models import Role
from fivesafes.identity.service import actor_of
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.service import IngestionJob, Ingestor, create_upload
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.access.conftest import Person, person
from tests.integration.access.helpers import TRAIL, project_body, request_body, shipped_policy
from tests.integration.release.conftest import nhs_numbers

POLICY = """\
dataset: {name}
version: 1
sensitivity: standard
{review}
columns:
  nhs_number: {{type: nhs_number, role: patient_id}}
  sex: {{type: string, role: keep}}
  note: {{type: string, role: free_text}}
"""
REVIEWED, ALL_CELLS, UNREVIEWED = "notes", "notes-all", "notes-plain"
COLUMNS = ["nhs_number", "sex", "note"]
SCRIPT_NOTE = "<script>alert('x')</script> Seen by Dr John Smith on 12/03/2024 & discharged."
BLANK_NOTES = 3  # rows 1..3: empty or blank notes are not cells worth reviewing
PATIENTS = 30


def extract_rows(seed: int = 0) -> list[dict[str, str]]:
    rows = []
    for i, nhs in enumerate(nhs_numbers(PATIENTS, seed=11 + seed)):
        if i == 0:
            note = SCRIPT_NOTE
        elif i <= BLANK_NOTES:
            note = ["", "   ", ""][i - 1]
        else:
            note = f"Reviewed in clinic {i} on 0{1 + i % 9}/02/2023; BP stable, plan review."
        rows.append({"nhs_number": nhs, "sex": "MF"[i % 2], "note": note})
    return rows


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    policy: AccessPolicy
    people: dict[str, Person]
    project: int
    ingest: Callable[..., Any]

    def grant(self, dataset: str = REVIEWED, version: int | str = "latest") -> int:
        """An approved grant of the whole dataset to the project (two officers approve)."""
        now = utcnow()
        with session_scope(self.factory) as session:
            body = request_body(
                _Named(dataset),  # type: ignore[arg-type]
                columns=COLUMNS,
                row_filter=None,
                date_granularity="day",
                version=version,
            )
            req = access.create_request(
                session,
                TRAIL,
                self.policy,
                session.merge(self.people["researcher"].user),
                project_id=self.project,
                body=body,
                now=now,
            )
            access.review_request(
                session,
                TRAIL,
                self.policy,
                session.merge(self.people["officer1"].user),
                request_id=req.id,
                approve=True,
                reason="Matches the protocol.",
                now=now,
            )
            session.flush()
            return session.query(Grant).filter_by(request_id=req.id).one().id


@dataclass
class _Named:
    name: str


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    keystore = InMemoryKeyStore.generate()
    app = create_app(settings)
    app.state.keystore = keystore
    client = TestClient(app, base_url="https://testserver")
    reviews = {REVIEWED: "review_sample: 5", ALL_CELLS: "review_sample: 1000", UNREVIEWED: ""}
    with session_scope(session_factory) as session:
        for name, review in reviews.items():
            path = tmp_path / f"{name}.yaml"
            path.write_text(POLICY.format(name=name, review=review))
            datasets.load_policy_file(session, TRAIL, path)
        people = {
            "uploader": person(session, Role.UPLOADER, "up"),
            "officer1": person(session, Role.GOVERNANCE, "gov1"),
            "officer2": person(session, Role.GOVERNANCE, "gov2"),
            "researcher": person(session, Role.RESEARCHER, "res"),
        }
    with session_scope(session_factory) as session:
        project = access.create_project(
            session,
            TRAIL,
            shipped_policy(),
            session.merge(people["officer1"].user),
            body=project_body(session.merge(people["researcher"].user)),
            now=utcnow(),
        ).id
    ingestor = Ingestor(session_factory, keystore, workers=1)
    app.state.ingestion_runner = IngestionRunner(ingestor)  # the upload pages read progress
    counter = [0]

    def ingest(dataset: str = REVIEWED, by: str = "uploader", seed: int = 0) -> Any:
        """Ingest an extract as ``by`` (the uploader of the version); returns the upload."""
        counter[0] += 1
        path = tmp_path / f"extract-{counter[0]}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(extract_rows(seed))
        trail = TRAIL.acting_as(actor_of(people[by].user))
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        with session_scope(session_factory) as session:
            upload = create_upload(
                session, trail, dataset, filename=path.name, size=path.stat().st_size, sha256=sha
            )
        view = ingestor.run(IngestionJob(upload_id=upload.id, source=path, trail=trail))
        assert view.state == "succeeded", view.errors
        return view

    return World(client, session_factory, shipped_policy(), people, project, ingest)
