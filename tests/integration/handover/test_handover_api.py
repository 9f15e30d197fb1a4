"""POST /datasets/{name}/handovers: a server-readable hand-over, confined to one folder.

The router is mounted here on the app the tests build (its place in the route matrix of
tests/integration/access is still to be declared, see docs/scale-out.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings, load_settings
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import DatasetVersion
from fivesafes.db import session_scope
from fivesafes.deid.engine import RunOptions
from fivesafes.deid.handover_output import deidentify_to_directory
from fivesafes.deid.policy import load_policy
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.open import open_keystore
from fivesafes.keys.store import public_key_fingerprint
from tests.integration.ingestion.extracts import dev_rows, policy_text, write_csv

TRAIL = AuditTrail.for_operator()


def _settings(database_url: str, tmp_path: Path, root: Path | None) -> Settings:
    return load_settings(
        database_url=database_url, keystore_path=tmp_path / "keys", handover_root=root
    )


def _client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "handovers").mkdir()
    return tmp_path / "handovers"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, root: Path) -> Settings:
    made = _settings(database_url, tmp_path, root)
    LocalFileKeyStore(made.keystore_path).init()
    return made


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings)


@pytest.fixture
def handover(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path, root: Path
) -> Path:
    """The episodes policy loaded and a hand-over of 40 rows under the root, signed by the
    server's own key store."""
    policy = tmp_path / "episodes.yaml"
    policy.write_text(policy_text())
    with session_scope(session_factory) as session:
        datasets.load_policy_file(session, TRAIL, policy)
    extract = write_csv(tmp_path / "episodes.csv", dev_rows(40))
    out = root / "job-1"
    deidentify_to_directory(
        extract,
        load_policy(policy),
        out,
        keystore=open_keystore(settings),
        options=RunOptions(workers=1),
    )
    return out


def _token(session_factory: sessionmaker[Session], name: str, role: Role) -> dict[str, str]:
    with session_factory() as session:
        user = identity.create_user(session, TRAIL, name, role)
        secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _versions(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(DatasetVersion)) or 0


def test_an_uploader_hands_over_a_directory_under_the_root(
    client: TestClient,
    handover: Path,
    settings: Settings,
    session_factory: sessionmaker[Session],
) -> None:
    headers = _token(session_factory, "ulla", Role.UPLOADER)
    response = client.post("/datasets/episodes/handovers", json={"path": "job-1"}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["dataset"], body["version"], body["rows"]) == ("episodes", 1, 40)
    fingerprint = public_key_fingerprint(open_keystore(settings).verification_key())
    assert body["provenance"]["signature_fingerprint"] == fingerprint
    assert set(body["provenance"]["files"]) == {"part-00000.parquet"}
    again = client.post(
        "/datasets/episodes/handovers", json={"path": str(handover)}, headers=headers
    )
    assert again.status_code == 409


def test_a_researcher_may_not(
    client: TestClient, handover: Path, session_factory: sessionmaker[Session]
) -> None:
    headers = _token(session_factory, "rhea", Role.RESEARCHER)
    response = client.post("/datasets/episodes/handovers", json={"path": "job-1"}, headers=headers)
    assert response.status_code == 403
    assert _versions(session_factory) == 0


def test_a_path_outside_the_root_is_refused(
    client: TestClient, handover: Path, root: Path, session_factory: sessionmaker[Session]
) -> None:
    headers = _token(session_factory, "ulla", Role.UPLOADER)
    (root / "sneaky").symlink_to(handover.parent.parent)  # inside, pointing outside
    outside = root.parent / "outside"
    handover.rename(outside)
    for path in ("../outside", str(outside), "sneaky/outside", ".", ""):
        response = client.post("/datasets/episodes/handovers", json={"path": path}, headers=headers)
        assert response.status_code in {403, 422}, path
        if path:
            assert response.json()["error"]["code"] == "handover_outside", path
    assert _versions(session_factory) == 0


def test_an_altered_hand_over_is_refused_naming_the_file(
    client: TestClient, handover: Path, session_factory: sessionmaker[Session]
) -> None:
    headers = _token(session_factory, "ulla", Role.UPLOADER)
    (handover / "part-00000.parquet").write_bytes(b"PAR1 not any more")
    response = client.post("/datasets/episodes/handovers", json={"path": "job-1"}, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "handover_altered_file"
    assert "part-00000.parquet" in error["message"]
    assert _versions(session_factory) == 0


def test_no_root_configured_refuses_every_path(
    database_url: str, tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    settings = _settings(database_url, tmp_path, None)
    LocalFileKeyStore(settings.keystore_path).init()
    headers = _token(session_factory, "ulla", Role.UPLOADER)
    for client in _client(settings):
        response = client.post(
            "/datasets/episodes/handovers", json={"path": str(tmp_path)}, headers=headers
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "handover_disabled"
