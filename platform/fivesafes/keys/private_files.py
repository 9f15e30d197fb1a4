"""Reading, writing and destroying the files that hold keys: one set of rules for them all.

Key files, wrapped blobs, the PKCS#11 PIN and the retired-keys file are all guarded by
file permissions alone, so every one of them is handled here, the same way:

- **a key file others can read is refused**, not used: a file that is not a regular file
  (a symlink is not followed), that the group or other users may read or write, or that
  another user owns, raises :class:`~fivesafes.errors.ConfigurationError` naming the file
  and the ``chmod`` that fixes it. Using it anyway would hide a leak the operator must see;
- **writes are complete or absent**: data goes to a temporary file (0600, fsynced) that
  only then takes the target's name, and the folder is fsynced, so a crash never leaves
  half a key where a whole one is expected;
- **create never replaces a key** (:func:`create_private` links, and a link fails if the
  name exists): overwriting a pseudonym key would silently break every pseudonym made
  with it, so a second writer gets :class:`FileExistsError` instead;
- **replace is only for rewrapping** (:func:`replace_private`): a wrapped key rewritten
  under a new KEK holds the same key, so readers may see the old or the new file;
- **shred for files leaving the store** (:func:`shred`): overwritten with random bytes
  before they are unlinked, as far as a file system allows.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Collection
from pathlib import Path

from fivesafes.errors import ConfigurationError

#: Bytes a shredded file is overwritten with at the least (a key's size).
_SHRED_MINIMUM = 32
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def check_private(
    path: Path,
    *,
    what: str,
    wanted: str = "600",
    fd: int | None = None,
    modes: Collection[int] | None = None,
) -> None:
    """Refuse a file (``fd`` open on it) or folder (no ``fd``) others could read or write.

    ``what`` names it in the message ("key file", "key store folder"), ``wanted`` is the
    mode the message tells the operator to set; ``modes``, when given, are the only modes
    accepted (the PIN file: 0600 or 0400).
    """
    info = os.fstat(fd) if fd is not None else os.stat(path)
    if fd is not None and not stat.S_ISREG(info.st_mode):
        raise ConfigurationError(f"{what} {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if modes is not None and mode not in modes:
        allowed = " or ".join(f"{m:04o}" for m in modes)
        raise ConfigurationError(
            f"{what} {path} has mode {mode:04o}; it must be {allowed} (run `chmod {wanted} {path}`)"
        )
    if mode & 0o077:
        raise ConfigurationError(
            f"{what} {path} is readable or writable by group or others (mode {mode:04o}); "
            f"run `chmod {wanted} {path}`"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigurationError(f"{what} {path} is owned by another user (uid {info.st_uid})")


def read_private(
    path: Path,
    *,
    what: str,
    limit: int,
    missing: str | None = None,
    modes: Collection[int] | None = None,
) -> bytes:
    """At most ``limit`` bytes of ``path``, once :func:`check_private` accepts it.

    The file is opened without following a symlink and checked through that same
    descriptor, so it cannot be swapped between the check and the read. ``missing`` is
    the message when the file does not exist (by default, the "cannot open" one).
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError as exc:
        if missing is not None:
            raise ConfigurationError(missing) from None
        raise ConfigurationError(f"cannot open {what} {path}: {exc.strerror}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        check_private(path, what=what, fd=fd, modes=modes)
        return os.read(fd, limit)
    finally:
        os.close(fd)


def create_private(target: Path, data: bytes) -> None:
    """A new file ``target`` (0600) holding ``data``, complete or absent; never replaces.

    Raises :class:`FileExistsError` if ``target`` exists (another writer got there first).
    """
    temporary = _write_temporary(target, data)
    try:
        os.link(temporary, target)  # the same inode as target now: unlink, never shred
    finally:
        temporary.unlink()
    fsync_folder(target.parent)


def replace_private(target: Path, data: bytes) -> None:
    """Replace ``target`` by ``data`` (0600) atomically: readers see the old or the new file.

    Only for rewriting a file whose secret does not change (a key rewrapped under a new
    KEK, the retired-keys list): a new key is made with :func:`create_private`.
    """
    temporary = _write_temporary(target, data)
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename, link or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def shred(target: Path) -> None:
    """Overwrite a file with random bytes, fsync it, then delete it (missing: nothing to do).

    On a copy-on-write or wear-levelled disk the old blocks may survive the overwrite;
    that is why production keys live in a token. Here it is what a file store can do.
    The caller fsyncs the folder (once, after a batch).
    """
    try:
        fd = os.open(target, os.O_WRONLY | _NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        size = os.fstat(fd).st_size
        os.write(fd, secrets.token_bytes(max(size, _SHRED_MINIMUM)))
        os.fsync(fd)
    finally:
        os.close(fd)
    target.unlink(missing_ok=True)


def _write_temporary(target: Path, data: bytes) -> Path:
    """``data`` in a new hidden 0600 file beside ``target``, fsynced; removed on failure."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away, never added: be exact
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temporary
