"""The encrypted copy the platform keeps of every completed release, until the project closes.

A release is shuffled at random and cannot be made again, so its release package (the
crate) can only carry the file that was sent if the platform kept it: and a record of
exactly what left is what a trusted research environment keeps of its outputs.

:func:`~fivesafes.release.service.stream_release` writes every chunk it sends to a
:class:`RetainedCopyWriter` as well. The copy is written under a temporary name (0600, in
a 0700 folder) and takes its own name only when the release completed, in the short
transaction that records the release's hash (the :class:`ReleaseCopy` row is added
there); a stream that stops early deletes what it wrote. Nothing is in clear on disk: the
file format and its key handling are :mod:`.retained_file`.

:func:`open_retained_copy` reads it back (authenticated, bound to its release);
:func:`destroy_project_copies` deletes a closing project's copies, which destroys their
keys with them, and records who did it, when and why.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.errors import ConflictError, InvalidInputError, NotFoundError
from fivesafes.keys.envelope import SEGMENT_BYTES, DecryptingReader, EncryptedWriter
from fivesafes.keys.private_files import fsync_folder
from fivesafes.keys.store import KeyStore
from fivesafes.release.models import Release, ReleaseState
from fivesafes.release.retained_file import (
    HEADER_BYTES,
    PARTIAL_SUFFIX,
    RetainedCopyError,
    Wrapping,
    copy_path,
    destroy_file,
    folder_lock,
    make_header,
    open_data_key,
    partial_paths,
    prepare_folder,
    wrap_name,
)
from fivesafes.release.retained_models import ReleaseCopy

__all__ = [
    "RetainedCopy",
    "RetainedCopyError",
    "RetainedCopyWriter",
    "destroy_project_copies",
    "open_retained_copy",
    "retained_copy_path",
]

log = logging.getLogger(__name__)

UNAVAILABLE = "release_copy_unavailable"
#: Plaintext bytes per chunk a copy is read back in.
READ_BYTES = 1 << 20
_ACTOR_MAX = 64


def retained_copy_path(folder: Path, release_id: uuid.UUID) -> Path:
    """Where the completed copy of ``release_id`` is kept."""
    return copy_path(folder, release_id)


class RetainedCopyWriter:
    """One release's copy as it is sent: encrypt on write, publish and record, else discard.

    The data key is made here and wrapped by the key store at once, so the header is on
    disk before the first byte of data (KEK rotation then finds it, see
    :mod:`.retained_file`); the key itself is held only by this object.
    """

    def __init__(self, folder: Path, keystore: Wrapping, release_id: uuid.UUID) -> None:
        prepare_folder(folder)
        self.release_id = release_id
        self.path = retained_copy_path(folder, release_id)
        self.size = 0
        self._published = False
        self._temporary = folder / f".{release_id}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
        data_key = secrets.token_bytes(32)
        with folder_lock(folder, exclusive=False):
            fd = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            sink = os.fdopen(fd, "wb")
            try:
                os.fchmod(fd, 0o600)  # exact, whatever the umask
                sink.write(make_header(release_id, keystore.wrap(wrap_name(release_id), data_key)))
                raw = EncryptedWriter(sink, data_key, close_sink=True)
                sink.flush()  # written before the lock goes: a rotation reads it
            except BaseException:
                sink.close()
                self._temporary.unlink(missing_ok=True)
                raise
        self._out = raw

    def write(self, chunk: bytes) -> None:
        # A segment at a time: the envelope's buffer then never holds more than two, so
        # a chunk of megabytes is not shifted down once per segment sealed.
        view = memoryview(chunk)
        for at in range(0, len(view), SEGMENT_BYTES):
            self._out.write(view[at : at + SEGMENT_BYTES])
        self.size += len(chunk)

    def publish(self) -> None:
        """Seal the copy and give it its own name (durably): it is then complete.

        Separate from :meth:`record` so that the file work is done before the transaction
        that records it is opened (and kept short)."""
        if self._published:
            return
        self._out.close()
        fd = os.open(self._temporary, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(self._temporary, self.path)  # never replaces: a copy is made once
        self._published = True
        self._temporary.unlink()
        fsync_folder(self.path.parent)

    def record(self, session: Session, *, file_name: str, content_sha256: str) -> ReleaseCopy:
        """Publish the copy (if not yet) and add its row to ``session``: the caller's
        transaction, which records the release's hash. If it fails the caller discards."""
        self.publish()
        copy = ReleaseCopy(
            release_id=self.release_id,
            stored_at=utcnow(),
            byte_count=self.size,
            content_sha256=content_sha256,
            file_name=file_name,
        )
        session.add(copy)
        session.flush()
        return copy

    def discard(self) -> None:
        """Delete what was written (an interrupted stream, or a commit that failed)."""
        try:
            self._out.close()
        except (OSError, ValueError):  # a full disk: the file goes anyway
            log.warning("closing the retained copy of release %s failed", self.release_id)
        finally:
            destroy_file(self._temporary)
            if self._published:
                destroy_file(self.path)
                self._published = False


@dataclass(frozen=True, slots=True)
class RetainedCopy:
    """A copy ready to read: its record's facts, and :meth:`chunks` to read its bytes."""

    release_id: uuid.UUID
    file_name: str
    byte_count: int
    content_sha256: str
    path: Path
    header: bytes = field(repr=False)
    data_key: bytes = field(repr=False)

    def chunks(self) -> Iterator[bytes]:
        """The released bytes, decrypted and authenticated segment by segment.

        Raises :class:`RetainedCopyError` where tampering shows: a segment that does not
        authenticate, a file cut short, or (at the end) a size or SHA-256 that is not the
        release's. A caller that must not pass on part of a bad copy (a zip being
        served) reads it whole first.
        """
        digest, size = hashlib.sha256(), 0
        with self.path.open("rb") as source:
            if source.read(HEADER_BYTES) != self.header:
                raise RetainedCopyError(
                    f"the copy of release {self.release_id} changed while it was read"
                )
            try:
                reader = DecryptingReader(source, self.data_key)
                while chunk := reader.read(READ_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
            except RetainedCopyError:
                raise
            except Exception as exc:  # EnvelopeError, or a header cut short
                raise RetainedCopyError(
                    f"the copy of release {self.release_id} does not open: {exc}"
                ) from None
        if size != self.byte_count or digest.hexdigest() != self.content_sha256:
            raise RetainedCopyError(
                f"the copy of release {self.release_id} is not what was released "
                f"({size} bytes read, {self.byte_count} released; SHA-256 differs or not)"
            )

    def read(self) -> bytes:
        """The whole copy (authenticated) in memory."""
        return b"".join(self.chunks())


def open_retained_copy(
    session: Session, folder: Path, keystore: KeyStore, release_id: uuid.UUID
) -> RetainedCopy:
    """The retained copy of a release, its key unwrapped and its header checked.

    :class:`~fivesafes.errors.ConflictError` (``release_copy_unavailable``) when there is
    none, saying why: the release did not complete, was made before copies were kept,
    or its copy was destroyed. The caller has checked the user may see the release.
    """
    release = session.get(Release, release_id)
    if release is None:
        raise NotFoundError(f"no release {release_id}", code="release_not_found")
    copy = session.get(ReleaseCopy, release_id)
    if release.state != ReleaseState.COMPLETED:
        raise ConflictError(
            f"release {release_id} is {release.state.value}: only a completed release has a copy",
            code=UNAVAILABLE,
        )
    if copy is None:
        raise ConflictError(
            f"release {release_id} was made before the platform kept copies of releases: "
            "there is no copy of it",
            code=UNAVAILABLE,
        )
    if copy.destroyed_at is not None:
        raise ConflictError(
            f"the copy of release {release_id} was destroyed on "
            f"{copy.destroyed_at:%Y-%m-%d} ({copy.destruction_reason})",
            code=UNAVAILABLE,
        )
    if copy.content_sha256 != release.content_sha256:
        raise RetainedCopyError(f"the record of release {release_id}'s copy names another hash")
    return read_copy_file(
        folder,
        keystore,
        release_id,
        file_name=copy.file_name,
        byte_count=copy.byte_count,
        content_sha256=copy.content_sha256,
    )


def read_copy_file(
    folder: Path,
    keystore: Wrapping,
    release_id: uuid.UUID,
    *,
    file_name: str,
    byte_count: int,
    content_sha256: str,
) -> RetainedCopy:
    """The copy file of ``release_id``, its header checked and key unwrapped, to be read
    against the size and hash its record holds (:func:`open_retained_copy` without the
    database)."""
    path = retained_copy_path(folder, release_id)
    try:
        with path.open("rb") as source:
            header = source.read(HEADER_BYTES)
    except FileNotFoundError:
        log.error("the retained copy of release %s is missing: %s", release_id, path)
        raise ConflictError(
            f"the copy of release {release_id} is recorded but its file is missing "
            "(the server's log says where it was expected)",
            code=UNAVAILABLE,
        ) from None
    data_key = open_data_key(keystore, header, release_id)
    return RetainedCopy(release_id, file_name, byte_count, content_sha256, path, header, data_key)


def destroy_project_copies(
    session: Session,
    folder: Path,
    project_id: int,
    *,
    actor: str,
    reason: str,
    trail: AuditTrail,
) -> list[uuid.UUID]:
    """Destroy every kept copy of the project's releases; the releases whose copy this
    call destroyed (a second call finds none: idempotent).

    Each file is deleted (its wrapped key goes with it), its row marked destroyed (who,
    when, why) and ``release.copy_destroyed`` audited, in the caller's transaction. Files
    go first: a transaction that then fails leaves rows a rerun completes, never a record
    of destruction for a file still there. Copies still being written for the project's
    releases (or left by a process that died) are deleted too.
    """
    actor, reason = actor.strip(), reason.strip()
    if not actor or len(actor) > _ACTOR_MAX:
        raise InvalidInputError(f"actor: 1 to {_ACTOR_MAX} characters (a user id or 'system')")
    if not reason:
        raise InvalidInputError("reason: say why the copies are destroyed")
    copies = session.scalars(
        select(ReleaseCopy)
        .join(Release, Release.id == ReleaseCopy.release_id)
        .where(Release.project_id == project_id, ReleaseCopy.destroyed_at.is_(None))
        .order_by(ReleaseCopy.stored_at, ReleaseCopy.release_id)
    ).all()
    if folder.is_dir():
        ours = {
            str(r)
            for r in session.scalars(select(Release.id).where(Release.project_id == project_id))
        }
        for partial in partial_paths(folder):
            if partial.name[1:].split(".", 1)[0] in ours:
                destroy_file(partial)
    now = utcnow()
    destroyed = []
    for copy in copies:
        if not destroy_file(retained_copy_path(folder, copy.release_id)):
            log.warning("the copy of release %s was already gone", copy.release_id)
        copy.destroyed_at, copy.destroyed_by, copy.destruction_reason = now, actor, reason
        trail.record(
            session,
            "release.copy_destroyed",
            target_type="release",
            target_id=str(copy.release_id),
            details={"release_id": str(copy.release_id), "sha256": copy.content_sha256},
        )
        destroyed.append(copy.release_id)
    if folder.is_dir():
        fsync_folder(folder)
    session.flush()
    return destroyed
