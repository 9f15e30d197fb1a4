"""The world the route matrix acts on: everyone's credentials and two sides of objects.

Side ``a`` belongs to the acting uploader, researcher and governance officer; side ``b``
to the *other* uploader and the *other* researcher (under another officer). For an actor,
"own" is its side and "other" the opposite one (admins and anonymous callers own nothing:
their "own" is side ``a``). Objects a request consumes (a proposal to approve, a grant to
revoke, a version to decide, a token to revoke) are made fresh for each call, so no case
depends on the order cases run in.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes import schema
from fivesafes.access import service as access
from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.config import load_settings
from fivesafes.datasets.models import Dataset
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.deid.engine import RunOptions
from fivesafes.deid.handover_output import deidentify_to_directory
from fivesafes.deid.policy import parse_policy
from fivesafes.httpkit import cookies
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity import web_sessions as web_session
from fivesafes.identity.models import Role, User
from fivesafes.identity.service import actor_of
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.service import create_upload
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories import ingest as ingested
from tests.factories.access import approve
from tests.factories.datasets import load_policies
from tests.factories.extracts import (
    ADMISSIONS_POLICY,
    NOTE_COLUMNS,
    admission_rows,
    note_rows,
    notes_policy,
    write_csv,
)
from tests.integration.access.helpers import (
    TRAIL,
    make_user,
    project_body,
    request_body,
    shipped_policy,
)

RELEASED = "admissions"
#: The released dataset allows re-identification, so its requests can be routed (the
#: limit is high: every allowed case makes a request).
RELEASED_POLICY = (
    ADMISSIONS_POLICY + "reidentification: {allowed: true, purposes: [safety_critical_finding], "
    "monthly_limit_per_project: 1000}\n"
)
#: Hand-overs go to a dataset without re-identification (a flagged one refuses them:
#: a hand-over carries no NHS numbers to keep).
HANDED_OVER = "admissions-handed-over"
HANDOVER_POLICY = ADMISSIONS_POLICY.replace("dataset: admissions\n", f"dataset: {HANDED_OVER}\n")
REID_JUSTIFICATION = "An unreported finding on this patient's scan needs a clinician."
REVIEWED = "notes"
PASSWORD = "a long enough passphrase"
#: Who acts, and the role each holds (None: nobody is logged in).
ACTORS: dict[str, Role | None] = {
    "anonymous": None,
    "uploader": Role.UPLOADER,
    "other_uploader": Role.UPLOADER,
    "researcher": Role.RESEARCHER,
    "other_researcher": Role.RESEARCHER,
    "governance": Role.GOVERNANCE,
    "admin": Role.ADMIN,
}
SIDE = {"other_uploader": "b", "other_researcher": "b"}  # everyone else: side a
OPPOSITE = {"a": "b", "b": "a"}


def side_of(actor: str, relation: str) -> str:
    """The side whose objects ``actor`` acts on: its own, or the other one."""
    own = SIDE.get(actor, "a")
    return own if relation == "own" else OPPOSITE[own]


@dataclass
class Credentials:
    """A person's bearer token (API routes) and live web session (web pages)."""

    user: User
    token: str
    cookie: str
    csrf: str

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def browser(self) -> dict[str, str]:
        return {"Cookie": f"{cookies.COOKIE}={self.cookie}", "X-CSRF-Token": self.csrf}


@dataclass
class Side:
    upload: uuid.UUID
    project: int
    request: int
    grant: int
    release: uuid.UUID
    pseudonym: str = ""  # one project pseudonym of the release (from its CSV)
    reid_request: int = 0  # a pending re-identification request of the side's lead


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    policy: AccessPolicy
    people: dict[str, Credentials]
    lead: dict[str, str]  # side -> the researcher leading its project
    officer: dict[str, str]  # side -> the officer who set its project up
    sides: dict[str, Side] = field(default_factory=dict)
    review_version: int = 0
    ingest_notes: Any = None
    ingest_notes_by: Any = None  # (owner) -> the upload of a new notes version by owner
    fresh_handover: Any = None  # () -> a new signed hand-over's folder, under the root
    counter: list[int] = field(default_factory=lambda: [0])

    def user(self, name: str) -> User:
        return self.people[name].user

    # --- fresh objects, one per call -------------------------------------------------

    def fresh_proposal(self, side: str) -> int:
        with session_scope(self.factory) as session:
            lead = session.merge(self.user(self.lead[side]))
            body = project_body(None)
            return access.propose_project(
                session, TRAIL, self.policy, lead, body=body, now=utcnow()
            ).id

    def fresh_project(self, side: str, *, with_colleague: bool = False) -> int:
        with session_scope(self.factory) as session:
            officer = session.merge(self.user(self.officer[side]))
            lead = session.merge(self.user(self.lead[side]))
            members = [session.merge(self.user("colleague"))] if with_colleague else []
            body = project_body(lead, members)
            return access.create_project(
                session, TRAIL, self.policy, officer, body=body, now=utcnow()
            ).id

    def fresh_request(self, side: str) -> int:
        with session_scope(self.factory) as session:
            lead = session.merge(self.user(self.lead[side]))
            return access.create_request(
                session,
                TRAIL,
                self.policy,
                lead,
                project_id=self.sides[side].project,
                body=self._request_body(),
                now=utcnow(),
            ).id

    def fresh_grant(self, side: str) -> int:
        pending = self.fresh_request(side)
        with session_scope(self.factory) as session:
            return approve(session, self.policy, self.user("other_officer"), pending, utcnow())

    def reid_json(self, side: str) -> dict[str, Any]:
        """A re-identification request body for side ``side``'s grant and release."""
        own = self.sides[side]
        return {
            "grant_id": own.grant,
            "release_id": str(own.release),
            "project_pseudonyms": [own.pseudonym],
            "purpose": "safety_critical_finding",
            "justification": REID_JUSTIFICATION,
        }

    def fresh_reid_request(self, side: str) -> int:
        """A new pending re-identification request by side ``side``'s lead."""
        lead = self.people[self.lead[side]]
        made = self.client.post(
            "/reidentification-requests", json=self.reid_json(side), headers=lead.bearer()
        )
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def fresh_token(self, owner: str) -> uuid.UUID:
        with session_scope(self.factory) as session:
            user = session.merge(self.user(owner))
            issued = identity.issue_token(session, TRAIL, user, "spare", timedelta(days=1))
            return issued.token.id

    def fresh_session(self, owner: str) -> dict[str, str]:
        """A second browser session of ``owner`` (log-out ends it, not the main one)."""
        with session_scope(self.factory) as session:
            user = session.merge(self.user(owner))
            opened = web_session.open_session(session, TRAIL, user, "password")
            return {
                "Cookie": f"{cookies.COOKIE}={opened.secret}",
                "X-CSRF-Token": opened.row.csrf_token,
            }

    def fresh_user(self) -> str:
        with session_scope(self.factory) as session:
            return make_user(session, Role.RESEARCHER, "spare").username

    def fresh_version(self) -> int:
        """A new version of the reviewed dataset, waiting for its review."""
        return int(self.ingest_notes())

    def fresh_version_by(self, actor: str) -> int:
        """A new notes version uploaded by ``actor`` if an uploader, else by "uploader"."""
        owner = actor if ACTORS.get(actor) == Role.UPLOADER else "uploader"
        number = self.ingest_notes_by(owner).dataset_version
        assert number is not None
        return int(number)

    def fresh_versioned_upload(self, side: str) -> uuid.UUID:
        """An upload of side ``side``'s uploader that made a new notes version."""
        owner = {"a": "uploader", "b": "other_uploader"}[side]
        upload_id: uuid.UUID = self.ingest_notes_by(owner).id
        return upload_id

    def unique(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def _request_body(self) -> Any:
        return request_body(
            _Named(RELEASED),  # type: ignore[arg-type]
            columns=["nhs_number", "sex", "length_of_stay"],
            row_filter=None,
            date_granularity="day",
        )

    def request_json(self) -> Any:
        return self._request_body().model_dump(mode="json")

    # --- the audit trail -------------------------------------------------------------

    def last_seq(self) -> int:
        with self.factory() as session:
            return int(session.scalar(select(func.max(AuditEvent.seq))) or 0)

    def denials_since(self, seq: int, actor: str) -> list[str]:
        """Actions denied to ``actor`` since ``seq`` (the refusal is on the trail)."""
        with self.factory() as session:
            query = select(AuditEvent.action).where(
                AuditEvent.seq > seq,
                AuditEvent.outcome == "denied",
                AuditEvent.actor_id == str(self.user(actor).id),
            )
            return list(session.scalars(query))


@dataclass
class _Named:
    name: str


def _credentials(session: Session, role: Role, prefix: str) -> Credentials:
    user = make_user(session, role, prefix)
    passwords.set_password(session, TRAIL, user, PASSWORD)
    token = identity.issue_token(session, TRAIL, user, "matrix", timedelta(days=7)).secret
    opened = web_session.open_session(session, TRAIL, user, "password")
    return Credentials(user, token, opened.secret, opened.row.csrf_token)


def build(folder: Path, url: str) -> Iterator[World]:
    """Build the world on a fresh database at ``url``; yields it, then closes everything."""
    schema.upgrade(url)
    handovers = folder / "handovers"
    handovers.mkdir()
    settings = load_settings(
        database_url=url,
        keystore_path=folder / "keys",
        spool_path=folder / "spool",
        release_copies_path=folder / "release-copies",  # absolute: tests chdir each time
        handover_root=handovers,
    )
    keystore = InMemoryKeyStore.generate()
    app = create_app(settings)
    app.state.keystore = keystore
    engine = make_engine(url)
    factory = make_session_factory(engine)
    ingestor = Ingestor(factory, keystore)
    runner = IngestionRunner(ingestor)
    extracts = ingested.Extracts(ingestor, folder)
    app.state.ingestion_runner = runner
    client = TestClient(app, base_url="https://testserver")
    names = {
        "uploader": Role.UPLOADER,
        "other_uploader": Role.UPLOADER,
        "researcher": Role.RESEARCHER,
        "other_researcher": Role.RESEARCHER,
        "governance": Role.GOVERNANCE,
        "admin": Role.ADMIN,
        "other_officer": Role.GOVERNANCE,
        "colleague": Role.RESEARCHER,
        "extra": Role.RESEARCHER,
        "bystander": Role.RESEARCHER,
    }
    with session_scope(factory) as session:
        people = {name: _credentials(session, role, name[:8]) for name, role in names.items()}
        policies = {
            RELEASED: RELEASED_POLICY,
            HANDED_OVER: HANDOVER_POLICY,
            REVIEWED: notes_policy(REVIEWED, "review_sample: 5"),
        }
        load_policies(session, folder, policies)
    world = World(
        client,
        factory,
        shipped_policy(),
        people,
        lead={"a": "researcher", "b": "other_researcher"},
        officer={"a": "governance", "b": "other_officer"},
    )

    uploader = TRAIL.acting_as(actor_of(world.user("uploader")))

    def ingest_notes() -> int:
        rows = note_rows(world.unique())
        view = extracts.ingested(REVIEWED, rows, columns=NOTE_COLUMNS, trail=uploader)
        assert view.dataset_version is not None
        return view.dataset_version

    def ingest_notes_by(owner: str) -> Any:
        rows = note_rows(world.unique())
        trail = TRAIL.acting_as(actor_of(world.user(owner)))
        return extracts.ingested(REVIEWED, rows, columns=NOTE_COLUMNS, trail=trail)

    def fresh_handover() -> str:
        # A new extract each time: the same hand-over twice is refused (409).
        n = world.unique()
        extract = write_csv(folder / f"handover-{n}.csv", admission_rows(seed=1000 + n))
        deidentify_to_directory(
            extract,
            parse_policy(yaml.safe_load(HANDOVER_POLICY)),
            handovers / f"job-{n}",
            keystore=keystore,
            options=RunOptions(workers=1),
        )
        return f"job-{n}"

    world.ingest_notes = ingest_notes
    world.ingest_notes_by = ingest_notes_by
    world.fresh_handover = fresh_handover
    extracts.ingested(RELEASED, admission_rows(), trail=uploader)
    world.review_version = ingest_notes()
    uploads = {}
    with session_scope(factory) as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == RELEASED))
        assert dataset is not None
        for side, owner in (("a", "uploader"), ("b", "other_uploader")):
            trail = TRAIL.acting_as(actor_of(world.user(owner)))
            uploads[side] = create_upload(
                session, trail, RELEASED, filename=f"{side}.csv", size=1, sha256=side * 64
            ).id
    for side in ("a", "b"):
        world.sides[side] = Side(uploads[side], 0, 0, 0, uuid.UUID(int=0))
        world.sides[side].project = world.fresh_project(side, with_colleague=True)
        world.sides[side].request = world.fresh_request(side)
        world.sides[side].grant = world.fresh_grant(side)
        lead = world.people[world.lead[side]]
        download = client.get(f"/grants/{world.sides[side].grant}/data", headers=lead.bearer())
        assert download.status_code == 200, download.text
        world.sides[side].release = uuid.UUID(download.headers["X-Release-Id"])
        first = next(csv.DictReader(io.StringIO(download.text)))
        world.sides[side].pseudonym = first["nhs_number"]
    for side in ("a", "b"):
        world.sides[side].reid_request = world.fresh_reid_request(side)
    try:
        yield world
    finally:
        runner.shutdown()
        ingestor.close()
        engine.dispose()
        client.app.state.engine.dispose()  # type: ignore[attr-defined]
