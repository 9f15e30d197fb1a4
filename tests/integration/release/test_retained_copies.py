"""Retained release copies end to end, on both dialects: a real download over the API
leaves an encrypted copy whose bytes are the downloaded bytes; an interrupted stream
leaves nothing; destroying a project's copies deletes them and audits each; `keys rotate
kek` rewraps them (local files and a SoftHSM2 token)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fivesafes.access.models import Grant
from fivesafes.audit.models import AuditEvent
from fivesafes.cli.main import app as cli
from fivesafes.config import reset_settings_cache
from fivesafes.db import session_scope, utcnow
from fivesafes.errors import ConflictError
from fivesafes.keys import migration
from fivesafes.keys.kek_rotation import rotate_kek
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.release import service
from fivesafes.release.download import Download, ReleaseLimits
from fivesafes.release.models import Release, ReleaseFormat, ReleaseState
from fivesafes.release.retained import (
    RetainedCopyWriter,
    destroy_project_copies,
    open_retained_copy,
    read_copy_file,
    retained_copy_path,
)
from fivesafes.release.retained_file import LOCK_NAME, RetainedCopyHeaders
from fivesafes.release.retained_models import ReleaseCopy
from tests.factories.release_world import World
from tests.hsm.fixtures import SoftHsmToken
from tests.integration.access.helpers import TRAIL
from tests.integration.keys.support import open_token

runner = CliRunner()


def _folder(world: World) -> Path:
    folder: Path = world.client.app.state.settings.release_copies_path  # type: ignore[attr-defined]
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME)


def _download(
    world: World, grant: int, fmt: str = "csv", who: str = "a"
) -> tuple[uuid.UUID, bytes]:
    response = world.client.get(
        f"/grants/{grant}/data", params={"format": fmt}, headers=world.people[who].auth
    )
    assert response.status_code == 200, response.text
    return uuid.UUID(response.headers["X-Release-Id"]), response.content


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_download_leaves_a_copy_of_exactly_its_bytes(world: World, fmt: str) -> None:
    grant = world.grant("a")
    release_id, body = _download(world, grant, fmt)
    folder = _folder(world)
    assert _files(folder) == [retained_copy_path(folder, release_id).name]
    assert body[:64] not in retained_copy_path(folder, release_id).read_bytes()
    with world.factory() as session:
        release = session.get(Release, release_id)
        row = session.get(ReleaseCopy, release_id)
        assert release is not None
        assert row is not None
        assert row.content_sha256 == release.content_sha256 == hashlib.sha256(body).hexdigest()
        assert row.byte_count == release.byte_count == len(body)
        assert row.file_name == f"grant-{grant}-release-{str(release_id)[:8]}.{fmt}"
        assert row.destroyed_at is None
        copy = open_retained_copy(session, folder, world.keystore, release_id)
        assert copy.read() == body
        assert (copy.file_name, copy.content_sha256) == (row.file_name, row.content_sha256)
        (event,) = session.scalars(
            select(AuditEvent).where(
                AuditEvent.target_id == str(release_id), AuditEvent.action == "release.complete"
            )
        ).all()
        assert json.loads(event.details)["copy_kept"] is True


def test_an_interrupted_stream_leaves_no_copy_and_no_file(world: World) -> None:
    grant_id = world.grant("a")
    folder = _folder(world)
    with session_scope(world.factory) as session:
        user = session.merge(world.people["a"].user)
        grant = session.get(Grant, grant_id)
        assert grant is not None
        prepared = service.prepare_release(
            session,
            TRAIL,
            world.keystore,
            world.policy,
            Download(user, grant, ReleaseFormat.CSV, utcnow()),
            engine=world.factory.kw["bind"],
            limits=ReleaseLimits(world.tmp / "spool", folder),
        )
    stream = cast(Generator[bytes], service.stream_release(prepared, world.factory))
    assert next(stream)  # the first chunk is out (and in the copy being written)
    assert len(_files(folder)) == 1
    stream.close()  # the client went away
    assert _files(folder) == []
    with world.factory() as session:
        release = session.get(Release, prepared.release_id)
        assert release is not None
        assert release.state == ReleaseState.INTERRUPTED
        assert session.get(ReleaseCopy, prepared.release_id) is None
        with pytest.raises(ConflictError, match="is interrupted: only a completed") as caught:
            open_retained_copy(session, folder, world.keystore, prepared.release_id)
        assert caught.value.code == "release_copy_unavailable"


def test_a_release_made_before_copies_were_kept_says_so(world: World) -> None:
    release_id, _ = _download(world, world.grant("a"))
    with session_scope(world.factory) as session:
        row = session.get(ReleaseCopy, release_id)
        session.delete(row)
    with world.factory() as session, pytest.raises(ConflictError, match="made before"):
        open_retained_copy(session, _folder(world), world.keystore, release_id)


def test_destroying_a_projects_copies_deletes_and_audits_each(world: World) -> None:
    grant_a, grant_b = world.grant("a"), world.grant("b", requester="b")
    first, _ = _download(world, grant_a)
    second, _ = _download(world, grant_a, "jsonl")
    other, other_body = _download(world, grant_b, who="b")
    folder = _folder(world)
    stray = folder / f".{first}.dead0000.partial"  # left by a process that died
    stray.write_bytes(b"x" * 200)
    with session_scope(world.factory) as session:
        destroyed = destroy_project_copies(
            session,
            folder,
            world.projects["a"],
            actor="system",
            reason="project closed",
            trail=TRAIL,
        )
    assert sorted(destroyed) == sorted([first, second])
    assert _files(folder) == [retained_copy_path(folder, other).name]
    with world.factory() as session:
        for release_id in (first, second):
            row = session.get(ReleaseCopy, release_id)
            release = session.get(Release, release_id)
            assert row is not None
            assert release is not None
            assert row.destroyed_at is not None
            assert (row.destroyed_by, row.destruction_reason) == ("system", "project closed")
            (event,) = session.scalars(
                select(AuditEvent).where(
                    AuditEvent.target_id == str(release_id),
                    AuditEvent.action == "release.copy_destroyed",
                )
            ).all()
            assert json.loads(event.details) == {
                "release_id": str(release_id),
                "sha256": release.content_sha256,
            }
            with pytest.raises(ConflictError, match=r"was destroyed on .* \(project closed\)"):
                open_retained_copy(session, folder, world.keystore, release_id)
        assert open_retained_copy(session, folder, world.keystore, other).read() == other_body
    with session_scope(world.factory) as session:  # again: nothing left to destroy
        assert (
            destroy_project_copies(
                session, folder, world.projects["a"], actor="system", reason="again", trail=TRAIL
            )
            == []
        )
    with world.factory() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "release.copy_destroyed")
        ).all()
        assert len(actions) == 2


def test_keys_rotate_kek_rewraps_the_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    folder = tmp_path / "copies"
    release_id = uuid.uuid4()
    writer = RetainedCopyWriter(folder, store, release_id)
    writer.write(b"row\n" * 1000)
    writer.publish()
    monkeypatch.setenv("FIVESAFES_KEYSTORE", "local")
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(store.path))
    monkeypatch.setenv("FIVESAFES_RELEASE_COPIES_PATH", str(folder))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    reset_settings_cache()
    old_id = store.kek_ids()[0]
    result = runner.invoke(cli, ["keys", "rotate", "kek"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 wrapped keys rewrapped" in result.stdout
    assert LocalFileKeyStore(store.path).kek_ids()[0] != old_id
    data = b"row\n" * 1000
    copy = read_copy_file(
        folder,
        LocalFileKeyStore(store.path),
        release_id,
        file_name="f.csv",
        byte_count=len(data),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert copy.read() == data


def test_a_token_kek_rotation_keeps_copies_readable(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    store = open_token(fresh_softhsm_token, tmp_path / "keys")
    store.init()
    folder = tmp_path / "copies"
    release_id = uuid.uuid4()
    data = b"pseudonym,date\n" * 5000
    writer = RetainedCopyWriter(folder, store, release_id)
    writer.write(data)
    writer.publish()
    done = rotate_kek(store, [RetainedCopyHeaders(folder)])
    assert done.rewrapped >= 1
    reopened = open_token(fresh_softhsm_token, tmp_path / "keys")
    copy = read_copy_file(
        folder,
        reopened,
        release_id,
        file_name="f.csv",
        byte_count=len(data),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert copy.read() == data


def test_a_key_migration_to_a_token_keeps_copies_readable(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    folder = tmp_path / "copies"
    release_id = uuid.uuid4()
    data = b"pseudonym,date\n" * 3000
    writer = RetainedCopyWriter(folder, local, release_id)
    writer.write(data)
    writer.publish()
    token = open_token(fresh_softhsm_token, local.path)
    done = migration.migrate_local_to_pkcs11(
        local, token, last_seq=None, elsewhere=[RetainedCopyHeaders(folder)]
    )
    assert done.rewrapped == 1
    assert not (local.path / "kek.key").exists()  # the local KEK is shredded
    copy = read_copy_file(
        folder,
        open_token(fresh_softhsm_token, local.path),
        release_id,
        file_name="f.csv",
        byte_count=len(data),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
    assert copy.read() == data
