"""`fivesafes keys status` after a rotation: retired audit keys listed, the step audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import public_key_fingerprint
from tests.integration.keys.support import audit_events

runner = CliRunner()


def test_status_lists_retired_audit_keys_and_is_audited(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "keys"
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(folder))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_AUDIT_CHECKPOINT_DIR", str(tmp_path / "published"))
    monkeypatch.setenv("COLUMNS", "400")  # rich tables fold to the terminal width
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    store = LocalFileKeyStore(folder)
    old = public_key_fingerprint(store.verification_key())
    rotated = runner.invoke(app, ["keys", "rotate", "audit-signing"])
    assert rotated.exit_code == 0, rotated.stderr
    new = public_key_fingerprint(store.verification_key())
    assert new != old

    shown = runner.invoke(app, ["keys", "status"])
    assert shown.exit_code == 0, shown.stderr
    retired_lines = [line for line in shown.stdout.splitlines() if "(retired)" in line]
    assert len(retired_lines) == 1
    assert old in retired_lines[0]
    assert "last checkpoint seq" in retired_lines[0]
    (event,) = audit_events(database_url, "keys.status")
    assert event["retired_audit_keys"] == [old]
    fingerprints = event["fingerprints"]
    assert isinstance(fingerprints, dict)
    assert fingerprints["audit_signing"] == new
    assert event["missing"] == []


def test_status_of_an_incomplete_store_is_audited_with_what_is_missing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "keys"
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(folder))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    (folder / "date_shift.key").unlink()
    shown = runner.invoke(app, ["keys", "status"])
    assert shown.exit_code != 0
    assert "missing: date_shift" in shown.stderr
    (event,) = audit_events(database_url, "keys.status")
    assert event["missing"] == ["date_shift"]
