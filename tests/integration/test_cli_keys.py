"""`fivesafes keys`: the local key ceremony, status and export-public, audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.config import load_settings
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.open import open_keystore
from fivesafes.keys.store import KEY_NAMES, MEMORY_KEY_NAMES, public_key_fingerprint
from tests.hsm.fixtures import SoftHsmToken
from tests.integration.keys.support import audit_events

runner = CliRunner()


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "keys"
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(folder))
    monkeypatch.setenv("COLUMNS", "400")  # rich tables fold to the terminal width
    return folder


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _material(folder: Path) -> list[str]:
    """Every key file's bytes in the forms a leak would take."""
    raw = [(folder / f"{name}.key").read_bytes() for name in KEY_NAMES]
    return [b.hex() for b in raw] + [b.hex().upper() for b in raw]


def test_ceremony_is_audited_and_shows_only_fingerprints(
    database_url: str, keys_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    code, out, err = _run("keys", "init")
    assert code == 0, err
    store = LocalFileKeyStore(keys_dir)
    infos = store.status()
    for info in infos:
        assert info.fingerprint in out
    (init,) = audit_events(database_url, "keys.init")
    assert init["keystore"] == "local"
    assert init["names"] == list(KEY_NAMES)
    assert init["fingerprints"] == {i.name: i.fingerprint for i in infos}

    code, status_out, err = _run("keys", "status")
    assert code == 0, err
    for info in infos:
        assert info.name in status_out
        assert info.fingerprint in status_out
        assert f"{info.name}.key (0600)" in status_out
    assert "HMAC-SHA256 secret" in status_out
    assert "Ed25519 signing key" in status_out

    pem_path = tmp_path / "audit-public.pem"
    code, export_out, err = _run("keys", "export-public", "--out", str(pem_path))
    assert code == 0, err
    public = load_pem_public_key(pem_path.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    assert public.public_bytes_raw() == store.verification_key()
    (exported,) = audit_events(database_url, "keys.export_public")
    signing = next(i for i in infos if i.name == "audit_signing")
    assert exported["fingerprint"] == signing.fingerprint
    assert exported["file"] == str(pem_path)

    code, check_out, err = _run("keys", "check")
    assert code == 0, err
    assert "all keys present and working" in check_out

    shown = out + status_out + export_out + check_out + json.dumps([init, exported])
    for leak in _material(keys_dir):
        assert leak not in shown


def test_init_before_the_database_says_it_was_not_audited(
    keys_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "later" / "fivesafes.db"
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{database}")
    code, _, err = _run("keys", "init")
    assert code == 0, err
    assert "keys.init was not audited" in err
    assert "no database" in err
    assert not database.exists()  # not created just to audit into
    assert len(LocalFileKeyStore(keys_dir).status()) == 4


def test_init_with_an_unmigrated_database_is_not_audited(
    empty_database_url: str, keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if empty_database_url.startswith("sqlite:///"):
        Path(empty_database_url.removeprefix("sqlite:///")).touch()  # there, but empty
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    code, _, err = _run("keys", "init")
    assert code == 0, err
    assert "not at the current schema" in err


def test_second_init_is_refused_and_keys_are_kept(
    keys_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    assert _run("keys", "init")[0] == 0
    before = (keys_dir / "pseudonym.key").read_bytes()
    code, _, err = _run("keys", "init")
    assert code == 1
    assert "refusing to overwrite" in err
    assert (keys_dir / "pseudonym.key").read_bytes() == before


def test_status_names_missing_keys(keys_dir: Path) -> None:
    LocalFileKeyStore(keys_dir).init()
    (keys_dir / "kek.key").unlink()
    code, out, err = _run("keys", "status")
    assert code == 1
    assert "missing" in out
    assert "missing: kek" in err
    code, _, err = _run("keys", "check")
    assert code == 1
    assert "lacks kek" in err


def test_status_without_a_store_says_what_to_do(keys_dir: Path) -> None:
    code, _, err = _run("keys", "status")
    assert code == 1
    assert "keys init" in err


def test_unknown_keystore_is_refused(keys_dir: Path) -> None:
    code, _, err = _run("keys", "init", "--keystore", "vault")
    assert code == 2
    assert "give local or pkcs11" in err
    assert not keys_dir.exists()


def test_pkcs11_init_needs_its_settings(keys_dir: Path) -> None:
    pytest.importorskip("pkcs11", reason="python-pkcs11 (the hsm extra) is not installed")
    code, _, err = _run("keys", "init", "--keystore", "pkcs11")
    assert code == 1
    assert "FIVESAFES_PKCS11_MODULE" in err
    assert not keys_dir.exists()


def test_pkcs11_ceremony_status_and_export(
    fresh_softhsm_token: SoftHsmToken, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "wrapped"
    for name, value in fresh_softhsm_token.environment(folder).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    code, out, err = _run("keys", "init", "--keystore", "pkcs11")
    assert code == 0, err
    assert "keys.init was not audited" in err
    assert sorted(p.name for p in folder.iterdir()) == ["date_shift.wrapped", "pseudonym.wrapped"]
    code, status_out, err = _run("keys", "status")
    assert code == 0, err
    assert "PKCS#11" in status_out
    for name in KEY_NAMES:
        assert name in status_out
    pem_path = tmp_path / "audit.pem"
    code, _, err = _run("keys", "export-public", "--out", str(pem_path))
    assert code == 0, err
    public = load_pem_public_key(pem_path.read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    code, check_out, err = _run("keys", "check")
    assert code == 0, err
    assert "all keys present and working" in check_out
    fingerprint = public_key_fingerprint(public.public_bytes_raw())
    assert fingerprint in out
    assert fingerprint in status_out
    code, _, err = _run("keys", "init", "--keystore", "pkcs11")
    assert code == 1
    store = open_keystore(load_settings())
    shown = out + status_out + check_out
    for name in MEMORY_KEY_NAMES:
        assert store.secret(name).hex() not in shown
