"""Who sees an upload: its uploader and governance, nobody else (issue 13).

Another uploader is told a foreign upload does not exist (404, the same body as for an id
never issued) and does not find it in any list: the API's, or the upload page's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.config import Settings
from fivesafes.datasets.models import Upload, UploadState
from fivesafes.db import session_scope, utcnow
from fivesafes.errors import ConflictError
from fivesafes.identity.models import Role
from fivesafes.identity.service import actor_of
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.service import create_upload
from fivesafes.keys.store import InMemoryKeyStore
from tests.factories.people import Person, person
from tests.integration.access.helpers import TRAIL, make_dataset


@dataclass
class World:
    client: TestClient
    people: dict[str, Person]
    uploads: dict[str, uuid.UUID]  # person -> the upload they sent


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session]) -> World:
    app = create_app(settings)
    app.state.ingestion_runner = IngestionRunner(
        Ingestor(session_factory, InMemoryKeyStore.generate())
    )
    with session_scope(session_factory) as session:
        people = {
            "alice": person(session, Role.UPLOADER, "alice"),
            "bob": person(session, Role.UPLOADER, "bob"),
            "officer": person(session, Role.GOVERNANCE, "gov"),
            "researcher": person(session, Role.RESEARCHER, "res"),
            "admin": person(session, Role.ADMIN, "adm"),
        }
        dataset = make_dataset(session).name
    sent = {}
    with session_scope(session_factory) as session:
        for minutes, name in ((2, "alice"), (1, "bob")):
            trail = people[name].trail
            upload = create_upload(
                session, trail, dataset, filename=f"{name}-extract.csv", size=10, sha256=name * 8
            )
            # A failed upload's errors are what another uploader must never read.
            upload.created_at = utcnow() - timedelta(minutes=minutes)
            upload.state = UploadState.FAILED
            upload.errors = json.dumps([{"code": "bad_row", "message": f"{name}'s row 2"}])
            sent[name] = upload.id
    return World(TestClient(app, base_url="https://testserver"), people, sent)


def _get(world: World, who: str, path: str) -> httpx.Response:
    response: httpx.Response = world.client.get(
        path, headers=world.people[who].auth, follow_redirects=False
    )
    return response


def test_an_uploader_reads_their_own_upload_and_governance_reads_any(world: World) -> None:
    for who in ("alice", "officer"):
        response = world.client.get(
            f"/uploads/{world.uploads['alice']}", headers=world.people[who].auth
        )
        assert response.status_code == 200, (who, response.text)
        assert response.json()["filename"] == "alice-extract.csv"
        assert response.json()["errors"][0]["message"] == "alice's row 2"


def test_another_uploader_is_told_the_upload_does_not_exist(world: World) -> None:
    foreign = world.client.get(
        f"/uploads/{world.uploads['alice']}", headers=world.people["bob"].auth
    )
    unknown_id = uuid.uuid4()
    unknown = world.client.get(f"/uploads/{unknown_id}", headers=world.people["bob"].auth)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"]["code"] == unknown.json()["error"]["code"] == "upload_not_found"
    # Nothing but the id tells the two apart: existence does not leak.
    assert _shape(foreign, world.uploads["alice"]) == _shape(unknown, unknown_id)
    assert "alice" not in foreign.text


def _shape(response: httpx.Response, upload_id: uuid.UUID) -> object:
    body = response.json()
    body.pop("request_id", None)
    return json.loads(json.dumps(body).replace(str(upload_id), "ID"))


@pytest.mark.parametrize("who", ["researcher", "admin"])
def test_other_roles_may_not_read_uploads(world: World, who: str) -> None:
    for path in (f"/uploads/{world.uploads['alice']}", "/uploads"):
        response = world.client.get(path, headers=world.people[who].auth)
        assert response.status_code == 403, (who, path, response.text)


def test_the_list_holds_the_callers_own_uploads_and_governance_sees_all(world: World) -> None:
    def listed(who: str) -> set[str]:
        response = world.client.get("/uploads", headers=world.people[who].auth)
        assert response.status_code == 200, response.text
        return {u["id"] for u in response.json()}

    alice, bob = str(world.uploads["alice"]), str(world.uploads["bob"])
    assert listed("alice") == {alice}
    assert listed("bob") == {bob}
    assert listed("officer") == {alice, bob}


def test_the_list_is_newest_first_and_bounded(world: World) -> None:
    every = world.client.get("/uploads", headers=world.people["officer"].auth).json()
    assert [u["id"] for u in every] == [str(world.uploads["bob"]), str(world.uploads["alice"])]
    response = world.client.get("/uploads?limit=1", headers=world.people["officer"].auth)
    assert response.status_code == 200
    assert [u["id"] for u in response.json()] == [str(world.uploads["bob"])]
    for bad in ("0", "501", "many"):
        refused = world.client.get(f"/uploads?limit={bad}", headers=world.people["officer"].auth)
        assert refused.status_code == 422, bad
        assert "limit" in refused.text


def test_the_upload_pages_show_another_uploaders_upload_to_nobody(world: World) -> None:
    alice = world.uploads["alice"]
    for page in (f"/web/uploads/{alice}", f"/web/uploads/{alice}/state"):
        assert _get(world, "alice", page).status_code == 200
        assert _get(world, "officer", page).status_code == 200
        refused = _get(world, "bob", page)
        assert refused.status_code == 404, page
        assert "alice" not in refused.text


def test_the_upload_page_lists_only_the_uploaders_own_recent_uploads(world: World) -> None:
    page = _get(world, "bob", "/web/upload")
    assert page.status_code == 200
    assert "bob-extract.csv" in page.text
    assert "alice-extract.csv" not in page.text
    assert str(world.uploads["alice"]) not in page.text


def test_uploads_sent_from_the_shell_are_governance_only(
    world: World, session_factory: sessionmaker[Session]
) -> None:
    with session_scope(session_factory) as session:
        upload = session.get(Upload, world.uploads["alice"])
        assert upload is not None
        upload.uploaded_by = TRAIL.context.actor.id  # "os:<account>", as `fivesafes ingest`
    assert _get(world, "alice", f"/uploads/{world.uploads['alice']}").status_code == 404
    assert _get(world, "officer", f"/uploads/{world.uploads['alice']}").status_code == 200


def test_a_duplicate_in_progress_is_named_only_to_its_own_uploader(
    session_factory: sessionmaker[Session],
) -> None:
    """The refusal of a file already being ingested names the upload only to its uploader:
    another uploader would learn an id they may not see (and its existence)."""
    with session_scope(session_factory) as session:
        alice = person(session, Role.UPLOADER, "alice2")
        bob = person(session, Role.UPLOADER, "bob2")
        dataset = make_dataset(session).name
    with session_scope(session_factory) as session:
        trail = TRAIL.acting_as(actor_of(alice.user))
        pending = create_upload(session, trail, dataset, filename="a.csv", size=10, sha256="c" * 64)
        pending_id = str(pending.id)
    for who, named in ((alice, True), (bob, False)):
        trail = TRAIL.acting_as(actor_of(who.user))
        with session_scope(session_factory) as session, pytest.raises(ConflictError) as refused:
            create_upload(session, trail, dataset, filename="a.csv", size=10, sha256="c" * 64)
        assert (pending_id in str(refused.value)) is named
        assert "already being ingested" in str(refused.value)
