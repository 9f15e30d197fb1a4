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

import os
import secrets
import stat
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fivesafes.errors import ConfigurationError
from fivesafes.keys.store import (
    KEY_BYTES,
    KEY_KINDS,
    KEY_NAMES,
    KeyInfo,
    KeyName,
    MemoryKeyName,
    SoftwareKeyOps,
    require_memory_key,
)

_SUFFIX = ".key"


class LocalFileKeyStore(SoftwareKeyOps):
    """Keys as raw 32-byte files (mode 0600) in a folder (mode 0700)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._cache: dict[KeyName, bytes] = {}

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
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, material)
                os.fsync(fd)
            finally:
                os.close(fd)
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
        return infos

    def _require_folder(self) -> None:
        if not self.path.is_dir():
            raise ConfigurationError(
                f"no key store at {self.path}: run `fivesafes keys init` "
                "(or set FIVESAFES_KEYSTORE_PATH)"
            )

    def _material(self, name: KeyName) -> bytes:
        """Load the named key after checking that only its owner can read it."""
        if name not in KEY_NAMES:
            raise ConfigurationError(f"unknown key name {name!r}")
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        self._require_folder()
        _check_private(self.path, "key store folder", "700")
        target = self.key_path(name)
        try:
            fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise ConfigurationError(
                f"key {name!r} is missing from {self.describe()}: run `fivesafes keys init`"
            ) from None
        except OSError as exc:
            raise ConfigurationError(f"cannot open key file {target}: {exc.strerror}") from None
        try:
            _check_private(target, "key file", "600", fd=fd)
            material = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(material) != KEY_BYTES:
            raise ConfigurationError(
                f"key file {target} holds {len(material)} bytes, expected {KEY_BYTES}"
            )
        self._cache[name] = material
        return material


def _check_private(path: Path, what: str, wanted: str, *, fd: int | None = None) -> None:
    """Refuse a key or folder that anyone but its owner can read or write."""
    info = os.fstat(fd) if fd is not None else os.stat(path)
    if fd is not None and not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(f"{what} {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"{what} {path} is readable or writable by group or others (mode {mode:04o}); "
            f"run `chmod {wanted} {path}`"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigurationError(f"{what} {path} is owned by another user (uid {info.st_uid})")
