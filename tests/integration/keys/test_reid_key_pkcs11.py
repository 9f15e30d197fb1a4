"""The re-identification key in a PKCS#11 token (SoftHSM2, tests/hsm).

The key is generated in the token, SENSITIVE and never extractable, usable only to
encrypt and decrypt; NHS numbers are sealed and opened *by the token*, so a blob opens
only through a session on that token, never with anything this process could hold.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.config import reset_settings_cache
from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.pkcs11_store import Pkcs11KeyStore
from fivesafes.keys.reid_blob import REID_KEY_LABEL, record_aad, unpack
from fivesafes.keys.store import KEY_NAMES, InMemoryKeyStore, KeyStore
from tests.hsm.fixtures import SoftHsm, SoftHsmToken
from tests.integration.keys.support import open_token

NHS = b"9434765919"
AAD = record_aad(3, 2, "00112233445566778899aabbccddeeff")


@pytest.fixture
def store(fresh_softhsm_token: SoftHsmToken, tmp_path: Path) -> Pkcs11KeyStore:
    """A store on an empty token: the platform's keys and the re-identification key."""
    opened = open_token(fresh_softhsm_token, tmp_path / "keys")
    opened.init()
    opened.init_reidentification_key()
    return opened


def _token_session(token: SoftHsmToken) -> pkcs11.Session:
    return pkcs11.lib(str(token.module)).get_token(token_label=token.label).open(rw=False)


def test_the_key_is_sensitive_non_extractable_and_only_encrypts(
    store: Pkcs11KeyStore, fresh_softhsm_token: SoftHsmToken
) -> None:
    session = _token_session(fresh_softhsm_token)
    try:
        (key,) = session.get_objects(
            {Attribute.LABEL: REID_KEY_LABEL, Attribute.CLASS: ObjectClass.SECRET_KEY}
        )
        assert key[Attribute.TOKEN] is True
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert key[Attribute.VALUE_LEN] == 32
        assert key[Attribute.ENCRYPT] is True
        assert key[Attribute.DECRYPT] is True
        for use in (Attribute.WRAP, Attribute.UNWRAP, Attribute.SIGN):
            assert key[use] is False
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]
        blob = store.reidentification_seal(NHS, AAD)
        assert unpack(blob)[0] == bytes(key[Attribute.ID])  # the blob names the token key
    finally:
        session.close()


def test_seal_and_open_in_the_token(store: Pkcs11KeyStore) -> None:
    assert isinstance(store, KeyStore)
    assert store.has_reidentification_key()
    blob = store.reidentification_seal(NHS, AAD)
    assert blob.startswith(b"FSR1")
    assert NHS not in blob
    assert store.reidentification_open(blob, AAD) == NHS
    with pytest.raises(EnvelopeError, match="does not authenticate"):
        store.reidentification_open(blob, record_aad(3, 2, "ff" * 16))
    altered = bytearray(blob)
    altered[-1] ^= 1
    with pytest.raises(EnvelopeError, match="does not authenticate"):
        store.reidentification_open(bytes(altered), AAD)


def test_a_blob_opens_only_with_its_token(
    fresh_softhsm_token: SoftHsmToken, softhsm: SoftHsm, tmp_path: Path
) -> None:
    other_token = softhsm.new_token()  # before any store opens: it reinitialises the module
    first = open_token(fresh_softhsm_token, tmp_path / "first")
    first.init()
    first.init_reidentification_key()
    second = open_token(other_token, tmp_path / "second")
    second.init()
    second.init_reidentification_key()
    blob = first.reidentification_seal(NHS, AAD)
    with pytest.raises(EnvelopeError, match="sealed by key"):
        second.reidentification_open(blob, AAD)
    with pytest.raises(EnvelopeError):  # nor any key a process holds in software
        InMemoryKeyStore.generate().reidentification_open(blob, AAD)
    # The same token reopened (a restart: a new session, the key found by its label).
    first.close()
    second.close()
    reopened = open_token(fresh_softhsm_token, tmp_path / "first")
    try:
        assert reopened.reidentification_open(blob, AAD) == NHS
    finally:
        reopened.close()


def test_init_refuses_twice_and_status_lists_the_key(store: Pkcs11KeyStore) -> None:
    with pytest.raises(ConfigurationError, match="already holds a re-identification key"):
        store.init_reidentification_key()
    rows = {info.name: info for info in store.status()}
    assert set(KEY_NAMES) <= set(rows)
    row = rows["reidentification"]
    assert row.kind == "AES-256-GCM re-identification key"
    assert "non-extractable" in row.location
    assert row.fingerprint == unpack(store.reidentification_seal(NHS, AAD))[0].hex()


def test_a_token_without_the_key_says_what_to_run(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    opened = open_token(fresh_softhsm_token, tmp_path / "keys")
    opened.init()
    assert not opened.has_reidentification_key()
    assert "reidentification" not in {info.name for info in opened.status()}
    with pytest.raises(ConfigurationError, match="keys init-reidentification"):
        opened.reidentification_seal(NHS, AAD)
    # Made by another store object (the CLI beside a running server): seen at once.
    other = open_token(fresh_softhsm_token, tmp_path / "keys")
    other.init_reidentification_key()
    assert opened.has_reidentification_key()
    assert other.reidentification_open(opened.reidentification_seal(NHS, AAD), AAD) == NHS


def test_the_cli_makes_the_key_in_the_token(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys"
    for name, value in fresh_softhsm_token.environment(keys).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    monkeypatch.setenv("COLUMNS", "400")
    reset_settings_cache()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["keys", "init"]).exit_code == 0
        made = runner.invoke(app, ["keys", "init-reidentification", "--keystore", "pkcs11"])
        assert made.exit_code == 0, made.stderr
        assert "keys.reidentification_init was not audited" in made.stderr
        again = runner.invoke(app, ["keys", "init-reidentification"])
        assert again.exit_code != 0
        assert "already holds a re-identification key" in again.stderr
        check = runner.invoke(app, ["keys", "check"])
        assert check.exit_code == 0, check.stderr
    finally:
        reset_settings_cache()
    opened = open_token(fresh_softhsm_token, keys)
    (row,) = [info for info in opened.status() if info.name == "reidentification"]
    assert row.fingerprint in made.stdout
    assert f"reidentification id {row.fingerprint}" in check.stdout
    assert not list(keys.glob("reidentification*"))  # nothing of it outside the token


def test_sealing_rate(store: Pkcs11KeyStore) -> None:
    """One token call per distinct patient at ingestion: measured, with a loose floor."""
    count = 2000
    started = time.perf_counter()
    for n in range(count):
        store.reidentification_seal(b"%010d" % n, record_aad(1, 1, f"{n:032x}"))
    rate = count / (time.perf_counter() - started)
    print(f"\nSoftHSM2 re-identification seals: {rate:,.0f}/s")
    assert rate > 500


def test_local_to_token_migration_is_refused_with_the_key(
    fresh_softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    from fivesafes.keys.migration import migrate_local_to_pkcs11  # noqa: PLC0415

    keys = tmp_path / "keys"
    local = LocalFileKeyStore(keys)
    local.init()
    local.init_reidentification_key()
    token = open_token(fresh_softhsm_token, keys)
    with pytest.raises(ConfigurationError, match="not migrated to a token"):
        migrate_local_to_pkcs11(local, token, last_seq=None)
    assert token.status() == []  # the token was left empty
    assert sorted(p.name for p in keys.iterdir()) == sorted(
        [f"{name}.key" for name in KEY_NAMES] + ["reidentification.key"]
    )
    assert os.stat(keys / "reidentification.key").st_size == 32
