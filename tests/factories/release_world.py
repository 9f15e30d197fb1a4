"""The release world: an ingested admissions dataset (and its opt-out exempt twin), two
researchers' projects, an officer to grant them, and an outsider.

Built here, not in a ``conftest``, because two folders stand on it (the release tests and
the PostgreSQL roles test); each defines its own ``world`` fixture calling :func:`build`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import session_scope, utcnow
from fivesafes.identity.models import Role
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories.access import approved_grant
from tests.factories.datasets import load_policies
from tests.factories.extracts import (
    ADMISSION_OUTPUT,
    ADMISSIONS,
    ADMISSIONS_POLICY,
    admission_rows,
)
from tests.factories.ingest import Extracts
from tests.factories.people import Person, person
from tests.integration.access.helpers import make_project, request_body, shipped_policy

EXEMPT_DATASET = "admissions-s251"
#: The same data under an opt-out exemption: opted-out rows kept, flagged, not released.
EXEMPT_POLICY = (
    ADMISSIONS_POLICY.replace(f"dataset: {ADMISSIONS}", f"dataset: {EXEMPT_DATASET}")
    + "national_data_opt_out: {exempt: true, basis: 'Section 251 support, CAG 99/CAG/0001'}\n"
)


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    keystore: InMemoryKeyStore
    policy: AccessPolicy
    people: dict[str, Person]
    projects: dict[str, int]
    extracts: Extracts
    tmp: Path

    def ingest(self, rows: list[dict[str, str]], dataset: str = ADMISSIONS) -> UploadOut:
        """Another extract of admissions into ``dataset`` (by the operator)."""
        return self.extracts.ingest(dataset, rows)

    def grant(
        self, project: str, requester: str = "a", dataset: str = ADMISSIONS, **overrides: Any
    ) -> int:
        """An approved grant for ``project`` (officer approves); returns its id."""
        fields: dict[str, Any] = {
            "columns": ADMISSION_OUTPUT,
            "row_filter": None,
            "date_granularity": "day",
            **overrides,
        }
        with session_scope(self.factory) as session:
            return approved_grant(
                session,
                self.policy,
                self.people[requester].user,
                self.people["officer"].user,
                self.projects[project],
                request_body(_Dataset(dataset), **fields),  # type: ignore[arg-type]
                utcnow(),
            )

    def use_policy(self, **release: Any) -> None:
        data = self.policy.model_dump(mode="json")
        data["release"].update(release)
        self.client.app.state.access_policy = AccessPolicy.model_validate(data)  # type: ignore[attr-defined]


@dataclass
class _Dataset:
    name: str


def build(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    keystore = InMemoryKeyStore.generate()
    policy = shipped_policy()
    app = create_app(settings)
    app.state.keystore = keystore
    client = TestClient(app)
    with session_scope(session_factory) as session:
        load_policies(
            session, tmp_path, {ADMISSIONS: ADMISSIONS_POLICY, EXEMPT_DATASET: EXEMPT_POLICY}
        )
    extracts = Extracts(Ingestor(session_factory, keystore), tmp_path)
    extracts.ingest(ADMISSIONS, admission_rows())
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
            lead = session.merge(people[name].user)
            projects[name] = make_project(session, policy, officer, lead, now=utcnow()).id
    return World(client, session_factory, keystore, policy, people, projects, extracts, tmp_path)
