"""Crates over the in-process API on both dialects: a real download, then its crate,
verified with the exported key by the CLI; who may have one; the project's crate."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fivesafes.audit.models import AuditEvent
from fivesafes.cli.main import app
from fivesafes.closeout.models import AttestationState, DestructionAttestation
from fivesafes.crate.verify import verify_crate
from fivesafes.db import session_scope, utcnow
from fivesafes.keys.store import InMemoryKeyStore, verification_key_pem
from fivesafes.release.retained_models import ReleaseCopy
from tests.factories.release_world import World

runner = CliRunner()


def _download(world: World, who: str = "a") -> tuple[str, bytes]:
    grant = world.grant("a")
    response = world.client.get(f"/grants/{grant}/data", headers=world.people[who].auth)
    assert response.status_code == 200, response.text
    return response.headers["X-Release-Id"], response.content


def _pem(world: World) -> Path:
    path = world.tmp / "audit-key.pem"
    path.write_bytes(verification_key_pem(world.keystore))
    return path


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_release_crate_holds_the_download_and_verifies_with_the_exported_key(
    world: World,
) -> None:
    release_id, data = _download(world)
    response = world.client.get(f"/releases/{release_id}/crate", headers=world.people["a"].auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert f'filename="release-{release_id}.crate.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        data_name = next(n for n in names if n.startswith("grant-"))
        assert archive.read(data_name) == data
        metadata = json.loads(archive.read("ro-crate-metadata.json"))
    assert sorted(names) == sorted([data_name, "ro-crate-metadata.json", "ro-crate-signature.json"])
    index = {e["@id"]: e for e in metadata["@graph"]}
    assert index[data_name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert index["#user-" + world.people["a"].username]["@type"] == "Person"
    assert index["#user-" + world.people["officer"].username]["@type"] == "Person"
    assert any(e.get("@type") == "ReceiveAction" for e in metadata["@graph"])  # the upload
    assert "filename" not in json.dumps(metadata)
    crate = world.tmp / "release.crate.zip"
    crate.write_bytes(response.content)
    assert verify_crate(crate, world.keystore.verification_key()).valid
    result = runner.invoke(app, ["crate", "verify", str(crate), "--public-key", str(_pem(world))])
    assert result.exit_code == 0, result.output
    assert "valid release crate" in result.output
    (event,) = [e for e in _events(world, "release.crate") if e.outcome == "success"]
    details = json.loads(event.details)
    assert event.target_id == release_id
    assert details["files"] == {data_name: hashlib.sha256(data).hexdigest()}
    assert len(details["metadata_sha256"]) == 64


def test_cli_names_each_failed_check(world: World) -> None:
    release_id, _ = _download(world)
    body = world.client.get(f"/releases/{release_id}/crate", headers=world.people["a"].auth)
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(body.content)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    data_name = next(n for n in members if n.startswith("grant-"))
    members[data_name] = members[data_name][:-2] + b"x\n"
    tampered = world.tmp / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, member in members.items():
            archive.writestr(name, member)
    result = runner.invoke(
        app, ["crate", "verify", str(tampered), "--public-key", str(_pem(world))]
    )
    assert result.exit_code == 1
    assert "FAILED files" in result.output
    other = world.tmp / "other.pem"
    other.write_bytes(verification_key_pem(InMemoryKeyStore.generate()))
    crate = world.tmp / "good.zip"
    crate.write_bytes(body.content)
    result = runner.invoke(app, ["crate", "verify", str(crate), "--public-key", str(other)])
    assert result.exit_code == 1
    assert "FAILED signature" in result.output
    assert "FAILED key" in result.output


def test_who_may_have_a_release_crate(world: World) -> None:
    release_id, _ = _download(world)
    path = f"/releases/{release_id}/crate"
    for who in ("outsider", "b"):  # not a member / a member of another project: as unknown
        response = world.client.get(path, headers=world.people[who].auth)
        assert response.status_code == 404, (who, response.text)
        assert response.json()["error"]["code"] == "release_not_found"
    unknown = world.client.get(f"/releases/{uuid.uuid4()}/crate", headers=world.people["a"].auth)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "release_not_found"
    # Governance may see the release but not take its data.
    officer = world.client.get(path, headers=world.people["officer"].auth)
    assert officer.status_code == 403
    assert world.client.get(path).status_code == 401
    # Each refusal is audited under the route's name; none is a success.
    refusals = _events(world, "release.crate")
    assert len(refusals) == 5
    assert all(e.outcome != "success" for e in refusals)


def test_no_retained_copy_is_a_409(world: World) -> None:
    release_id, _ = _download(world)
    with session_scope(world.factory) as session:
        copy = session.get(ReleaseCopy, uuid.UUID(release_id))
        assert copy is not None
        copy.destroyed_at, copy.destroyed_by, copy.destruction_reason = (
            utcnow(),
            "system",
            "project closed",
        )
    response = world.client.get(f"/releases/{release_id}/crate", headers=world.people["a"].auth)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "release_copy_unavailable"


def _accept_attestation(world: World, release_id: str) -> int:
    with session_scope(world.factory) as session:
        row = DestructionAttestation(
            project_id=world.projects["a"],
            release_id=uuid.UUID(release_id),
            destroyed_by="the project lead",
            destroyed_on=date(2026, 6, 1),
            method="secure erase",
            copies=json.dumps(["laptop LT-42"]),
            declaration="Every copy is destroyed.",
            signed_name="A. Researcher",
            content_sha256="ab" * 32,
            submitted_by=world.people["a"].user.id,
            state=AttestationState.ACCEPTED,
            reviewed_by=world.people["officer"].user.id,
            reviewed_at=utcnow(),
        )
        session.add(row)
        session.flush()
        return row.id


def _crate(world: World, path: str, who: str) -> tuple[dict[str, Any], list[str]]:
    response = world.client.get(path, headers=world.people[who].auth)
    assert response.status_code == 200, response.text
    result = verify_crate(io.BytesIO(response.content), world.keystore.verification_key())
    assert result.valid, result.failed
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return json.loads(archive.read("ro-crate-metadata.json")), archive.namelist()


def test_project_crate_lists_releases_by_hash_and_accepted_attestations(world: World) -> None:
    release_id, data = _download(world)
    attestation = _accept_attestation(world, release_id)
    path = f"/projects/{world.projects['a']}/crate"
    for who in ("a", "officer"):
        metadata, names = _crate(world, path, who)
        assert names == ["ro-crate-metadata.json", "ro-crate-signature.json"]
        index = {e["@id"]: e for e in metadata["@graph"]}
        assert index[f"#file-{release_id}"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert index[f"#attestation-{attestation}"]["@type"] == "DeleteAction"
        assert index[f"#project-{world.projects['a']}"]["@type"] == "Project"
    for who in ("outsider", "b"):
        assert world.client.get(path, headers=world.people[who].auth).status_code == 403
    assert (
        world.client.get("/projects/99999/crate", headers=world.people["a"].auth).status_code == 404
    )
    outcomes = sorted(e.outcome for e in _events(world, "project.crate"))
    assert outcomes.count("success") == 2
    assert len(outcomes) == 5
    # The release crate carries the accepted attestation too.
    metadata, _ = _crate(world, f"/releases/{release_id}/crate", "a")
    assert any(e["@id"] == f"#attestation-{attestation}" for e in metadata["@graph"])


def test_fetch_crate_writes_both_files_verified(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = world.grant("a")
    transport = world.client._transport
    real = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        return real(transport=transport, **kwargs)

    monkeypatch.setattr(httpx, "Client", client)
    out = world.tmp / "release.csv"
    result = runner.invoke(
        app,
        ["fetch", str(grant), "--out", str(out), "--crate", "--public-key", str(_pem(world)),
         "--token", world.people["a"].token, "--url", "http://testserver"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    crate = world.tmp / "release.csv.crate.zip"
    assert crate.exists()
    assert out.exists()
    check = verify_crate(crate, world.keystore.verification_key())
    assert check.valid
    assert hashlib.sha256(out.read_bytes()).hexdigest() in check.signed["files"].values()
    assert not list(world.tmp.glob(".*.partial"))
