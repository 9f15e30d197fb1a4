"""Releases: read, gate, record and audit before the first byte; stream; record the hash.

:func:`prepare_release` runs inside the caller's transaction (the API request's): the grant
has already passed ``active_grant_for``. The plan is built; the rows are read once (on a
separate read-only connection), counted for the disclosure gate as they will be released,
and put in the shuffling spool (:mod:`fivesafes.release.shuffle`: memory, or an encrypted
file for a large release); the gate decides (or refuses); the release row with its
manifest and the ``release.download`` audit event are written. Only then does
:func:`stream_release` send rows: from the spool, shuffled, without the suppressed ones,
transformed for the project. When the last byte is out, the SHA-256 and size of what was
sent are stored on the release in a short transaction of its own (``release.complete``);
a stream that stops early marks the release ``interrupted``.

Every chunk sent is also written to the release's encrypted retained copy
(:mod:`fivesafes.release.retained`): the copy is published, and its row added, in that
same short transaction; a stream that stops early deletes it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.facts import authorize, load_target
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import session_scope, utcnow
from fivesafes.errors import NotFoundError
from fivesafes.identity.models import User
from fivesafes.keys.store import KeyStore
from fivesafes.release import withdrawal
from fivesafes.release.ahead import ReadAhead
from fivesafes.release.counting import count_rows, project_generation, project_pseudonyms
from fivesafes.release.disclosure import GateResult, run_gate
from fivesafes.release.download import Download, ReleaseLimits
from fivesafes.release.manifest import build_manifest
from fivesafes.release.models import Release, ReleaseFormat, ReleaseState
from fivesafes.release.query import BATCH_ROWS, ReleasePlan, ReleaseTerms, build_plan
from fivesafes.release.retained import RetainedCopyWriter
from fivesafes.release.retained_file import prepare_folder
from fivesafes.release.shuffle import ShuffleSpool
from fivesafes.release.transform import BatchTransform
from fivesafes.release.writers import Writer, encode_batches, writer_for

log = logging.getLogger(__name__)

#: Each spooled row's quasi-identifier class (dropped before anything is written).
CLASS_COLUMN = "__fivesafes_class"


@dataclass(frozen=True, slots=True)
class PreparedRelease:
    """A release that passed every check and is recorded: ready to stream."""

    release_id: uuid.UUID
    grant_id: int
    fmt: ReleaseFormat
    plan: ReleasePlan
    gate: GateResult
    transform: BatchTransform
    spool: ShuffleSpool
    trail: AuditTrail
    keystore: KeyStore  # wraps the retained copy's key
    copies_folder: Path

    @property
    def filename(self) -> str:
        return f"grant-{self.grant_id}-release-{str(self.release_id)[:8]}.{self.fmt.value}"


def prepare_release(
    session: Session,
    trail: AuditTrail,
    keystore: KeyStore,
    policy: AccessPolicy,
    download: Download,
    *,
    engine: Engine,
    limits: ReleaseLimits,
) -> PreparedRelease:
    """Plan, read, gate, record and audit a release of the download's grant (which the
    caller checked)."""
    user, grant, fmt, now = download.user, download.grant, download.fmt, download.now
    prepare_folder(limits.copies_folder)  # refused before any work if it cannot be made
    plan = build_plan(session, ReleaseTerms.of(grant))
    withdrawal.hold_for_release(session, plan.version)
    pseudonyms = project_pseudonyms(
        keystore,
        grant.project_id,
        plan,
        project_generation=project_generation(session, grant.project_id),
    )
    spool = ShuffleSpool(
        limits.spool_folder,
        plan.version.row_count,
        np.random.default_rng(secrets.randbits(128)),
        memory_bytes=limits.spool_memory_bytes,
    )

    def spooled(batch: pa.RecordBatch, class_ids: np.ndarray | None) -> None:
        # Rows are spooled as stored and transformed on the way out, where a second core
        # is free (here the database and its driver keep both busy).
        if class_ids is None:
            spool.add(batch)
        else:
            spool.add(batch.append_column(CLASS_COLUMN, pa.array(class_ids)))

    try:
        transform = BatchTransform(plan, pseudonyms)
        counter = count_rows(
            plan,
            transform,
            engine,
            session.connection(),
            max_rows=limits.max_rows,
            sink=spooled,
        )
        gate = run_gate(counter, plan, policy.release)
    except BaseException:
        spool.close()
        raise
    release_id = uuid.uuid4()
    manifest = build_manifest(str(release_id), download, plan, gate, policy, pseudonyms)
    session.add(
        Release(
            id=release_id,
            grant_id=grant.id,
            project_id=grant.project_id,
            dataset_version_id=plan.version.id,
            user_id=user.id,
            file_format=fmt,
            state=ReleaseState.STREAMING,
            row_count=gate.rows_released,
            rows_suppressed=gate.rows_suppressed,
            manifest=json.dumps(manifest, sort_keys=True),
            created_at=now,
        )
    )
    session.flush()
    trail.record(
        session,
        "release.download",
        target_type="release",
        target_id=str(release_id),
        details={
            "grant_id": grant.id,
            "project_id": grant.project_id,
            "dataset": grant.dataset.name,
            "dataset_version": plan.version.number,
            "format": fmt.value,
            "rows": gate.rows_released,
            "rows_suppressed": gate.rows_suppressed,
            "k_achieved": gate.k_achieved,
        },
    )
    return PreparedRelease(
        release_id=release_id,
        grant_id=grant.id,
        fmt=fmt,
        plan=plan,
        gate=gate,
        transform=transform,
        spool=spool,
        trail=trail,
        keystore=keystore,
        copies_folder=limits.copies_folder,
    )


def stream_release(prepared: PreparedRelease, factory: sessionmaker[Session]) -> Iterator[bytes]:
    """The release's bytes; the hash is recorded when the last one has been produced.

    Shuffling and encoding run on threads of their own, a few batches ahead: the server
    sends one chunk while the next is encoded, rather than encoding only once the client
    has taken the last one off the socket."""
    size = 0
    completed = False
    decimals = frozenset(c.name for c in prepared.plan.columns if c.out_kind == "decimal")
    metadata = {"fivesafes.release_id": str(prepared.release_id)}
    safe = frozenset(c.name for c in prepared.plan.columns if c.treatment == "project_pseudonym")
    writer = writer_for(prepared.fmt, prepared.transform.schema, decimals, metadata, safe)
    tally = _Tally()
    shuffled = ReadAhead(_released_batches(prepared), 2, "release-shuffle")
    encoded = ReadAhead(tally.encode(writer, iter(shuffled)), 4, "release-encode")
    copy: RetainedCopyWriter | None = None
    try:
        copy = RetainedCopyWriter(prepared.copies_folder, prepared.keystore, prepared.release_id)
        for chunk in encoded:
            size += len(chunk)
            copy.write(chunk)
            yield chunk
        if tally.rows != prepared.gate.rows_released:
            raise RuntimeError(
                f"release {prepared.release_id}: {tally.rows} rows written, "
                f"{prepared.gate.rows_released} expected"
            )
        completed = True
    finally:
        encoded.close()
        shuffled.close()
        prepared.spool.close()
        _finish(
            prepared,
            factory,
            sha256=tally.digest.hexdigest(),
            size=size,
            rows=tally.rows,
            completed=completed,
            copy=copy,
        )


class _Tally:
    """Encodes batches, counting their rows and hashing the bytes made of them."""

    def __init__(self) -> None:
        self.rows = 0
        self.digest = hashlib.sha256()

    def encode(self, writer: Writer, batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
        for chunk in encode_batches(writer, self._count(batches)):
            self.digest.update(chunk)
            yield chunk

    def _count(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self.rows += batch.num_rows
            yield batch


def _released_batches(prepared: PreparedRelease) -> Iterator[pa.RecordBatch]:
    """The spooled rows, shuffled, without suppressed classes, transformed for release."""
    suppressed = prepared.gate.suppressed_classes
    keep = None
    if suppressed is not None:
        kept = ~suppressed

        def keep(table: pa.Table) -> np.ndarray:
            ids = table.column(CLASS_COLUMN).to_numpy()
            result: np.ndarray = kept[ids]
            return result

    for batch in prepared.spool.batches(BATCH_ROWS, keep):
        yield prepared.transform(batch)


def _finish(
    prepared: PreparedRelease,
    factory: sessionmaker[Session],
    *,
    sha256: str,
    size: int,
    rows: int,
    completed: bool,
    copy: RetainedCopyWriter | None,
) -> None:
    """Record the outcome. A completed release's copy is sealed and named first, its row
    added in the same transaction (and the file deleted if that fails); an interrupted
    release's copy is deleted. A copy that cannot be kept (a full disk) does not unmake
    the release, whose bytes have left: it is recorded as completed without a copy."""
    kept = False
    if completed and copy is not None:
        try:
            copy.publish()
            kept = True
        except Exception:
            log.exception("the copy of release %s could not be kept", prepared.release_id)
    try:
        with session_scope(factory) as session:
            release = session.get(Release, prepared.release_id)
            assert release is not None
            release.completed_at = utcnow()
            details: dict[str, object] = {"bytes": size, "rows": rows}
            if completed:
                release.state = ReleaseState.COMPLETED
                release.content_sha256, release.byte_count = sha256, size
                details.update(sha256=sha256, copy_kept=kept)
                if kept:
                    assert copy is not None
                    copy.record(session, file_name=prepared.filename, content_sha256=sha256)
            else:
                release.state = ReleaseState.INTERRUPTED
                details.update(sha256=None)
            prepared.trail.record(
                session,
                "release.complete" if completed else "release.interrupted",
                outcome="success" if completed else "failed",
                target_type="release",
                target_id=str(prepared.release_id),
                details=details,
            )
    except BaseException:
        if copy is not None:
            copy.discard()
        raise
    if copy is not None and not kept:
        copy.discard()


def get_release(
    session: Session, policy: AccessPolicy, user: User, release_id: uuid.UUID, now: datetime
) -> Release:
    """A release, for the researchers of its grant's project and governance (grant.view)."""
    release = session.get(Release, release_id)
    if release is None:
        raise NotFoundError(f"no release {release_id}", code="release_not_found")
    authorize(policy, user, Action.GRANT_VIEW, load_target(session, grant_id=release.grant_id), now)
    return release


def list_releases(session: Session, grant_id: int) -> list[Release]:
    """The releases of a grant, oldest first (the caller checked ``grant.view``)."""
    query = select(Release).where(Release.grant_id == grant_id)
    return list(session.scalars(query.order_by(Release.created_at, Release.id)))
