"""The retained copy's file: its header, its folder lock, and rewrapping it under a new KEK.

A copy must outlive the process that made it (it is read back for the release package
weeks later, after restarts), so its key cannot live in memory as the spool's does. Each
copy has its own random data key, wrapped by the key store (``keystore.wrap``: under a
PKCS#11 store the KEK never leaves the token) and kept in the file's header::

    magic "FSCOPY1\\n" (8) | release id (16) | FSW1 wrapped data key (72)
    then an envelope (:mod:`fivesafes.keys.envelope`) sealed with the data key

The wrap is made under the name ``release-copy/<release id>``, which is the blob's
associated data: a copy moved to another release's name does not unwrap (and the release
id in the header says which release it belongs to, for a clear message). The envelope's
STREAM construction then authenticates every segment, their order and the end.

KEK rotation rewrites the 72-byte wrapped key in place (header only, as the spool's
envelope rewrap does): it lies in the file's first disk sector, which is written whole.
Writers take the folder's lock shared while they wrap and write a header, the rotation
takes it exclusive from its first pass until the old KEK is destroyed, so no copy can be
left wrapped under a destroyed KEK by a release that started just before a rotation.
"""

from __future__ import annotations

import fcntl
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from fivesafes.errors import ConfigurationError
from fivesafes.keys.envelope import EnvelopeError
from fivesafes.keys.private_files import fsync_folder
from fivesafes.keys.wrapping import BLOB_BYTES, unpack_blob

MAGIC = b"FSCOPY1\n"
HEADER_BYTES = len(MAGIC) + 16 + BLOB_BYTES
COPY_SUFFIX = ".copy"
PARTIAL_SUFFIX = ".partial"
LOCK_NAME = ".rotation.lock"
_BLOB_AT = len(MAGIC) + 16
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
log = logging.getLogger(__name__)


class RetainedCopyError(EnvelopeError):
    """A retained copy that does not open: tampered, truncated, swapped or wrong key."""

    code = "release_copy_corrupt"


class Wrapping(Protocol):
    """The key-store operations a copy's header needs (every KeyStore has them)."""

    def wrap(self, name: str, data_key: bytes) -> bytes: ...

    def unwrap(self, name: str, blob: bytes) -> bytes: ...


def wrap_name(release_id: uuid.UUID) -> str:
    """The name a copy's data key is wrapped as: it binds the key to its release."""
    return f"release-copy/{release_id}"


def copy_path(folder: Path, release_id: uuid.UUID) -> Path:
    return folder / f"{release_id}{COPY_SUFFIX}"


def partial_paths(folder: Path, release_id: uuid.UUID | None = None) -> list[Path]:
    """Copies being written (or left by a process that died while writing one)."""
    stem = "*" if release_id is None else str(release_id)
    return sorted(folder.glob(f".{stem}.*{PARTIAL_SUFFIX}"))


#: A copy being written is appended to with every chunk sent; one untouched this long was
#: left by a process that died mid-stream (a live stream this slow is cut off long before).
ABANDONED_AFTER_SECONDS = 6 * 3600


def remove_abandoned_partials(
    folder: Path, now: float, idle: float = ABANDONED_AFTER_SECONDS
) -> int:
    """Destroy the partial copies nobody has written to for ``idle`` seconds.

    A server killed mid-stream cannot discard its partial copy: it stays, encrypted under
    a key whose wrapped form is in its header, until this (run by the server's periodic
    sweep) shreds it. Partials still being written are left alone, whichever server
    writes them: they are the ones recently modified. How many were destroyed."""
    destroyed = 0
    for partial in partial_paths(folder):
        try:
            if now - partial.stat().st_mtime < idle:
                continue
        except FileNotFoundError:  # published or discarded meanwhile
            continue
        if destroy_file(partial):
            destroyed += 1
    if destroyed:
        log.warning("%d abandoned partial release copies destroyed in %s", destroyed, folder)
    return destroyed


def prepare_folder(folder: Path) -> None:
    """Make the folder (0700) if needed: the demo's and a fresh install's var/ is empty.

    One that cannot be made or made private is a configuration error (500), raised
    before a release is recorded; its path goes to the log, not to the client."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        log.error("the release copies folder %s cannot be used: %s", folder, exc)
        raise ConfigurationError(
            "the release copies folder (FIVESAFES_RELEASE_COPIES_PATH) cannot be made "
            f"private to the server: {exc.strerror}"
        ) from None


def make_header(release_id: uuid.UUID, blob: bytes) -> bytes:
    if len(blob) != BLOB_BYTES:
        raise RetainedCopyError("a wrapped data key of the wrong size")
    return MAGIC + release_id.bytes + blob


def parse_header(header: bytes, release_id: uuid.UUID) -> bytes:
    """The wrapped key of a header that belongs to ``release_id``, or an error saying why."""
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise RetainedCopyError(f"the copy of release {release_id} is not a retained copy")
    found = uuid.UUID(bytes=header[len(MAGIC) : _BLOB_AT])
    if found != release_id:
        raise RetainedCopyError(
            f"the file kept for release {release_id} is the copy of release {found}"
        )
    return header[_BLOB_AT:]


def open_data_key(keystore: Wrapping, header: bytes, release_id: uuid.UUID) -> bytes:
    """The data key of a copy's header, unwrapped by the key store (errors say which copy)."""
    blob = parse_header(header, release_id)
    try:
        return keystore.unwrap(wrap_name(release_id), blob)
    except EnvelopeError as exc:
        raise RetainedCopyError(
            f"the copy of release {release_id} does not open: {exc.message}"
        ) from None


@contextmanager
def folder_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """The folder's lock: shared while a writer wraps, exclusive while the KEK rotates."""
    prepare_folder(folder)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


def destroy_file(path: Path) -> bool:
    """Overwrite a copy's header (its wrapped key) with zeros, then delete the file.

    Deleting the file destroys the only wrapped copy of its data key (crypto-shredding);
    overwriting the header first also takes the key out of the disk blocks the file
    system frees, as far as a file system allows. Whether there was a file.
    """
    try:
        fd = os.open(path, os.O_WRONLY | _NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        size = os.fstat(fd).st_size
        os.pwrite(fd, bytes(min(size, HEADER_BYTES)), 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    return True


class RetainedCopyHeaders:
    """The copies folder as KEK rotation sees it (:class:`~fivesafes.keys.kek_rotation`'s
    ``WrappedElsewhere``): every copy's wrapped key, rewrapped header only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def describe(self) -> str:
        return f"retained release copies in {self.folder}"

    def locked(self) -> AbstractContextManager[None]:
        return folder_lock(self.folder, exclusive=True)

    def rewrap(self, store: Wrapping, new_kek_id: bytes) -> tuple[int, int]:
        """Rewrap every copy (and copy being written) not yet under ``new_kek_id``:
        ``(rewrapped, total)``."""
        return self._rewrap(store, store, lambda kek_id: kek_id != new_kek_id, new_kek_id)

    def rewrap_into(
        self, source: Wrapping, target: Wrapping, source_kek_ids: set[bytes]
    ) -> tuple[int, int]:
        """Rewrap under ``target`` every copy ``source`` wrapped (a key migration, before
        the source's KEK is shredded): ``(rewrapped, total)``."""
        return self._rewrap(source, target, source_kek_ids.__contains__, None)

    def _rewrap(
        self,
        source: Wrapping,
        target: Wrapping,
        wanted: Callable[[bytes], bool],
        new_kek_id: bytes | None,
    ) -> tuple[int, int]:
        if not self.folder.is_dir():
            return 0, 0
        paths = sorted(self.folder.glob(f"*{COPY_SUFFIX}")) + partial_paths(self.folder)
        done = total = 0
        for path in paths:
            changed = rewrap_header(source, target, path, wanted, new_kek_id)
            if changed is not None:
                total += 1
                done += changed
        if done:
            fsync_folder(self.folder)
        return done, total


def rewrap_header(
    source: Wrapping,
    target: Wrapping,
    path: Path,
    wanted: Callable[[bytes], bool],
    new_kek_id: bytes | None,
) -> bool | None:
    """Rewrap one file's data key (unwrapped by ``source``, wrapped by ``target``) if
    ``wanted`` says its KEK id must go; None for a partial file without a header (its
    writer died before writing one: it holds nothing). ``new_kek_id``: the id the fresh
    wrap must name (a rotation), checked."""
    try:
        fd = os.open(path, os.O_RDWR | _NOFOLLOW)
    except FileNotFoundError:  # a partial that was discarded or renamed meanwhile
        return None
    try:
        header = os.pread(fd, HEADER_BYTES, 0)
        if len(header) < HEADER_BYTES and path.name.endswith(PARTIAL_SUFFIX):
            return None
        release_id = _release_of(path)
        blob = parse_header(header, release_id)
        if not wanted(unpack_blob(blob)[0]):
            return False
        name = wrap_name(release_id)
        fresh = target.wrap(name, source.unwrap(name, blob))
        if new_kek_id is not None and unpack_blob(fresh)[0] != new_kek_id:
            raise EnvelopeError(
                f"the copy of release {release_id} was rewrapped under KEK "
                f"{unpack_blob(fresh)[0].hex()}, not the next KEK {new_kek_id.hex()}"
            )
        os.pwrite(fd, fresh, _BLOB_AT)
        os.fsync(fd)
        return True
    finally:
        os.close(fd)


def _release_of(path: Path) -> uuid.UUID:
    """The release a copy's file name says it belongs to."""
    stem = path.name.removesuffix(COPY_SUFFIX).lstrip(".").split(".", 1)[0]
    try:
        return uuid.UUID(stem)
    except ValueError:
        raise RetainedCopyError(f"{path.name} is not named after a release") from None
