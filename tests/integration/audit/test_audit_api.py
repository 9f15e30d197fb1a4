"""The audit trail through the API: what gets recorded, and how officers review it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.identity import service
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore

TRAIL = AuditTrail.for_operator()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    LocalFileKeyStore(settings.keystore_path).init()
    with TestClient(create_app(settings)) as client:
        yield client


def _user(factory: sessionmaker[Session], username: str, role: Role) -> tuple[str, str]:
    with factory() as session:
        user = service.create_user(session, TRAIL, username, role)
        secret = service.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
        return str(user.id), secret


def _events(factory: sessionmaker[Session]) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_mutation_and_its_event_commit_together(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    admin_id, admin = _user(session_factory, "root", Role.ADMIN)
    response = client.post(
        "/users", json={"username": "ann", "role": "researcher"}, headers=_auth(admin)
    )
    assert response.status_code == 201
    event = _events(session_factory)[-1]
    assert (event.action, event.outcome, event.actor_id, event.actor_role) == (
        "user.create",
        "success",
        admin_id,
        "admin",
    )
    assert event.target_id == response.json()["id"]
    assert event.request_id == response.headers["x-request-id"]
    assert event.client_addr == "testclient"
    assert "ann" not in event.details  # ids and roles, not names


def test_bad_token_is_recorded_as_denied_without_the_token(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    response = client.get("/users", headers=_auth("fs_guessing-a-token"))
    assert response.status_code == 401
    event = _events(session_factory)[-1]
    assert (event.action, event.outcome, event.actor_id) == ("user.list", "denied", None)
    assert json.loads(event.details)["code"] == "invalid_token"
    assert "guessing" not in event.details
    assert event.request_id == response.headers["x-request-id"]


def test_forbidden_and_failed_attempts_are_recorded(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    researcher_id, researcher = _user(session_factory, "rex", Role.RESEARCHER)
    _, admin = _user(session_factory, "root", Role.ADMIN)
    assert client.get("/audit/events", headers=_auth(researcher)).status_code == 403
    denied = _events(session_factory)[-1]
    assert (denied.action, denied.outcome, denied.actor_id) == (
        "audit.view",
        "denied",
        researcher_id,
    )
    client.post("/users", json={"username": "rex", "role": "admin"}, headers=_auth(admin))
    failed = _events(session_factory)[-1]
    assert (failed.action, failed.outcome) == ("user.create", "failed")
    assert json.loads(failed.details)["code"] == "user_exists"
    # the refused creation itself left no user and no success event
    assert [e.action for e in _events(session_factory)].count("user.create") == 3


def test_governance_reviews_filters_and_pages(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    _, officer = _user(session_factory, "gov", Role.GOVERNANCE)
    for _ in range(5):
        client.get("/me", headers=_auth("fs_bad"))
    page = client.get(
        "/audit/events", params={"outcome": "denied", "limit": 2}, headers=_auth(officer)
    ).json()
    assert [e["outcome"] for e in page["events"]] == ["denied", "denied"]
    seen = [e["seq"] for e in page["events"]]
    while page["next_cursor"] is not None:
        page = client.get(
            "/audit/events",
            params={"outcome": "denied", "limit": 2, "after": page["next_cursor"]},
            headers=_auth(officer),
        ).json()
        seen += [e["seq"] for e in page["events"]]
    assert len(seen) == 5
    assert seen == sorted(seen)
    by_prefix = client.get(
        "/audit/events", params={"action": "token."}, headers=_auth(officer)
    ).json()["events"]
    assert {e["action"] for e in by_prefix} == {"token.issue"}


def test_csv_export(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    _, officer = _user(session_factory, "gov", Role.GOVERNANCE)
    response = client.get("/audit/events.csv", headers=_auth(officer))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows] == ["user.create", "token.issue", "audit.export"]
    assert rows[0]["hash"] == rows[1]["prev_hash"]


def test_verify_and_checkpoint_endpoints(
    client: TestClient, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    _, officer = _user(session_factory, "gov", Role.GOVERNANCE)
    verified = client.get("/audit/verify", headers=_auth(officer)).json()
    assert verified["ok"] is True
    assert verified["events_verified"] == 2
    made = client.post("/audit/checkpoints", headers=_auth(officer))
    assert made.status_code == 201
    # The committed head is signed (create, issue, verify), then the checkpoint recorded.
    assert made.json()["seq"] == 3
    assert _events(session_factory)[-1].action == "audit.checkpoint"
    published = list(settings.audit_checkpoint_dir.glob("checkpoint-*.json"))
    assert len(published) == 1
    assert json.loads(published[0].read_text())["signature"] == made.json()["signature"]
    again = client.get("/audit/verify", headers=_auth(officer)).json()
    assert (again["ok"], again["checkpoint_seq"]) == (True, 3)
    # the published file and the database row, both checked with the key store's key
    assert again["checkpoints_checked"] == 2
