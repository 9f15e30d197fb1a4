"""The embedded default key store: one file per key in a folder only its owner can read.

File permissions are the only protection here, which is why loading refuses a key that the
group or other users could read, and why production sites use a KMS or HSM adapter
instead. ``init`` never overwrites: replacing the pseudonym key would silently break every
link between past and future extracts.

The KEK and audit-signing key are files here too, but callers reach them only through the
:class:`~fivesafes.keys.store.KeyStore` operations (wrap/unwrap, sign), exactly as they
would a token's: so switching a site to ``FIVESAFES_KEYSTORE=pkcs11`` changes no caller.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from fivesafes.errors import ConfigurationError
from fivesafes.keys.kek_rotation import progress, require_all_rewrapped
from fivesafes.keys.private_files import (
    check_private,
    create_private,
    fsync_folder,
    read_private,
    shred,
)
from fivesafes.keys.reid_blob import REID_KEY_NAME
from fivesafes.keys.remap import remap_generations, remap_key_name
from fivesafes.keys.retired import RETIRED_FILE, RetiredKey, trusted_retired_keys
from fivesafes.keys.store import (
    KEY_BYTES,
    KEY_KINDS,
    KEY_NAMES,
    KeyInfo,
    KeyName,
    MemoryKeyName,
    SoftwareKeyOps,
    local_kek_id,
    new_remap_material,
    reidentification_info,
    remap_key_info,
    require_memory_key,
)

_SUFFIX = ".key"


class LocalFileKeyStore(SoftwareKeyOps):
    """Keys as raw 32-byte files (mode 0600) in a folder (mode 0700)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._cache: dict[KeyName, bytes] = {}
        self._remap_cache: dict[int, bytes] = {}
        self._reid_cache: bytes | None = None

    def describe(self) -> str:
        return f"local key store at {self.path}"

    def key_path(self, name: KeyName) -> Path:
        """Where the named key's file lives."""
        return self.path / f"{name}{_SUFFIX}"

    def init(self) -> list[Path]:
        """Create the folder and a fresh random key for every name; refuse to overwrite.

        Returns the files written. If any key file already exists nothing is written.
        """
        existing = [self.key_path(name) for name in KEY_NAMES if self.key_path(name).exists()]
        if existing:
            names = ", ".join(p.name for p in existing)
            raise ConfigurationError(
                f"{self.describe()} already holds {names}; refusing to overwrite keys "
                "(replacing the pseudonym key breaks linkage with earlier extracts)"
            )
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)  # mkdir's mode is filtered by the umask
        written = []
        for name in KEY_NAMES:
            material = (
                Ed25519PrivateKey.generate().private_bytes_raw()
                if name == "audit_signing"
                else secrets.token_bytes(KEY_BYTES)
            )
            target = self.key_path(name)
            create_private(target, material)
            written.append(target)
        self._cache.clear()
        return written

    def secret(self, name: MemoryKeyName) -> bytes:
        """A memory key's bytes (pseudonym, date shift); the others never leave the store."""
        return self._material(require_memory_key(name))

    def status(self) -> list[KeyInfo]:
        """Every key present, loaded (so permissions are checked) and fingerprinted.

        A key file is never rewritten, so its modification time is its creation time.
        Missing keys are left out: the caller names them.
        """
        infos = []
        for name in KEY_NAMES:
            target = self.key_path(name)
            if not target.exists():
                continue
            fingerprint = self._fingerprint(name)
            created = datetime.fromtimestamp(target.stat().st_mtime, tz=UTC)
            location = f"file {target} (0600)"
            infos.append(KeyInfo(name, KEY_KINDS[name], location, fingerprint, created))
        if not infos:
            self._require_folder()
        infos = [self._with_kek_rotation(info) if info.name == "kek" else info for info in infos]
        for generation, material in zip(
            self._remap_generations(), self.pseudonym_remap_keys(), strict=True
        ):
            target = self.path / f"{remap_key_name(generation)}{_SUFFIX}"
            created = datetime.fromtimestamp(target.stat().st_mtime, tz=UTC)
            infos.append(remap_key_info(generation, material, f"file {target} (0600)", created))
        reid = self.reidentification_key_path()
        if reid.exists():
            created = datetime.fromtimestamp(reid.stat().st_mtime, tz=UTC)
            material = self._require_reid()[0]
            infos.append(reidentification_info(material, f"file {reid} (0600)", created))
        return infos

    # -- the re-identification key (optional: made only by `keys init-reidentification`) --

    def reidentification_key_path(self) -> Path:
        """Where the re-identification key's file lives."""
        return self.path / f"{REID_KEY_NAME}{_SUFFIX}"

    def _reid_material(self) -> bytes | None:
        """The key's bytes (permissions checked), or None while its file does not exist.

        The file is never rewritten, so once read it is cached; until then its existence
        is checked on every call, so a key another process made is seen at once.
        """
        if self._reid_cache is not None:
            return self._reid_cache
        target = self.reidentification_key_path()
        if not target.exists():
            return None
        self._reid_cache = self._read_key_file(target)
        return self._reid_cache

    def init_reidentification_key(self) -> KeyInfo:
        """Write a fresh random re-identification key (0600); refuse if one exists."""
        self._require_folder()
        self._check_folder()
        target = self.reidentification_key_path()
        refusal = ConfigurationError(
            f"{self.describe()} already holds a re-identification key ({target.name}); "
            "refusing to replace it (every sealed NHS number would become unreadable)"
        )
        if target.exists():
            raise refusal
        material = secrets.token_bytes(KEY_BYTES)
        try:
            create_private(target, material)
        except FileExistsError:
            raise refusal from None
        self._reid_cache = material
        created = datetime.fromtimestamp(target.stat().st_mtime, tz=UTC)
        return reidentification_info(material, f"file {target} (0600)", created)

    # -- KEK rotation (the steps keys/kek_rotation.py puts in order) -----------------

    def next_kek_path(self) -> Path:
        """Where a pending rotation's next KEK lives until it replaces ``kek.key``."""
        return self.path / f"kek.next{_SUFFIX}"

    def kek_ids(self) -> tuple[bytes | None, bytes | None]:
        """``(current, next)`` KEK ids; ``next`` is None unless a rotation is pending."""
        current, following = self._kek_file(self.key_path("kek")), self._next_kek()
        return (
            None if current is None else local_kek_id(current),
            None if following is None else local_kek_id(following),
        )

    def begin_kek_rotation(self) -> bytes:
        """Write ``kek.next.key`` (random, 0600, never replacing) unless a rotation already did."""
        following = self._next_kek()
        if following is not None:
            return local_kek_id(following)  # an interrupted rotation: resume it
        if self._kek_file(self.key_path("kek")) is None:
            raise ConfigurationError(
                f"{self.describe()} holds no KEK to rotate: run `fivesafes keys init`"
            )
        material = secrets.token_bytes(KEY_BYTES)
        create_private(self.next_kek_path(), material)
        return local_kek_id(material)

    def finish_kek_rotation(self) -> bool:
        """Rename ``kek.next.key`` onto ``kek.key``: one atomic step retires the old KEK."""
        following = self._next_kek()
        if following is not None:
            require_all_rewrapped(self.path, local_kek_id(following))
            os.replace(self.next_kek_path(), self.key_path("kek"))
            fsync_folder(self.path)
        self._cache.pop("kek", None)
        return True

    def _next_kek(self) -> bytes | None:
        return self._kek_file(self.next_kek_path())

    def _kek_file(self, target: Path) -> bytes | None:
        """A KEK file read afresh (never cached: another process may be rotating it)."""
        if not target.exists():
            return None
        return self._read_key_file(target)

    def _wrapping_kek(self) -> bytes:
        """New wraps use a pending rotation's next KEK, so none needs rewrapping again."""
        for kek in (self._next_kek(), self._kek_file(self.key_path("kek"))):
            if kek is not None:
                return kek
        return self._material("kek")  # missing: its error says what to run

    def _unwrapping_kek(self, kek_id: bytes) -> bytes | None:
        """The current or the next KEK, whichever the blob names (a rotation half-done)."""
        for kek in (self._kek_file(self.key_path("kek")), self._next_kek()):
            if kek is not None and hmac.compare_digest(kek_id, local_kek_id(kek)):
                return kek
        return None

    def _with_kek_rotation(self, info: KeyInfo) -> KeyInfo:
        following = self._next_kek()
        if following is None:
            return info
        pending = progress(self.path, local_kek_id(following))
        return replace(info, location=f"{info.location}; {pending.describe()}")

    # -- pseudonym remap keys (one file per generation, never rewritten) ---------------

    def _remap_generations(self) -> list[int]:
        """The generations whose remap key files are in the folder (listed afresh)."""
        return remap_generations(self.path, _SUFFIX, self.describe())

    def pseudonym_remap_keys(self) -> tuple[bytes, ...]:
        """Remap keys of generations 2..n; the folder is listed on every call (a rotation
        run by another process is seen at once), loaded files are cached by generation."""
        keys = []
        for generation in self._remap_generations():
            material = self._remap_cache.get(generation)
            if material is None:
                material = self._read_key_file(self.path / f"{remap_key_name(generation)}{_SUFFIX}")
                self._remap_cache[generation] = material
            keys.append(material)
        return tuple(keys)

    def add_pseudonym_remap_key(self, material: bytes | None = None) -> int:
        """Write the next generation's remap key (0600, never overwriting)."""
        self._require_folder()
        self._check_folder()
        key = new_remap_material(material)
        generation = 2 + len(self._remap_generations())
        target = self.path / f"{remap_key_name(generation)}{_SUFFIX}"
        try:
            create_private(target, key)
        except FileExistsError:
            raise ConfigurationError(
                f"{target} appeared meanwhile: another pseudonym rotation is running"
            ) from None
        self._remap_cache[generation] = key
        return generation

    # -- audit-signing key rotation (the steps keys/signing_rotation.py puts in order) -----

    def retired_verification_keys(self) -> tuple[RetiredKey, ...]:
        """The attested retired signing keys of ``audit_signing.retired.json`` (none if absent)."""
        target = self.path / RETIRED_FILE
        if not target.exists():  # before any rotation (or on a verifier with no store)
            return ()
        return trusted_retired_keys(target, self.verification_key())

    def next_signing_key_path(self) -> Path:
        """Where a pending rotation's next signing key lives until it replaces the current."""
        return self.path / f"audit_signing.next{_SUFFIX}"

    def _old_signing_key_path(self) -> Path:
        """The retired key's file while it is being shredded (a second link to it)."""
        return self.path / f"audit_signing.old{_SUFFIX}"

    def signing_key_created(self) -> datetime | None:
        """When the current signing key was made: its file is never rewritten, only replaced."""
        return datetime.fromtimestamp(self.key_path("audit_signing").stat().st_mtime, tz=UTC)

    def signing_successor(self) -> bytes | None:
        """The public key of a pending rotation's next signing key, or None."""
        target = self.next_signing_key_path()
        if not target.exists():
            return None
        return _public(self._read_key_file(target))

    def begin_signing_rotation(self) -> bytes:
        """Write ``audit_signing.next.key`` (a fresh Ed25519 seed, 0600, new); its public key."""
        self._check_folder()
        target = self.next_signing_key_path()
        for stale in self.path.glob(f".{target.name}.*.tmp"):  # a crash before its link
            shred(stale)
        material = Ed25519PrivateKey.generate().private_bytes_raw()
        create_private(target, material)
        return _public(material)

    def sign_as_successor(self, message: bytes) -> bytes:
        """A signature by the pending next key (it attests the current key's retirement)."""
        material = self._read_key_file(self.next_signing_key_path())
        return Ed25519PrivateKey.from_private_bytes(material).sign(message)

    def finish_signing_rotation(self, step: Callable[[str], None] = lambda _: None) -> bool:
        """Put the next key in force and shred the old one; False if there was nothing to do.

        A second link to the old key is made first, so that after the atomic rename the
        old key's blocks are still reachable to be overwritten (a plain rename would free
        them unshredded); a rerun after a crash at any point ends in the same state.
        """
        following, old = self.next_signing_key_path(), self._old_signing_key_path()
        if not following.exists() and not old.exists():
            return False
        if following.exists():
            if not old.exists():
                os.link(self.key_path("audit_signing"), old)
                fsync_folder(self.path)
            step("linked")
            os.replace(following, self.key_path("audit_signing"))
            fsync_folder(self.path)
            step("replaced")
        shred(old)
        fsync_folder(self.path)
        return True

    def _require_folder(self) -> None:
        if not self.path.is_dir():
            raise ConfigurationError(
                f"no key store at {self.path}: run `fivesafes keys init` "
                "(or set FIVESAFES_KEYSTORE_PATH)"
            )

    def _check_folder(self) -> None:
        check_private(self.path, what="key store folder", wanted="700")

    def _material(self, name: KeyName) -> bytes:
        """Load the named key after checking that only its owner can read it."""
        if name not in KEY_NAMES:
            raise ConfigurationError(f"unknown key name {name!r}")
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        self._require_folder()
        missing = f"key {name!r} is missing from {self.describe()}: run `fivesafes keys init`"
        material = self._read_key_file(self.key_path(name), missing=missing)
        if name != "audit_signing":  # re-read each time: a rotation replaces the file
            self._cache[name] = material
        return material

    def _read_key_file(self, target: Path, *, missing: str | None = None) -> bytes:
        """A key file's 32 bytes, after checking the folder and the file are private."""
        self._check_folder()
        material = read_private(target, what="key file", limit=KEY_BYTES + 1, missing=missing)
        if len(material) != KEY_BYTES:
            raise ConfigurationError(
                f"key file {target} holds {len(material)} bytes, expected {KEY_BYTES}"
            )
        return material


def _public(seed: bytes) -> bytes:
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)
