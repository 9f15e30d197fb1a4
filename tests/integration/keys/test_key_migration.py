"""`fivesafes keys migrate --from local --to pkcs11` against a real SoftHSM2 token.

An installation that ingested with the local store moves to the token and ingests the
same extract again: every pseudonym (and date shift) is the same, the local key files are
gone, a checkpoint signed by the local key before the move still verifies, and a token
that already holds another installation's keys is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes import schema
from fivesafes.cli.main import app as cli
from fivesafes.config import reset_settings_cache
from fivesafes.keys import migration
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import MEMORY_KEY_NAMES, KeyStore, key_id
from tests.hsm.fixtures import SoftHsmToken
from tests.integration.ingestion.extracts import dev_rows
from tests.integration.keys.support import audit_events, ingested_rows, open_token, pseudonym_pairs

runner = CliRunner()
MEMORY = MEMORY_KEY_NAMES


def _ingested_pairs(
    database_url: str, keystore: KeyStore, folder: Path, rows: list[dict[str, str]]
) -> list[tuple[str, str]]:
    """Ingest ``rows`` as a new ``episodes`` dataset; its (pseudonym, shifted date) pairs."""
    folder.mkdir()
    return pseudonym_pairs(ingested_rows(database_url, keystore, folder, rows))


def _configure(
    monkeypatch: pytest.MonkeyPatch, token: SoftHsmToken, keys: Path, database_url: str
) -> None:
    """The CLI's view: the token settings, the local folder, FIVESAFES_KEYSTORE=local."""
    for name, value in token.environment(keys).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_KEYSTORE", "local")
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "400")
    reset_settings_cache()


def _use_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIVESAFES_KEYSTORE", "pkcs11")
    reset_settings_cache()


def _initialised_local_store(tmp_path: Path) -> LocalFileKeyStore:
    """An embedded installation's key folder, ``tmp_path/keys``, with fresh keys."""
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    return local


def _local_files(keys: Path) -> list[str]:
    return sorted(p.name for p in keys.iterdir() if p.name.endswith((".key", ".shred")))


def test_migration_keeps_every_pseudonym_and_shreds_the_local_files(
    fresh_softhsm_token: SoftHsmToken,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    local = _initialised_local_store(tmp_path)
    keys = local.path
    memory = {n: local.secret(n) for n in MEMORY}
    rows = dev_rows(40)
    # Ingested into the configured database, so its chain has events to checkpoint.
    before = _ingested_pairs(database_url, local, tmp_path / "before", rows)
    assert len(set(before)) > 10

    _configure(monkeypatch, fresh_softhsm_token, keys, database_url)
    signed = runner.invoke(cli, ["audit", "checkpoint", "--out", str(tmp_path / "cp.json")])
    assert signed.exit_code == 0, signed.output
    local_signing = local.verification_key()

    result = runner.invoke(cli, ["keys", "migrate", "--from", "local", "--to", "pkcs11"])
    assert result.exit_code == 0, result.output
    assert "FIVESAFES_KEYSTORE=pkcs11" in result.stdout
    for name in MEMORY:
        assert key_id(memory[name]) in result.stdout
    assert _local_files(keys) == []  # every local key file shredded, no mark left
    assert sorted(p.name for p in keys.glob("*.wrapped")) == [
        "date_shift.wrapped",
        "pseudonym.wrapped",
    ]

    token = open_token(fresh_softhsm_token, keys)
    assert {n: token.unwrap_file(n) for n in MEMORY} == memory
    assert token.verification_key() != local_signing
    after_url = f"sqlite:///{tmp_path / 'after.db'}"
    schema.upgrade(after_url)
    after = _ingested_pairs(after_url, token, tmp_path / "after", rows)
    assert after == before

    (details,) = audit_events(database_url, "keys.migrate")
    assert details["fingerprints"] == {n: key_id(memory[n]) for n in MEMORY}
    assert details["resumed"] is False
    assert sorted(details["files_shredded"]) == sorted(
        ["kek.key", "audit_signing.key", "pseudonym.key", "date_shift.key"]
    )
    logged = json.dumps(details) + result.output
    for secret in memory.values():
        assert secret.hex() not in logged

    # The checkpoint the local key signed before the move still verifies.
    _use_the_token(monkeypatch)
    verified = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(tmp_path / "cp.json")])
    assert verified.exit_code == 0, verified.output
    checkpoint = json.loads((tmp_path / "cp.json").read_text())
    assert checkpoint["seq"] > 0
    assert f"up to seq {checkpoint['seq']}" in verified.output
    # ...because the retired local key is trusted: without its record it would not.
    (keys / "audit_signing.retired.json").rename(tmp_path / "retired.json")
    reset_settings_cache()
    refused = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(tmp_path / "cp.json")])
    assert refused.exit_code != 0, refused.output


def test_a_migration_interrupted_before_shredding_resumes(
    fresh_softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local = _initialised_local_store(tmp_path)
    keys = local.path
    memory = {n: local.secret(n) for n in MEMORY}
    _configure(monkeypatch, fresh_softhsm_token, keys, f"sqlite:///{tmp_path / 'absent.db'}")

    def crash(*_: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(migration, "_verify", crash)
    first = runner.invoke(cli, ["keys", "migrate", "--from", "local", "--to", "pkcs11"])
    assert first.exit_code != 0
    assert "pseudonym.key" in _local_files(keys)  # nothing shredded
    assert open_token(fresh_softhsm_token, keys).unwrap_file("pseudonym") == memory["pseudonym"]

    monkeypatch.undo()
    _configure(monkeypatch, fresh_softhsm_token, keys, f"sqlite:///{tmp_path / 'absent.db'}")
    second = runner.invoke(cli, ["keys", "migrate", "--from", "local", "--to", "pkcs11"])
    assert second.exit_code == 0, second.output
    assert "finished an interrupted migration" in second.stdout
    assert _local_files(keys) == []
    token = open_token(fresh_softhsm_token, keys)
    assert {n: token.unwrap_file(n) for n in MEMORY} == memory


def test_a_migration_interrupted_while_shredding_finishes_the_shredding(
    fresh_softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local = _initialised_local_store(tmp_path)
    keys = local.path
    pseudonym = local.secret("pseudonym")
    token = open_token(fresh_softhsm_token, keys)
    real_shred = migration._shred_all

    def crash(_: Path) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(migration, "_shred_all", crash)
    with pytest.raises(RuntimeError):
        migration.migrate_local_to_pkcs11(LocalFileKeyStore(keys), token, last_seq=None)
    marked = _local_files(keys)
    assert marked
    assert all(name.endswith(".shred") for name in marked)
    monkeypatch.setattr(migration, "_shred_all", real_shred)
    done = migration.migrate_local_to_pkcs11(LocalFileKeyStore(keys), token, last_seq=None)
    assert done.resumed is True
    assert done.fingerprints["pseudonym"] == key_id(pseudonym)
    assert _local_files(keys) == []
    assert token.unwrap_file("pseudonym") == pseudonym


def test_a_token_holding_other_keys_is_refused_and_nothing_is_shredded(
    fresh_softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    other = open_token(fresh_softhsm_token, keys)
    other.init()  # another installation's keys, wrapped in the same folder
    theirs = other.unwrap_file("pseudonym")
    local = LocalFileKeyStore(keys)
    local.init()
    ours = local.secret("pseudonym")
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    _configure(monkeypatch, fresh_softhsm_token, keys, f"sqlite:///{tmp_path / 'absent.db'}")
    result = runner.invoke(cli, ["keys", "migrate", "--from", "local", "--to", "pkcs11"])
    assert result.exit_code != 0
    assert "already holds a pseudonym key with fingerprint" in result.output
    assert key_id(theirs) in result.output
    assert key_id(ours) in result.output
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before


def test_only_local_to_pkcs11_is_offered(
    fresh_softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _configure(monkeypatch, fresh_softhsm_token, tmp_path / "keys", "sqlite://")
    result = runner.invoke(cli, ["keys", "migrate", "--from", "pkcs11", "--to", "local"])
    assert result.exit_code != 0
    assert "only --from local --to pkcs11" in result.output


def test_nothing_to_migrate_says_so(
    fresh_softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    os.chmod(keys, 0o700)
    _configure(monkeypatch, fresh_softhsm_token, keys, f"sqlite:///{tmp_path / 'absent.db'}")
    result = runner.invoke(cli, ["keys", "migrate", "--from", "local", "--to", "pkcs11"])
    assert result.exit_code != 0
    assert "nothing to migrate" in result.output


def test_pseudonym_remap_keys_move_too_in_generation_order(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    local = _initialised_local_store(tmp_path)
    keys = local.path
    assert local.add_pseudonym_remap_key() == 2
    assert local.add_pseudonym_remap_key() == 3
    remap = local.pseudonym_remap_keys()
    token = open_token(fresh_softhsm_token, keys)
    done = migration.migrate_local_to_pkcs11(local, token, last_seq=None)
    assert done.remap_keys_added == 2
    assert done.fingerprints["pseudonym-remap-3"] == key_id(remap[1])
    assert "pseudonym-remap-2.key" in done.shredded
    assert _local_files(keys) == []
    reopened = open_token(fresh_softhsm_token, keys)
    assert reopened.pseudonym_remap_keys() == remap
    assert [reopened.unwrap_file(f"pseudonym-remap-{g}") for g in (2, 3)] == list(remap)
