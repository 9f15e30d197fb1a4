"""Crates signed before an audit-signing key rotation: ``crate verify --retired-keys``.

After a rotation ``keys export-public`` writes the new key and, beside it, the retired
keys attested up to it. A crate signed by a retired key verifies with both files, only if
it was published while that key was in force; without the file it fails on its key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.crate.package import release_crate
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.retired import encode_retired_file
from fivesafes.keys.signing_rotation import rotate_signing_key
from fivesafes.keys.store import verification_key_pem
from tests.unit.crate import samples

runner = CliRunner()


def _crate(store: LocalFileKeyStore, path: Path, published: datetime) -> Path:
    facts = samples.crate_facts(samples.release(created_at=published, completed_at=published))
    path.write_bytes(b"".join(release_crate(facts, store, samples.fake_copy(facts)).body))
    return path


def _verify(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["crate", "verify", *args])
    return result.exit_code, result.output


def test_a_crate_signed_before_a_rotation_verifies_with_the_retired_keys(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    before = _crate(store, tmp_path / "before.zip", samples.T0)
    # Signed by the old key but claiming a publication after the key's retirement (as a
    # leaked retired key could): refused even with the retired keys given.
    forged = _crate(store, tmp_path / "forged.zip", datetime(2099, 1, 1, tzinfo=UTC))
    rotate_signing_key(store, final_checkpoint=lambda: None)
    after = _crate(store, tmp_path / "after.zip", samples.T0)
    pem, retired = tmp_path / "KEY.pem", tmp_path / "KEY.retired.json"
    pem.write_bytes(verification_key_pem(store))
    retired.write_bytes(encode_retired_file(store.retired_verification_keys()))

    assert _verify(str(after), "--public-key", str(pem))[0] == 0
    code, output = _verify(str(before), "--public-key", str(pem))
    assert code == 1
    assert "FAILED key" in output
    code, output = _verify(str(before), "--public-key", str(pem), "--retired-keys", str(retired))
    assert code == 0, output
    assert "retired key" in output
    code, output = _verify(str(forged), "--public-key", str(pem), "--retired-keys", str(retired))
    assert code == 1
    assert "FAILED key" in output
    assert "was retired" in output


def test_a_retired_keys_file_not_attested_up_to_the_key_is_refused(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    before = _crate(store, tmp_path / "before.zip", samples.T0)
    rotate_signing_key(store, final_checkpoint=lambda: None)
    retired = tmp_path / "KEY.retired.json"
    retired.write_bytes(encode_retired_file(store.retired_verification_keys()))
    stranger = LocalFileKeyStore(tmp_path / "other")
    stranger.init()
    pem = tmp_path / "OTHER.pem"
    pem.write_bytes(verification_key_pem(stranger))
    code, output = _verify(str(before), "--public-key", str(pem), "--retired-keys", str(retired))
    assert code != 0
    assert "KEY.retired.json" in output  # refused, naming the file: it leads to another key
    assert "valid release crate" not in output
