"""Crate zips, written as a stream: nothing is spooled to disk, in clear or otherwise.

``zipfile`` writes to an unseekable sink (data descriptors after each member), so the
zip is produced chunk by chunk as the HTTP response is sent. The data file comes from
the release's retained copy (decrypted and authenticated chunk by chunk by
``release.retained``); its SHA-256 is checked against the release record as it passes,
and a mismatch stops the stream before the signature member is written, so a crate
whose data is not what was released can never be complete.

Members: the released file (release crates only), ``ro-crate-metadata.json`` and
``ro-crate-signature.json`` — nothing else, at the top level of the zip.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fivesafes.crate import metadata, signing
from fivesafes.crate.facts import CrateFacts
from fivesafes.keys.store import KeyStore


class DataCopy(Protocol):
    """What a crate needs of a release's retained copy (``release.retained.RetainedCopy``)."""

    @property
    def file_name(self) -> str: ...

    @property
    def content_sha256(self) -> str: ...

    def chunks(self) -> Iterator[bytes]: ...


class CrateIntegrityError(RuntimeError):
    """The retained copy's bytes are not the ones the release recorded (stream aborted)."""


@dataclass(frozen=True, slots=True)
class CratePackage:
    """A signed crate ready to stream: what it signs (for the audit) and its zip bytes."""

    file_name: str
    signed: dict[str, Any]
    body: Iterator[bytes]


class _Sink:
    """A write-only, unseekable file object whose writes are collected for yielding."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _info(name: str, when: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def zip_stream(
    members: Iterable[tuple[str, Iterable[bytes], str | None]], when: datetime
) -> Iterator[bytes]:
    """A zip of ``(name, chunks, expected sha256 or None)``, yielded as it is written."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w") as archive:
        for name, chunks, expected in members:
            digest = hashlib.sha256()
            with archive.open(_info(name, when), mode="w", force_zip64=True) as member:
                for chunk in chunks:
                    digest.update(chunk)
                    member.write(chunk)
                    if out := sink.take():
                        yield out
            if expected is not None and digest.hexdigest() != expected:
                raise CrateIntegrityError(f"{name}: SHA-256 differs from the release record")
            if out := sink.take():
                yield out
    if out := sink.take():
        yield out


def release_crate(facts: CrateFacts, keystore: KeyStore, copy: DataCopy) -> CratePackage:
    """The signed crate of the one release in ``facts``, its data read from ``copy``."""
    (release,) = facts.releases
    if release.sha256 is None or copy.content_sha256 != release.sha256:
        raise CrateIntegrityError(f"release {release.id}: retained copy is not the release")
    body = metadata.metadata_bytes(metadata.release_metadata(facts))
    files = {release.file_name: release.sha256}
    signed = signing.signed_content("release", {"release_id": str(release.id)}, body, files)
    signature = signing.sign(keystore, signed)
    when = release.completed_at or release.created_at
    members: list[tuple[str, Iterable[bytes], str | None]] = [
        (signing.METADATA_NAME, [body], None),
        (release.file_name, copy.chunks(), release.sha256),
        (signing.SIGNATURE_NAME, [signature], None),
    ]
    name = f"release-{release.id}.crate.zip"
    return CratePackage(name, signed, zip_stream(members, when))


def project_crate(facts: CrateFacts, keystore: KeyStore, published_at: datetime) -> CratePackage:
    """The signed crate of a project: metadata only (every release by its hash)."""
    body = metadata.metadata_bytes(metadata.project_metadata(facts, published_at=published_at))
    subject = {"project_id": facts.project.id}
    signed = signing.signed_content("project", subject, body, {})
    signature = signing.sign(keystore, signed)
    members: list[tuple[str, Iterable[bytes], str | None]] = [
        (signing.METADATA_NAME, [body], None),
        (signing.SIGNATURE_NAME, [signature], None),
    ]
    name = f"project-{facts.project.id}.crate.zip"
    return CratePackage(name, signed, zip_stream(members, published_at))
