"""Every software key store satisfies every operation of the KeyStore protocol alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.open import open_keystore
from fivesafes.keys.store import (
    KEY_NAMES,
    InMemoryKeyStore,
    KeyStore,
    key_id,
    public_key_fingerprint,
    verification_key_pem,
)
from fivesafes.keys.wrapping import BLOB_BYTES, pack_blob, unpack_blob, wrap_aad

DATA_KEY = bytes(range(32))


def _memory(_: Path) -> KeyStore:
    return InMemoryKeyStore.generate()


def _local(folder: Path) -> KeyStore:
    store = LocalFileKeyStore(folder / "keys")
    store.init()
    return LocalFileKeyStore(folder / "keys")  # a fresh instance: read from the files


STORES: dict[str, Callable[[Path], KeyStore]] = {"memory": _memory, "local": _local}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyStore:
    return STORES[request.param](tmp_path)


def test_it_is_a_keystore(store: KeyStore) -> None:
    assert isinstance(store, KeyStore)


def test_wrap_round_trips_and_hides_the_key(store: KeyStore) -> None:
    blob = store.wrap("pseudonym", DATA_KEY)
    assert len(blob) == BLOB_BYTES
    assert blob.startswith(b"FSW1")
    assert DATA_KEY not in blob
    assert store.unwrap("pseudonym", blob) == DATA_KEY
    assert store.wrap("pseudonym", DATA_KEY) != blob  # a fresh nonce each time


def test_the_name_is_bound_to_the_blob(store: KeyStore) -> None:
    blob = store.wrap("pseudonym", DATA_KEY)
    with pytest.raises(EnvelopeError, match="'date_shift' does not authenticate"):
        store.unwrap("date_shift", blob)


def test_a_blob_from_another_kek_is_refused(store: KeyStore) -> None:
    other = InMemoryKeyStore.generate().wrap("pseudonym", DATA_KEY)
    with pytest.raises(EnvelopeError, match="not by this store's KEK"):
        store.unwrap("pseudonym", other)


def test_a_forged_kek_id_still_fails_authentication(store: KeyStore) -> None:
    own_id, _, _ = unpack_blob(store.wrap("pseudonym", DATA_KEY))
    _, nonce, sealed = unpack_blob(InMemoryKeyStore.generate().wrap("pseudonym", DATA_KEY))
    with pytest.raises(EnvelopeError, match="does not authenticate"):
        store.unwrap("pseudonym", pack_blob(own_id, nonce, sealed))


@pytest.mark.parametrize("cut", [1, 10, BLOB_BYTES - 1])
def test_a_damaged_blob_is_refused(store: KeyStore, cut: int) -> None:
    blob = store.wrap("pseudonym", DATA_KEY)
    with pytest.raises(EnvelopeError, match="not a fivesafes wrapped key"):
        store.unwrap("pseudonym", blob[:cut])
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(EnvelopeError):
        store.unwrap("pseudonym", bytes(flipped))


def test_signatures_verify_with_the_verification_key(store: KeyStore) -> None:
    public = Ed25519PublicKey.from_public_bytes(store.verification_key())
    public.verify(store.sign(b"checkpoint"), b"checkpoint")
    with pytest.raises(InvalidSignature):
        public.verify(store.sign(b"checkpoint"), b"another checkpoint")
    pem = load_pem_public_key(verification_key_pem(store))
    assert isinstance(pem, Ed25519PublicKey)
    assert pem.public_bytes_raw() == store.verification_key()


def test_status_lists_four_keys_with_fingerprints_never_material(store: KeyStore) -> None:
    infos = store.status()
    assert [info.name for info in infos] == list(KEY_NAMES)
    shown = repr(infos)
    material = [store.secret("pseudonym"), store.secret("date_shift")]
    for secret in material:
        assert secret.hex() not in shown
        assert repr(secret) not in shown
    by_name = {info.name: info for info in infos}
    assert by_name["pseudonym"].fingerprint == key_id(material[0])
    assert by_name["date_shift"].fingerprint == key_id(material[1])
    assert by_name["audit_signing"].fingerprint == public_key_fingerprint(store.verification_key())
    kek_id, _, _ = unpack_blob(store.wrap("x", DATA_KEY))
    assert by_name["kek"].fingerprint == kek_id.hex()
    assert len({info.fingerprint for info in infos}) == 4
    assert by_name["kek"].kind == "AES-256 key-encryption key"


def test_local_status_says_where_and_when(tmp_path: Path) -> None:
    store = _local(tmp_path)
    for info in store.status():
        assert info.location == f"file {tmp_path / 'keys' / info.name}.key (0600)"
        assert info.created_at is not None
        assert info.created_at.tzinfo is not None


def test_local_status_leaves_out_missing_keys(tmp_path: Path) -> None:
    store = _local(tmp_path)
    (tmp_path / "keys" / "kek.key").unlink()
    assert [i.name for i in LocalFileKeyStore(tmp_path / "keys").status()] == [
        "pseudonym",
        "date_shift",
        "audit_signing",
    ]
    assert store.describe().startswith("local key store")
    with pytest.raises(ConfigurationError, match="no key store at"):
        LocalFileKeyStore(tmp_path / "none").status()


def test_local_status_checks_permissions(tmp_path: Path) -> None:
    _local(tmp_path)
    os.chmod(tmp_path / "keys" / "audit_signing.key", 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        LocalFileKeyStore(tmp_path / "keys").status()


def test_wrap_refuses_what_is_not_a_data_key(store: KeyStore) -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        store.wrap("pseudonym", b"short")
    with pytest.raises(EnvelopeError, match="non-empty"):
        store.wrap("", DATA_KEY)


def test_aad_differs_per_name() -> None:
    assert wrap_aad("pseudonym") == b"fivesafes/wrap/v1/pseudonym"
    assert wrap_aad("pseudonym") != wrap_aad("date_shift")


def test_pack_blob_checks_lengths() -> None:
    with pytest.raises(EnvelopeError, match="KEK id"):
        pack_blob(b"short", bytes(12), bytes(48))
    with pytest.raises(EnvelopeError, match="nonce"):
        pack_blob(bytes(8), bytes(11), bytes(48))
    with pytest.raises(EnvelopeError, match="sealed"):
        pack_blob(bytes(8), bytes(12), bytes(47))
    parts = (b"k" * 8, b"n" * 12, b"s" * 48)
    assert unpack_blob(pack_blob(*parts)) == parts


def test_open_keystore_defaults_to_local(tmp_path: Path) -> None:
    from fivesafes.config import load_settings  # noqa: PLC0415

    store = open_keystore(load_settings(keystore_path=tmp_path / "k"))
    assert isinstance(store, LocalFileKeyStore)
    assert store.path == tmp_path / "k"


def test_pkcs11_settings_name_every_missing_variable() -> None:
    from fivesafes.config import load_settings  # noqa: PLC0415

    with pytest.raises(ConfigurationError) as caught:
        load_settings(keystore="pkcs11", pkcs11_token="fivesafes")
    message = str(caught.value)
    assert "FIVESAFES_PKCS11_MODULE" in message
    assert "FIVESAFES_PKCS11_PIN_FILE" in message
    assert "FIVESAFES_PKCS11_TOKEN" not in message
    with pytest.raises(ConfigurationError, match="FIVESAFES_KEYSTORE"):
        load_settings(keystore="vault")
