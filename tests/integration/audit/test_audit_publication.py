"""Checkpoints published outside the database, and the key they are trusted with."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.app import create_app
from fivesafes.audit.checkpoints import load_checkpoint, public_key_b64
from fivesafes.audit.publish import SYSLOG_TAG, CheckpointPublisher
from fivesafes.audit.signing import checkpoint_if_advanced, make_checkpoint
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import trusted_public_key
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings, load_settings
from fivesafes.db import make_engine
from fivesafes.errors import ConfigurationError
from fivesafes.identity import service
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.audit.helpers import triggers_disabled
from tests.integration.audit.test_audit_chain import _append

runner = CliRunner()


def test_published_file_is_read_only_and_never_replaced(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    keys, folder = InMemoryKeyStore.generate(), tmp_path / "published"
    _append(session_factory, 3)
    with session_factory() as session:
        made = make_checkpoint(session, keys, CheckpointPublisher(folder))
        session.commit()
    (path,) = folder.iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert load_checkpoint(path) == made
    with session_factory() as session:  # the head has not moved: nothing new is signed
        assert checkpoint_if_advanced(session, keys, CheckpointPublisher(folder)) is None
    _append(session_factory, 1)
    with session_factory() as session:
        again = checkpoint_if_advanced(session, keys, CheckpointPublisher(folder))
        session.commit()
    assert again is not None
    assert again.seq == 4
    assert len(list(folder.iterdir())) == 2
    assert load_checkpoint(path) == made  # the first file is untouched


def test_a_forged_stored_checkpoint_does_not_stop_periodic_checkpoints(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    keys, folder = InMemoryKeyStore.generate(), tmp_path / "published"
    _append(session_factory, 2)
    with session_factory() as session:  # a row claiming a far-off head, under no trusted key
        session.execute(
            text(
                "INSERT INTO audit_checkpoints (seq, hash, created_at, public_key, signature) "
                "VALUES (999, :h, CURRENT_TIMESTAMP, 'x', 'y')"
            ),
            {"h": "a" * 64},
        )
        session.commit()
    with session_factory() as session:
        # Refused (the database holds a checkpoint the key did not sign), and logged.
        assert checkpoint_if_advanced(session, keys, CheckpointPublisher(folder)) is None
    assert not folder.exists()


def test_checkpoints_are_sent_to_syslog(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    keys = InMemoryKeyStore.generate()
    _append(session_factory, 2)
    try:
        publisher = CheckpointPublisher(tmp_path / "published", f"127.0.0.1:{port}")
        with session_factory() as session:
            made = make_checkpoint(session, keys, publisher)
            session.commit()
        line = receiver.recv(65536).decode("utf-8")
    finally:
        receiver.close()
    assert f"{SYSLOG_TAG}: " in line
    sent = json.loads(line.split(f"{SYSLOG_TAG}: ", 1)[1].rstrip("\x00"))
    assert (sent["seq"], sent["hash"], sent["signature"]) == (made.seq, made.hash, made.signature)


def test_configured_public_key_wins_and_is_validated(tmp_path: Path) -> None:
    keys = InMemoryKeyStore.generate()
    other = public_key_b64(InMemoryKeyStore.generate())
    assert trusted_public_key(load_settings(), keys) == public_key_b64(keys)
    assert trusted_public_key(load_settings(audit_public_key=other), keys) == other
    with pytest.raises(ConfigurationError, match="FIVESAFES_AUDIT_PUBLIC_KEY: not base64"):
        trusted_public_key(load_settings(audit_public_key="not base64!"), keys)
    with pytest.raises(ConfigurationError, match="32 bytes, not 3"):
        trusted_public_key(load_settings(audit_public_key="YWJj"), keys)
    with pytest.raises(ConfigurationError, match="no trusted audit public key"):
        trusted_public_key(load_settings(), None)


@pytest.fixture
def officer_client(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    LocalFileKeyStore(settings.keystore_path).init()
    with TestClient(create_app(settings)) as client:
        factory = client.app.state.session_factory  # type: ignore[attr-defined]
        with factory() as session:
            user = service.create_user(session, AuditTrail.for_operator(), "gov", Role.GOVERNANCE)
            secret = service.issue_token(
                session, AuditTrail.for_operator(), user, "t", timedelta(days=1)
            ).secret
            session.commit()
        yield client, {"Authorization": f"Bearer {secret}"}


def test_api_verifies_with_the_configured_key_not_the_stored_one(
    officer_client: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, auth = officer_client
    assert client.post("/audit/checkpoints", headers=auth).status_code == 201
    assert client.get("/audit/verify", headers=auth).json()["ok"] is True
    other = public_key_b64(InMemoryKeyStore.generate())
    client.app.state.settings = settings.model_copy(update={"audit_public_key": other})  # type: ignore[attr-defined]
    for against in ("database", "published"):
        body = client.get("/audit/verify", params={"against": against}, headers=auth).json()
        assert (body["ok"], body["damage"]) == (False, "bad_checkpoint")
    refused = client.get("/audit/verify", params={"against": "elsewhere"}, headers=auth)
    assert refused.status_code == 422


def test_api_refuses_to_sign_over_damage(
    officer_client: tuple[TestClient, dict[str, str]], settings: Settings
) -> None:
    client, auth = officer_client
    engine = make_engine(settings.database_url)
    try:
        with triggers_disabled(engine) as connection:
            connection.execute(text("UPDATE audit_events SET actor_id = 'x' WHERE seq = 1"))
    finally:
        engine.dispose()
    response = client.post("/audit/checkpoints", headers=auth)
    assert response.status_code == 409
    assert "edited at seq 1" in response.text
    assert not list(settings.audit_checkpoint_dir.glob("*.json"))


def test_cli_verify_against_an_export_sees_a_cut_tail(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert runner.invoke(cli, ["audit", "checkpoint"]).exit_code == 0
    for name in ("amy", "ben"):
        assert runner.invoke(cli, ["users", "add", name, "--role", "researcher"]).exit_code == 0
    export = tmp_path / "offsite.csv"
    shown = runner.invoke(cli, ["audit", "show", "--csv", "--limit", "1000"])
    export.write_text(shown.stdout)
    assert runner.invoke(cli, ["audit", "verify", "--export", str(export)]).exit_code == 0
    engine = make_engine(empty_database_url)
    try:
        last_exported = int(shown.stdout.splitlines()[-1].split(",", 1)[0])
        with triggers_disabled(engine) as connection:  # the tail from the export's last on
            connection.execute(
                text("DELETE FROM audit_events WHERE seq >= :s"), {"s": last_exported}
            )
    finally:
        engine.dispose()
    bad = runner.invoke(cli, ["audit", "verify", "--export", str(export)])
    assert bad.exit_code == 1, bad.output
    assert f"truncated at seq {last_exported}" in bad.output
    # The published checkpoint came before the users: without the export, no one sees it.
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    assert os.listdir(tmp_path / "var" / "audit-checkpoints")
