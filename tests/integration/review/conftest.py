"""A world for governance review tests: datasets with free-text notes (one asks for a
review of 5 cells, one for more cells than there are, one for none), people, a project."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import session_scope, utcnow
from fivesafes.identity.models import Role
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories import ingest
from tests.factories.access import approved_grant
from tests.factories.datasets import load_policies
from tests.factories.extracts import NOTE_COLUMNS, note_rows, notes_policy
from tests.factories.people import Person, person
from tests.integration.access.helpers import make_project, request_body, shipped_policy

REVIEWED, ALL_CELLS, UNREVIEWED = "notes", "notes-all", "notes-plain"


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    policy: AccessPolicy
    people: dict[str, Person]
    project: int
    extracts: ingest.Extracts

    def ingest(self, dataset: str = REVIEWED, by: str = "uploader", seed: int = 0) -> UploadOut:
        """Ingest an extract as ``by`` (the uploader of the version); returns the upload."""
        trail = self.people[by].trail
        return self.extracts.ingested(dataset, note_rows(seed), columns=NOTE_COLUMNS, trail=trail)

    def grant(self, dataset: str = REVIEWED, version: int | str = "latest") -> int:
        """An approved grant of the whole dataset to the project (an officer approves)."""
        body = request_body(
            _Named(dataset),  # type: ignore[arg-type]
            columns=NOTE_COLUMNS,
            row_filter=None,
            date_granularity="day",
            version=version,
        )
        with session_scope(self.factory) as session:
            return approved_grant(
                session,
                self.policy,
                self.people["researcher"].user,
                self.people["officer1"].user,
                self.project,
                body,
                utcnow(),
            )


@dataclass
class _Named:
    name: str


@pytest.fixture
def world(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> Iterator[World]:
    keystore = InMemoryKeyStore.generate()
    app = create_app(settings)
    app.state.keystore = keystore
    client = TestClient(app, base_url="https://testserver")
    reviews = {REVIEWED: "review_sample: 5", ALL_CELLS: "review_sample: 1000", UNREVIEWED: ""}
    with session_scope(session_factory) as session:
        policies = {name: notes_policy(name, review) for name, review in reviews.items()}
        load_policies(session, tmp_path, policies)
        people = {
            "uploader": person(session, Role.UPLOADER, "up"),
            "officer1": person(session, Role.GOVERNANCE, "gov1"),
            "officer2": person(session, Role.GOVERNANCE, "gov2"),
            "researcher": person(session, Role.RESEARCHER, "res"),
        }
    with session_scope(session_factory) as session:
        officer = session.merge(people["officer1"].user)
        lead = session.merge(people["researcher"].user)
        project = make_project(session, shipped_policy(), officer, lead, now=utcnow()).id
    with ingest.ingestor(session_factory, keystore) as ingestor:
        app.state.ingestion_runner = IngestionRunner(ingestor)  # the upload pages read progress
        extracts = ingest.Extracts(ingestor, tmp_path)
        yield World(client, session_factory, shipped_policy(), people, project, extracts)
