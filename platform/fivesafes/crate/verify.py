"""Offline verification of a crate zip: every check, each passed or failed with why.

Used by ``fivesafes crate verify`` (with the PEM key ``fivesafes keys export-public``
writes) and by ``fivesafes fetch --crate`` (internal consistency, before the zip is
renamed into place). It never touches the network. Nothing is extracted: members are
read from the zip, the data file hashed in chunks. Names are checked before anything is
read: a crate is flat (no folders), so any ``/``, ``\\``, ``..`` or absolute name —
a path traversal attempt — fails the ``archive`` check, as do duplicate names.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from fivesafes.crate import signing
from fivesafes.crate.profile import profile_problems
from fivesafes.keys.retired import RetiredKey
from fivesafes.keys.store import public_key_fingerprint

#: The metadata and signature members are small; anything larger is not a crate of ours.
_MAX_JSON_BYTES = 64 << 20
_CHUNK = 1 << 20
CHECKS = (
    "archive",
    "signature_file",
    "members",
    "key",
    "signature",
    "metadata_sha256",
    "files",
    "profile",
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(slots=True)
class Verification:
    """The checks made, in order; the crate is valid when every one passed."""

    checks: list[Check] = field(default_factory=list)
    signed: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return len(self.checks) == len(CHECKS) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def add(self, name: str, problems: list[str], ok: str) -> bool:
        passed = not problems
        self.checks.append(Check(name, passed, ok if passed else "; ".join(problems)))
        return passed


def unsafe_name(name: str) -> bool:
    """Whether a member name could leave the crate's folder or is not a plain name."""
    return (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or ":" in name
        or any(ord(c) < 32 for c in name)
    )


def _read_json(archive: zipfile.ZipFile, name: str) -> tuple[bytes, Any]:
    info = archive.getinfo(name)
    if info.file_size > _MAX_JSON_BYTES:
        raise ValueError(f"{name} is larger than {_MAX_JSON_BYTES} bytes")
    raw = archive.read(name)
    return raw, json.loads(raw)


def _file_hash(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with archive.open(name) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _file_entities(metadata: Any) -> dict[str, dict[str, Any]]:
    graph = metadata.get("@graph", []) if isinstance(metadata, dict) else []
    return {
        str(e.get("@id")): e
        for e in graph
        if isinstance(e, dict) and e.get("@type") == "File" and isinstance(e.get("@id"), str)
    }


def verify_crate(
    source: Path | IO[bytes], public_key: bytes | None, retired: Sequence[RetiredKey] = ()
) -> Verification:
    """Check the crate at ``source``; ``public_key`` (raw Ed25519) None skips the
    signature and key checks (``fetch --crate``: internal consistency only).

    ``retired``: audit-signing keys retired by rotations, already checked to be attested
    up to ``public_key`` (``keys.retired.attested_chain``): a crate signed before a
    rotation verifies with its retired key, if it was published while that key was in
    force."""
    result = Verification()
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        result.add("archive", [f"not a zip file: {exc}"], "")
        return result
    with archive:
        _verify_open(archive, _Keys(public_key, tuple(retired)), result)
    return result


@dataclass(frozen=True, slots=True)
class _Keys:
    current: bytes | None
    retired: tuple[RetiredKey, ...] = ()


def _verify_open(archive: zipfile.ZipFile, keys: _Keys, result: Verification) -> None:
    names = archive.namelist()
    problems = [f"unsafe member name {n!r}" for n in names if unsafe_name(n)]
    problems += [f"duplicate member {n!r}" for n in sorted(set(names)) if names.count(n) > 1]
    if not result.add("archive", problems, f"{len(names)} members, flat, no duplicates"):
        return
    try:
        _, document = _read_json(archive, signing.SIGNATURE_NAME)
        signed = document["signed"]
        files = signed["files"]
        if not isinstance(files, dict) or not isinstance(signed.get("metadata_sha256"), str):
            raise ValueError("signed files or metadata_sha256 malformed")
    except (KeyError, ValueError, TypeError) as exc:
        result.add("signature_file", [f"{signing.SIGNATURE_NAME}: {exc}"], "")
        return
    result.signed = signed
    result.add("signature_file", [], f"{signing.SIGNATURE_NAME} read ({signed.get('kind')})")
    expected = {signing.METADATA_NAME, signing.SIGNATURE_NAME, *files}
    problems = [f"unexpected member {n!r}" for n in sorted(set(names) - expected)]
    problems += [f"missing member {n!r}" for n in sorted(expected - set(names))]
    result.add("members", problems, f"exactly the signed members: {sorted(expected)}")
    try:
        raw, metadata = _read_json(archive, signing.METADATA_NAME)
    except (KeyError, ValueError) as exc:
        _signature(keys, document, None, result)
        result.add("metadata_sha256", [f"{signing.METADATA_NAME}: {exc}"], "")
        result.add("files", ["metadata unreadable"], "")
        result.add("profile", ["metadata unreadable"], "")
        return
    _signature(keys, document, _published(metadata), result)
    digest = hashlib.sha256(raw).hexdigest()
    problems = [] if digest == signed["metadata_sha256"] else ["metadata differs from the signed"]
    result.add("metadata_sha256", problems, f"sha256 {digest}")
    result.add("files", _files(archive, set(names), files, metadata), f"{len(files)} file(s)")
    kind = str(signed.get("kind"))
    result.add("profile", profile_problems(metadata, kind), f"Five Safes RO-Crate 0.4 ({kind})")


def _published(metadata: Any) -> datetime | None:
    """The root's ``datePublished`` (signed with the metadata's hash), if it parses."""
    graph = metadata.get("@graph", []) if isinstance(metadata, dict) else []
    root = next((e for e in graph if isinstance(e, dict) and e.get("@id") == "./"), {})
    try:
        moment = datetime.fromisoformat(str(root.get("datePublished")))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _signature(
    keys: _Keys, document: dict[str, Any], published: datetime | None, result: Verification
) -> None:
    if keys.current is None:
        result.add("key", [], "not checked (no public key given)")
        result.add("signature", [], "not checked (no public key given)")
        return
    fingerprint = public_key_fingerprint(keys.current)
    claimed = document.get("key_fingerprint")
    if claimed == fingerprint:
        result.add("key", [], f"key {fingerprint}")
        valid = signing.signature_valid(keys.current, document)
        result.add(
            "signature", [] if valid else ["Ed25519 signature does not verify"], "Ed25519 ok"
        )
        return
    retired = next((r for r in keys.retired if r.fingerprint == claimed), None)
    if retired is None:
        result.add("key", [f"signed by key {claimed}, not {fingerprint}"], "")
        result.add("signature", ["not checked: the signing key is not trusted"], "")
        return
    late = published is None or published > retired.valid_until
    problems = (
        [f"published after key {claimed} was retired ({retired.valid_until})"] if late else []
    )
    result.add("key", problems, f"retired key {claimed}, attested up to key {fingerprint}")
    valid = signing.signature_valid(retired.public_key, document)
    result.add("signature", [] if valid else ["Ed25519 signature does not verify"], "Ed25519 ok")


def _files(
    archive: zipfile.ZipFile, names: set[str], files: dict[str, Any], metadata: Any
) -> list[str]:
    described = _file_entities(metadata)
    problems = []
    for name, signed_hash in sorted(files.items()):
        if name not in names:
            problems.append(f"{name}: not in the zip")
            continue
        digest, size = _file_hash(archive, name)
        if digest != signed_hash:
            problems.append(f"{name}: sha256 {digest} is not the signed {signed_hash}")
        entity = described.get(name)
        if entity is None:
            problems.append(f"{name}: no File entity in the metadata")
            continue
        if entity.get("sha256") != digest:
            problems.append(f"{name}: sha256 differs from its File entity")
        if str(entity.get("contentSize")) != str(size):
            problems.append(f"{name}: contentSize {entity.get('contentSize')} is not {size}")
    return problems
