"""``fivesafes crate verify``: exit 0 with a table when valid, 1 naming each failed
check, 2 for a key file that is not an Ed25519 public key; no network at all."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.crate.package import release_crate
from fivesafes.keys.store import InMemoryKeyStore, verification_key_pem
from tests.unit.crate import samples

runner = CliRunner()


@pytest.fixture
def crate(tmp_path: Path) -> tuple[Path, Path]:
    store = InMemoryKeyStore.generate()
    facts = samples.crate_facts()
    zip_path = tmp_path / "release.crate.zip"
    zip_path.write_bytes(b"".join(release_crate(facts, store, samples.fake_copy(facts)).body))
    key = tmp_path / "KEY.pem"
    key.write_bytes(verification_key_pem(store))
    return zip_path, key


def test_valid_crate_exits_0_with_every_check(
    crate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("crate verify opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    zip_path, key = crate
    result = runner.invoke(app, ["crate", "verify", str(zip_path), "--public-key", str(key)])
    assert result.exit_code == 0, result.output
    for check in ("archive", "members", "signature", "metadata_sha256", "files", "profile"):
        assert check in result.output
    assert "FAILED" not in result.output
    assert "valid release crate" in result.output


def test_another_key_exits_1_naming_the_checks(crate: tuple[Path, Path], tmp_path: Path) -> None:
    zip_path, _ = crate
    other = tmp_path / "other.pem"
    other.write_bytes(verification_key_pem(InMemoryKeyStore.generate()))
    result = runner.invoke(app, ["crate", "verify", str(zip_path), "--public-key", str(other)])
    assert result.exit_code == 1
    assert "FAILED key" in result.output
    assert "FAILED signature" in result.output


def test_a_key_that_is_not_ed25519_is_an_input_error(
    crate: tuple[Path, Path], tmp_path: Path
) -> None:
    zip_path, _ = crate
    ec = tmp_path / "ec.pem"
    public = generate_private_key(SECP256R1()).public_key()
    ec.write_bytes(public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    result = runner.invoke(app, ["crate", "verify", str(zip_path), "--public-key", str(ec)])
    assert result.exit_code == 2
    assert "not an Ed25519 key" in result.output
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    result = runner.invoke(app, ["crate", "verify", str(zip_path), "--public-key", str(garbage)])
    assert result.exit_code == 2
    assert "invalid_public_key" in result.output
