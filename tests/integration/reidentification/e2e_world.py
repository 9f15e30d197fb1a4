"""The world of the end-to-end re-identification tests: a re-identifiable admissions
dataset ingested through the real ingestor, a released grant, and the four people of
the flow (researcher, officer, Caldicott Guardian officer, reidentifier) with tokens.

Each patient's admissions carry a ``length_of_stay`` of their own (1000 + patient), a
kept column: the released row of a project pseudonym tells which NHS number it must
reverse to, without reimplementing the pseudonym arithmetic the test checks.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.db import session_scope, utcnow
from fivesafes.identity.models import Role, User
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories.access import approved_grant
from tests.factories.datasets import load_policies
from tests.factories.extracts import ADMISSION_OUTPUT, ADMISSIONS, ADMISSIONS_POLICY, admission_rows
from tests.factories.ingest import Extracts
from tests.factories.people import Person, person
from tests.integration.access.helpers import make_project, request_body, shipped_policy

PLAIN = "plain-admissions"
REID_POLICY = (
    ADMISSIONS_POLICY + "reidentification: {allowed: true, purposes: [safety_critical_finding], "
    "monthly_limit_per_project: 4}\n"
)
#: The same data without the flag: nothing reversible is kept.
PLAIN_POLICY = ADMISSIONS_POLICY.replace(f"dataset: {ADMISSIONS}", f"dataset: {PLAIN}")
JUSTIFICATION = "An unreported mass on the scan of this patient needs a clinician's review."


@dataclass
class Released:
    grant: int
    release: uuid.UUID
    #: project pseudonym -> the NHS number it must reverse to
    truth: dict[str, str]


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    keystore: InMemoryKeyStore
    policy: AccessPolicy
    people: dict[str, Person]
    nhs_numbers: list[str]
    released: dict[str, Released] = field(default_factory=dict)

    def body(self, side: str = "a", n: int = 1, **over: object) -> dict[str, object]:
        rel = self.released[side]
        body: dict[str, object] = {
            "grant_id": rel.grant,
            "release_id": str(rel.release),
            "project_pseudonyms": sorted(rel.truth)[:n],
            "purpose": "safety_critical_finding",
            "justification": JUSTIFICATION,
        }
        return {**body, **over}


@dataclass
class _Dataset:
    name: str


def rows() -> tuple[list[dict[str, str]], list[str]]:
    """The extract, and its distinct NHS numbers (patient i stays 1000 + i days)."""
    out = admission_rows(patients=20)
    numbers = list(dict.fromkeys(r["nhs_number"] for r in out))
    for row in out:
        row["length_of_stay"] = str(1000 + numbers.index(row["nhs_number"]))
    return out, numbers


def _release(world: World, project: int, lead: Person, dataset: str) -> Released:
    with session_scope(world.factory) as session:
        grant = approved_grant(
            session,
            world.policy,
            session.merge(lead.user),
            session.merge(world.people["officer"].user),
            project,
            request_body(
                _Dataset(dataset),  # type: ignore[arg-type]
                columns=ADMISSION_OUTPUT,
                row_filter=None,
                date_granularity="day",
            ),
            utcnow(),
        )
    response = world.client.get(f"/grants/{grant}/data", headers=lead.auth)
    assert response.status_code == 200, response.text
    truth = {}
    for row in csv.DictReader(io.StringIO(response.text)):
        truth[row["nhs_number"]] = world.nhs_numbers[int(row["length_of_stay"]) - 1000]
    return Released(grant, uuid.UUID(response.headers["X-Release-Id"]), truth)


def build(settings: Settings, factory: sessionmaker[Session], tmp_path: Path) -> World:
    keystore = InMemoryKeyStore.generate()
    app = create_app(settings)
    app.state.keystore = keystore
    client = TestClient(app)
    with session_scope(factory) as session:
        load_policies(session, tmp_path, {ADMISSIONS: REID_POLICY, PLAIN: PLAIN_POLICY})
    extract, numbers = rows()
    extracts = Extracts(Ingestor(factory, keystore), tmp_path)
    extracts.ingest(ADMISSIONS, extract)
    extracts.ingest(PLAIN, extract)
    with session_scope(factory) as session:
        people = {
            "researcher": person(session, Role.RESEARCHER, "ra"),
            "other": person(session, Role.RESEARCHER, "rb"),
            "officer": person(session, Role.GOVERNANCE, "gov"),
            "guardian": person(session, Role.GOVERNANCE, "cg"),
            "third_officer": person(session, Role.GOVERNANCE, "gov3"),
            "reidentifier": person(session, Role.REIDENTIFIER, "rid"),
        }
        guardian = session.get(User, people["guardian"].user.id)
        assert guardian is not None
        guardian.caldicott_guardian = True
    policy = shipped_policy()
    world = World(client, factory, keystore, policy, people, numbers)
    projects = {}
    with session_scope(factory) as session:
        officer = session.merge(people["officer"].user)
        for side, name in (("a", "researcher"), ("b", "other")):
            lead = session.merge(people[name].user)
            projects[side] = make_project(session, policy, officer, lead, now=utcnow()).id
    world.released["a"] = _release(world, projects["a"], people["researcher"], ADMISSIONS)
    world.released["b"] = _release(world, projects["b"], people["other"], ADMISSIONS)
    world.released["plain"] = _release(world, projects["a"], people["researcher"], PLAIN)
    return world
