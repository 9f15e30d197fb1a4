"""Key store, HKDF derivation, HMAC pseudonyms and envelope encryption."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import pickle
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.errors import ConfigurationError
from fivesafes.keys import InMemoryKeyStore, key_id
from fivesafes.keys.derivation import derive_key
from fivesafes.keys.envelope import (
    HEADER_BYTES,
    EnvelopeError,
    create_encrypted,
    open_encrypted,
    rewrap_file,
    seal,
    unseal,
)
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.pseudonym import PSEUDONYM_HEX_CHARS, HmacSha256, Pseudonymiser
from fivesafes.keys.store import KEY_NAMES, MEMORY_KEY_NAMES

MASTER = bytes(range(32))


# ------------------------------------------------------------------ local key store


def test_init_creates_private_folder_and_keys(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    written = store.init()
    assert {p.name for p in written} == {f"{name}.key" for name in KEY_NAMES}
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o700
    for path in written:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.stat().st_size == 32
    secrets_ = {path.read_bytes() for path in written}
    assert len(secrets_) == len(KEY_NAMES)  # independent random keys
    assert {store.secret(name) for name in MEMORY_KEY_NAMES} <= secrets_


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    before = store.secret("pseudonym")
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        LocalFileKeyStore(tmp_path / "keys").init()
    assert LocalFileKeyStore(tmp_path / "keys").secret("pseudonym") == before


def test_group_readable_key_is_refused(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    os.chmod(store.key_path("pseudonym"), 0o640)
    with pytest.raises(ConfigurationError, match=r"group or others \(mode 0640\).*chmod 600"):
        LocalFileKeyStore(tmp_path / "keys").secret("pseudonym")


def test_world_readable_folder_is_refused(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    os.chmod(store.path, 0o755)
    with pytest.raises(ConfigurationError, match="key store folder"):
        LocalFileKeyStore(tmp_path / "keys").secret("date_shift")


def test_missing_store_and_key_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="keys init"):
        LocalFileKeyStore(tmp_path / "none").secret("pseudonym")
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    store.key_path("kek").unlink()
    with pytest.raises(ConfigurationError, match="'kek' is missing"):
        LocalFileKeyStore(tmp_path / "keys").wrap("pseudonym", bytes(32))


def test_truncated_key_is_refused(tmp_path: Path) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    store.key_path("kek").write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="holds 5 bytes"):
        LocalFileKeyStore(tmp_path / "keys").wrap("pseudonym", bytes(32))


@pytest.mark.parametrize("name", ["kek", "audit_signing"])
def test_operation_keys_are_never_handed_out(tmp_path: Path, name: str) -> None:
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    with pytest.raises(ConfigurationError, match="never leaves the key store"):
        store.secret(name)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="never leaves the key store"):
        InMemoryKeyStore.generate().secret(name)  # type: ignore[arg-type]


def test_demo_key_folder_keeps_working(tmp_path: Path) -> None:
    """A folder of four raw 32-byte files (what every existing install has) is read as is."""
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    raw = {name: bytes([i + 1]) * 32 for i, name in enumerate(KEY_NAMES)}
    for name, material in raw.items():
        (folder / f"{name}.key").write_bytes(material)
        os.chmod(folder / f"{name}.key", 0o600)
    store = LocalFileKeyStore(folder)
    assert store.secret("pseudonym") == raw["pseudonym"]
    assert store.secret("date_shift") == raw["date_shift"]
    same = InMemoryKeyStore(raw)
    assert store.verification_key() == same.verification_key()
    assert same.unwrap("x", store.wrap("x", MASTER)) == MASTER
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.key" for n in KEY_NAMES)


def test_key_id_is_stable_and_not_the_key() -> None:
    assert key_id(MASTER) == key_id(MASTER)
    assert key_id(MASTER) != key_id(bytes(32))
    assert MASTER.hex()[:16] != key_id(MASTER)


# ------------------------------------------------------------------------ derivation


def test_derive_key_separates_purpose_and_context() -> None:
    a = derive_key(MASTER, "project", "p1")
    assert a == derive_key(MASTER, "project", "p1")
    assert len(a) == 32
    assert a != derive_key(MASTER, "project", "p2")
    assert a != derive_key(MASTER, "pseudonym", "p1")
    assert derive_key(MASTER, "ab", "c") != derive_key(MASTER, "a", "bc")
    assert a != derive_key(bytes(32), "project", "p1")


def test_derive_key_rejects_weak_master() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        derive_key(b"short", "project")


# ------------------------------------------------------------------------ pseudonyms


@given(key=st.binary(min_size=1, max_size=200), message=st.binary(max_size=300))
def test_fast_hmac_is_hmac_sha256(key: bytes, message: bytes) -> None:
    assert HmacSha256(key).digest(message) == hmac.digest(key, message, "sha256")


@given(st.text(min_size=1, max_size=40))
def test_pseudonyms_are_deterministic_fixed_length_hex(value: str) -> None:
    pseudonymise = Pseudonymiser(MASTER, "nhs_number")
    out = pseudonymise(value)
    assert out == Pseudonymiser(MASTER, "nhs_number")(value)
    assert len(out) == PSEUDONYM_HEX_CHARS
    assert int(out, 16) >= 0
    assert pseudonymise.matches(value, out)


def test_pseudonyms_depend_on_key_and_namespace() -> None:
    value = "9434765919"
    base = Pseudonymiser(MASTER, "nhs_number")(value)
    assert base != Pseudonymiser(bytes(32), "nhs_number")(value)
    assert base != Pseudonymiser(MASTER, "hospital_number")(value)
    # Not an unkeyed hash of the value: brute force over NHS numbers needs the key.
    assert base not in hashlib.sha256(value.encode()).hexdigest()


def test_pseudonymiser_pickles_without_master() -> None:
    original = Pseudonymiser(MASTER, "nhs_number")
    copy = pickle.loads(pickle.dumps(original))
    assert copy("9434765919") == original("9434765919")
    assert MASTER not in pickle.dumps(original)


def test_in_memory_store_reports_missing_key() -> None:
    with pytest.raises(ConfigurationError):
        InMemoryKeyStore({}).secret("pseudonym")


# ------------------------------------------------------------------------- envelope

KEK = bytes(range(100, 132))


@settings(max_examples=25)
@given(st.binary(max_size=200_000))
def test_seal_round_trips(payload: bytes) -> None:
    sealed = seal(KEK, payload)
    assert unseal(KEK, sealed) == payload
    if len(payload) > 16:
        assert payload not in sealed


def test_wrong_kek_fails() -> None:
    with pytest.raises(EnvelopeError, match="wrong key-encryption key"):
        unseal(bytes(32), seal(KEK, b"secret"))


@pytest.mark.parametrize("position", [-1, -20, 90])
def test_tampering_is_detected(position: int) -> None:
    sealed = bytearray(seal(KEK, b"x" * 1000))
    sealed[position] ^= 1
    with pytest.raises(EnvelopeError):
        unseal(KEK, bytes(sealed))


def test_truncation_at_a_segment_boundary_is_detected() -> None:
    payload = os.urandom(200_000)  # four segments
    sealed = seal(KEK, payload)
    # Cut after the first full segment: every remaining byte is gone, yet what is left
    # authenticates segment by segment; only the missing final flag reveals it.
    first_len = int.from_bytes(sealed[HEADER_BYTES : HEADER_BYTES + 4], "big")
    cut = sealed[: HEADER_BYTES + 4 + first_len]
    with pytest.raises(EnvelopeError, match="truncated"):
        unseal(KEK, cut)


def test_spool_files_are_private_and_rewrap(tmp_path: Path) -> None:
    path = tmp_path / "upload.enc"
    with create_encrypted(path, KEK) as handle:
        for _ in range(10):
            handle.write(b"nhs_number,name\n9434765919,Alice\n" * 1000)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"9434765919" not in path.read_bytes()
    new_kek = os.urandom(32)
    rewrap_file(path, KEK, new_kek)
    with open_encrypted(path, new_kek) as reader:
        text = io.TextIOWrapper(reader, encoding="utf-8").read()
    assert text.count("9434765919") == 10_000
    with pytest.raises(EnvelopeError):
        open_encrypted(path, KEK)
