"""The optional re-identification key of the in-memory and local stores (``keys.reid_blob``).

It seals an NHS number bound to its record's row: the blob opens only with the same
row's associated data, only with the key that sealed it, and not at all once altered.
It is never part of ``KEY_NAMES``: a store without it is complete, and says what to run
when it is asked to seal or open.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.migration import migrate_local_to_pkcs11
from fivesafes.keys.reid_blob import (
    KEY_ID_BYTES,
    NONCE_BYTES,
    REID_KEY_KIND,
    TAG_BYTES,
    pack,
    record_aad,
    unpack,
)
from fivesafes.keys.store import KEY_NAMES, InMemoryKeyStore, KeyStore, local_kek_id

NHS = b"9434765919"
AAD = record_aad(7, 1, "0123456789abcdef0123456789abcdef")


def _memory(_: Path) -> KeyStore:
    return InMemoryKeyStore.generate()


def _local(folder: Path) -> KeyStore:
    store = LocalFileKeyStore(folder / "keys")
    store.init()
    store.init_reidentification_key()
    return LocalFileKeyStore(folder / "keys")  # a fresh instance: read from the file


STORES: dict[str, Callable[[Path], KeyStore]] = {"memory": _memory, "local": _local}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    return STORES[request.param](tmp_path)


def test_aad_names_the_row() -> None:
    assert AAD == b"fivesafes/reid/v1/7/1/0123456789abcdef0123456789abcdef"
    for bad in ("", "a/b", "é" * 4):
        with pytest.raises(EnvelopeError):
            record_aad(1, 1, bad)


def test_seal_round_trips_and_hides_the_number(store: KeyStore) -> None:
    assert isinstance(store, KeyStore)
    assert store.has_reidentification_key()
    blob = store.reidentification_seal(NHS, AAD)
    assert blob.startswith(b"FSR1")
    assert len(blob) == 4 + KEY_ID_BYTES + NONCE_BYTES + len(NHS) + TAG_BYTES
    assert NHS not in blob
    assert store.reidentification_open(blob, AAD) == NHS
    assert store.reidentification_seal(NHS, AAD) != blob  # a fresh nonce each time


@pytest.mark.parametrize(
    "other",
    [
        record_aad(8, 1, "0123456789abcdef0123456789abcdef"),  # another dataset
        record_aad(7, 2, "0123456789abcdef0123456789abcdef"),  # another generation
        record_aad(7, 1, "ffffffffffffffffffffffffffffffff"),  # another row
    ],
)
def test_a_blob_moved_to_another_row_does_not_open(store: KeyStore, other: bytes) -> None:
    blob = store.reidentification_seal(NHS, AAD)
    with pytest.raises(EnvelopeError) as caught:
        store.reidentification_open(blob, other)
    assert NHS.decode() not in str(caught.value)


def test_a_tampered_blob_does_not_open(store: KeyStore) -> None:
    blob = store.reidentification_seal(NHS, AAD)
    for at in (len(blob) - 1, 4 + KEY_ID_BYTES, 4 + KEY_ID_BYTES + NONCE_BYTES):
        altered = bytearray(blob)
        altered[at] ^= 1
        with pytest.raises(EnvelopeError):
            store.reidentification_open(bytes(altered), AAD)
    with pytest.raises(EnvelopeError, match="not a fivesafes re-identification blob"):
        store.reidentification_open(b"FSW1" + blob[4:], AAD)
    with pytest.raises(EnvelopeError):
        store.reidentification_open(blob[:20], AAD)


def test_another_stores_key_does_not_open_it(store: KeyStore) -> None:
    blob = store.reidentification_seal(NHS, AAD)
    key_id, nonce, sealed = unpack(blob)
    other = InMemoryKeyStore.generate()
    with pytest.raises(EnvelopeError, match="sealed by key"):
        other.reidentification_open(blob, AAD)
    # Even naming the other store's key id, the tag does not verify under its key.
    forged = pack(unpack(other.reidentification_seal(NHS, AAD))[0], nonce, sealed)
    with pytest.raises(EnvelopeError, match="does not authenticate"):
        other.reidentification_open(forged, AAD)
    assert key_id != unpack(forged)[0]


def test_a_store_without_the_key_says_what_to_run(tmp_path: Path) -> None:
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    memory = InMemoryKeyStore(dict(InMemoryKeyStore.generate()._keys))
    for store in (local, memory):
        assert not store.has_reidentification_key()
        with pytest.raises(ConfigurationError, match="keys init-reidentification"):
            store.reidentification_seal(NHS, AAD)
        with pytest.raises(ConfigurationError, match="keys init-reidentification"):
            store.reidentification_open(b"FSR1" + bytes(40), AAD)
    # The key is optional: a store without it is complete.
    assert [info.name for info in local.status()] == list(KEY_NAMES)


def test_init_refuses_a_second_time_and_keeps_the_key(tmp_path: Path) -> None:
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    local.init_reidentification_key()
    blob = local.reidentification_seal(NHS, AAD)
    before = local.reidentification_key_path().read_bytes()
    for store in (local, LocalFileKeyStore(tmp_path / "keys")):
        with pytest.raises(ConfigurationError, match="already holds a re-identification key"):
            store.init_reidentification_key()
    assert local.reidentification_key_path().read_bytes() == before
    assert LocalFileKeyStore(tmp_path / "keys").reidentification_open(blob, AAD) == NHS
    memory = InMemoryKeyStore.generate()
    with pytest.raises(ConfigurationError, match="already holds a re-identification key"):
        memory.init_reidentification_key()


def test_init_needs_the_key_store_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="run `fivesafes keys init`"):
        LocalFileKeyStore(tmp_path / "none").init_reidentification_key()


def test_local_key_is_a_private_file_and_a_status_row(tmp_path: Path) -> None:
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    reader = LocalFileKeyStore(tmp_path / "keys")
    assert not reader.has_reidentification_key()
    info = local.init_reidentification_key()
    target = tmp_path / "keys" / "reidentification.key"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    material = target.read_bytes()
    assert len(material) == 32
    assert reader.has_reidentification_key()  # another instance sees it at once
    rows = {row.name: row for row in reader.status()}
    assert list(rows)[: len(KEY_NAMES)] == list(KEY_NAMES)
    row = rows["reidentification"]
    assert row == info
    assert row.kind == REID_KEY_KIND == "AES-256-GCM re-identification key"
    assert row.location == f"file {target} (0600)"
    assert row.fingerprint == local_kek_id(material).hex()
    assert row.fingerprint == unpack(reader.reidentification_seal(NHS, AAD))[0].hex()
    assert material.hex() not in repr(rows)


def test_a_readable_key_file_is_refused(tmp_path: Path) -> None:
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    local.init_reidentification_key()
    local.reidentification_key_path().chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        LocalFileKeyStore(tmp_path / "keys").reidentification_seal(NHS, AAD)


def test_in_memory_key_is_reported_apart_from_status() -> None:
    store = InMemoryKeyStore.generate()
    assert [info.name for info in store.status()] == list(KEY_NAMES)
    info = store.reidentification_info()
    assert info is not None
    assert info.fingerprint == unpack(store.reidentification_seal(NHS, AAD))[0].hex()
    bare = InMemoryKeyStore(dict(store._keys))
    assert bare.reidentification_info() is None
    made = bare.init_reidentification_key()
    assert made == bare.reidentification_info()
    with pytest.raises(ConfigurationError, match="32 bytes"):
        InMemoryKeyStore(reidentification=b"short")


def test_migration_to_a_token_refuses_a_store_holding_the_key(tmp_path: Path) -> None:
    local = LocalFileKeyStore(tmp_path / "keys")
    local.init()
    local.init_reidentification_key()
    token = _FakeToken(local.path)
    with pytest.raises(ConfigurationError, match="not migrated to a token"):
        migrate_local_to_pkcs11(local, token, last_seq=None)  # type: ignore[arg-type]
    assert all(local.key_path(name).exists() for name in KEY_NAMES)  # nothing shredded
    assert local.reidentification_key_path().exists()
    assert not token.touched


class _FakeToken:
    """Only the folder a migration checks first; any other use is recorded."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.touched = False

    def __getattr__(self, name: str) -> object:
        self.touched = True
        raise AssertionError(f"the migration used the token ({name}) before refusing")


def test_cli_init_reidentification_is_audited_or_says_it_was_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "keys"
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(folder))
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    monkeypatch.setenv("COLUMNS", "400")
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "init"]).exit_code == 0
    result = runner.invoke(app, ["keys", "init-reidentification"])
    assert result.exit_code == 0, result.stderr
    rows = {row.name: row for row in LocalFileKeyStore(folder).status()}
    fingerprint = rows["reidentification"].fingerprint
    assert fingerprint in result.stdout
    assert "keys.reidentification_init was not audited" in result.stderr
    again = runner.invoke(app, ["keys", "init-reidentification"])
    assert again.exit_code != 0
    assert "already holds a re-identification key" in again.stderr
    status = runner.invoke(app, ["keys", "status"])
    assert status.exit_code == 0, status.stderr
    assert "AES-256-GCM re-identification key" in status.stdout
    assert fingerprint in status.stdout
    check = runner.invoke(app, ["keys", "check"])
    assert check.exit_code == 0, check.stderr
    assert f"reidentification id {fingerprint}" in check.stdout
