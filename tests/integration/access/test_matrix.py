"""The full matrix: role by endpoint by (own project / other project / no project).

Every cell is a fresh set of projects, requests and grants, then one call. A cell is
allowed (the endpoint's success status) or denied (403, audited as a denial under the
endpoint's name); naming a project, request or grant that does not exist is 404 for
everyone. The expectations are written out as a table a governance officer can read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes import schema
from fivesafes.access import service
from fivesafes.access.models import Grant
from fivesafes.access.policy import AccessPolicy
from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.config import load_settings
from fivesafes.datasets.models import Dataset, DatasetPolicyVersion, DatasetVersion
from fivesafes.db import make_engine, make_session_factory, utcnow
from fivesafes.identity.models import Role
from tests.integration.access.conftest import person
from tests.integration.access.helpers import (
    TRAIL,
    make_dataset,
    make_project,
    make_request,
    project_body,
    shipped_policy,
)

ROLES = ("researcher", "governance", "uploader", "admin")
G, R = "governance", "researcher"
ALL = frozenset({"own", "other"})
OWN = frozenset({"own"})
NONE = frozenset({"none"})

# endpoint name -> {role: relations in which it is allowed}; every other cell is denied.
EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "project.create": {G: NONE},
    "project.propose": {R: NONE},
    "project.list": {G: NONE, R: NONE},
    "project.view": {G: ALL, R: OWN},
    "project.approve": {G: ALL},
    "project.reject": {G: ALL},
    "project.members": {G: ALL},
    "project.members.remove": {G: ALL},
    "request.create": {R: OWN},
    "request.list": {G: ALL, R: OWN},
    "request.queue": {G: NONE},
    "request.view": {G: ALL, R: OWN},
    "request.preview": {G: ALL, R: OWN},
    "request.preview_draft": {R: OWN},
    "request.approve": {G: ALL},
    "request.reject": {G: ALL},
    "grant.list": {G: NONE, R: NONE},
    "grant.view": {G: ALL, R: OWN},
    "grant.revoke": {G: ALL},
    "grant.use": {R: OWN},
    "access.explain": {G: NONE},
    "register.view": {G: NONE},  # the register of data held (SATRE 3.1.08)
    # "own": a version the acting user uploaded (never released); "other": someone else's.
    "dataset_version.withdraw": {G: ALL, "uploader": OWN},
}


@dataclass
class World:
    """What one cell acts on; "own" is the acting researcher's project (created by the
    acting officer), "other" belongs to other people entirely."""

    project: dict[str, int]
    proposed: dict[str, int]
    pending: dict[str, int]
    grant: dict[str, int]
    version: dict[str, int]


@dataclass
class Endpoint:
    method: str
    path: Callable[[World, str], str]
    body: Callable[[Stage], Any] | None = None
    status: int = 200
    scoped: bool = True


MISSING = 999_999


def _on(kind: str, suffix: str = "") -> Callable[[World, str], str]:
    def path(world: World, relation: str) -> str:
        if relation == "none":
            return f"/{kind}/{MISSING}{suffix}"
        table = {"projects": world.project, "requests": world.pending, "grants": world.grant}
        return f"/{kind}/{table[kind][relation]}{suffix}"

    return path


def _proposed(suffix: str) -> Callable[[World, str], str]:
    def path(world: World, relation: str) -> str:
        pid = MISSING if relation == "none" else world.proposed[relation]
        return f"/projects/{pid}{suffix}"

    return path


def _fixed(path: str) -> Callable[[World, str], str]:
    return lambda world, relation: path


REASON = {"reason": "Checked against the protocol."}

ENDPOINTS: dict[str, Endpoint] = {
    "project.create": Endpoint(
        "POST", _fixed("/projects"), lambda s: s.project_json(lead=True), 201, scoped=False
    ),
    "project.propose": Endpoint(
        "POST", _fixed("/projects/proposals"), lambda s: s.project_json(lead=False), 201, False
    ),
    "project.list": Endpoint("GET", _fixed("/projects"), scoped=False),
    "project.view": Endpoint("GET", _on("projects")),
    "project.approve": Endpoint("POST", _proposed("/approve"), lambda s: REASON),
    "project.reject": Endpoint("POST", _proposed("/reject"), lambda s: REASON),
    "project.members": Endpoint(
        "POST", _on("projects", "/members"), lambda s: {"username": s.people["extra"].username}
    ),
    "project.members.remove": Endpoint("DELETE", lambda w, r: ""),  # path set in Stage
    "request.create": Endpoint(
        "POST", _on("projects", "/requests"), lambda s: s.request_json(), 201
    ),
    "request.list": Endpoint("GET", _on("projects", "/requests")),
    "request.queue": Endpoint("GET", _fixed("/requests"), scoped=False),
    "request.view": Endpoint("GET", _on("requests")),
    # The requested dataset has no version (Stage.requested): an allowed preview is 404;
    # the release tests preview real data.
    "request.preview": Endpoint("GET", _on("requests", "/preview"), status=404),
    "request.preview_draft": Endpoint(
        "POST", _on("projects", "/requests/preview"), lambda s: s.request_json(), 404
    ),
    "request.approve": Endpoint("POST", _on("requests", "/approve"), lambda s: REASON),
    "request.reject": Endpoint("POST", _on("requests", "/reject"), lambda s: REASON),
    "grant.list": Endpoint("GET", _fixed("/grants"), scoped=False),
    "grant.view": Endpoint("GET", _on("grants")),
    "grant.revoke": Endpoint("POST", _on("grants", "/revoke"), lambda s: REASON),
    "grant.use": Endpoint("GET", _on("grants", "/check")),
    "access.explain": Endpoint("GET", lambda w, r: "", scoped=False),  # path set in Stage
    "register.view": Endpoint("GET", _fixed("/register"), scoped=False),
    "dataset_version.withdraw": Endpoint("POST", lambda w, r: "", body=lambda s: REASON),
}


class Stage:
    """One database and app for the whole module; a fresh world per cell."""

    def __init__(self, url: str, keys: Path) -> None:
        self.engine = make_engine(url)
        self.factory: sessionmaker[Session] = make_session_factory(self.engine)
        self.policy: AccessPolicy = shipped_policy()
        self.client = TestClient(create_app(load_settings(database_url=url, keystore_path=keys)))
        with self.factory() as session:
            self.people = {
                "researcher": person(session, Role.RESEARCHER, "me"),
                "governance": person(session, Role.GOVERNANCE, "gov"),
                "uploader": person(session, Role.UPLOADER, "up"),
                "admin": person(session, Role.ADMIN, "adm"),
                "other_lead": person(session, Role.RESEARCHER, "them"),
                "other_officer": person(session, Role.GOVERNANCE, "gov2"),
                "colleague": person(session, Role.RESEARCHER, "colleague"),
                "extra": person(session, Role.RESEARCHER, "extra"),
            }
            self.dataset_name = make_dataset(session).name
            # Requests ask for a dataset of their own, which has no version yet: an allowed
            # preview gets as far as planning it (404), an approval finds nothing to preview.
            self.requested = make_dataset(session).name
            session.commit()
        self.versions = 0

    def project_json(self, *, lead: bool) -> Any:
        lead_user = self.people["researcher"].user if lead else None
        return project_body(lead_user).model_dump(mode="json")

    def request_json(self) -> Any:
        return {
            "dataset": self.requested,
            "columns": ["sex", "admission_date"],
            "justification": "Needed for the approved analysis plan.",
        }

    def build(self) -> World:
        p = {k: v.user for k, v in self.people.items()}
        now = utcnow()
        world = World({}, {}, {}, {}, {})
        with self.factory() as session:
            dataset = session.scalar(select(Dataset).where(Dataset.name == self.dataset_name))
            assert dataset is not None
            requested = session.scalar(select(Dataset).where(Dataset.name == self.requested))
            assert requested is not None
            sides = {
                "own": (p["governance"], p["researcher"]),
                "other": (p["other_officer"], p["other_lead"]),
            }
            for side, (officer, lead) in sides.items():
                project = make_project(
                    session, self.policy, officer, lead, [p["colleague"]], now=now
                )
                world.project[side] = project.id
                world.proposed[side] = service.propose_project(
                    session, TRAIL, self.policy, lead, body=project_body(None), now=now
                ).id
                world.pending[side] = make_request(
                    session, self.policy, lead, project, requested, now=now
                ).id
                granted = make_request(session, self.policy, lead, project, requested, now=now)
                service.review_request(
                    session,
                    TRAIL,
                    self.policy,
                    p["other_officer"],
                    request_id=granted.id,
                    approve=True,
                    reason="Checked.",
                    now=now,
                )
                grant = session.scalar(select(Grant).where(Grant.request_id == granted.id))
                assert grant is not None
                world.grant[side] = grant.id
            uploaders = {"own": p["uploader"], "other": p["colleague"]}
            for side, uploader in uploaders.items():
                world.version[side] = self._version(session, dataset, uploader)
            session.commit()
        return world

    def _version(self, session: Session, dataset: Dataset, uploader: Any) -> int:
        """A version row of ``dataset`` uploaded by ``uploader``, never released (a
        withdrawal reads only the row: no data table is needed)."""
        self.versions += 1
        policy = session.scalar(
            select(DatasetPolicyVersion).where(DatasetPolicyVersion.dataset_id == dataset.id)
        )
        assert policy is not None
        session.add(
            DatasetVersion(
                dataset_id=dataset.id,
                number=self.versions,
                policy_version_id=policy.id,
                source_sha256=f"{self.versions:064x}",
                row_count=0,
                table_name=f"dsv_matrix_{self.versions}",
                report="{}",
                uploaded_by=str(uploader.id),
            )
        )
        session.flush()
        return self.versions

    def last_event(self) -> AuditEvent:
        with self.factory() as session:
            event = session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
            assert event is not None
            return event


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    folder = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{folder / 'matrix.db'}"
    schema.upgrade(url)
    stage = Stage(url, folder / "keys")
    yield stage
    stage.engine.dispose()


def _cells() -> Iterator[Any]:
    for endpoint, allowed in EXPECTED.items():
        relations = ("own", "other", "none") if ENDPOINTS[endpoint].scoped else ("none",)
        for role in ROLES:
            for relation in relations:
                ok = relation in allowed.get(role, frozenset())
                yield pytest.param(endpoint, role, relation, ok, id=f"{endpoint}-{role}-{relation}")


def test_every_endpoint_is_in_the_matrix() -> None:
    assert set(EXPECTED) == set(ENDPOINTS)


def test_the_matrix_is_the_apps_access_routes(tmp_path: Path) -> None:
    """Checked against the routes the app really serves, so a new access route without a
    row here fails (and a row whose route is gone does too)."""
    app = create_app(load_settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))
    served = {
        context.original_route.name
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and "access" in context.original_route.tags
    }
    assert served - set(ENDPOINTS) == set(), "access routes the matrix does not cover"
    assert set(ENDPOINTS) - served == set(), "matrix rows for routes the app does not serve"


@pytest.mark.parametrize(("endpoint", "role", "relation", "allowed"), list(_cells()))
def test_matrix(stage: Stage, endpoint: str, role: str, relation: str, allowed: bool) -> None:
    world = stage.build()
    spec = ENDPOINTS[endpoint]
    path = spec.path(world, relation)
    if endpoint == "project.members.remove":
        pid = MISSING if relation == "none" else world.project[relation]
        path = f"/projects/{pid}/members/{stage.people['colleague'].username}"
    if endpoint == "dataset_version.withdraw":
        number = MISSING if relation == "none" else world.version[relation]
        path = f"/datasets/{stage.dataset_name}/versions/{number}/withdraw"
    if endpoint == "access.explain":
        grant = world.grant["own"]
        user = stage.people["researcher"].username
        path = f"/access/explain?user={user}&action=grant.use&grant={grant}"
    body = spec.body(stage) if spec.body else None
    response = stage.client.request(spec.method, path, json=body, headers=stage.people[role].auth)
    if allowed:
        assert response.status_code == spec.status, response.text
    elif spec.scoped and relation == "none":
        assert response.status_code == 404, response.text
    else:
        assert response.status_code == 403, response.text
        event = stage.last_event()
        assert (event.action, event.outcome) == (endpoint, "denied")
        assert event.actor_id == str(stage.people[role].user.id)
