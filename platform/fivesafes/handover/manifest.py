"""The signed manifest a de-identification job writes beside its part files, and its check.

A job that runs outside the platform (Spark on a trust's cluster, or the local engine
writing a directory) hands its output over as files. Whoever can write that folder could
swap, edit, drop or add a part file, or pass off output made under an older policy: so the
job ends by writing ``_fivesafes_manifest.json``, which names the policy (name, version,
content hash), the row counts, every part file's SHA-256, the engine and the software
versions, and signs its RFC 8785 canonical JSON with the platform's Ed25519 signing key
(the key store's :meth:`~fivesafes.keys.store.KeyStore.sign`, the audit checkpoints' key).
The manifest carries a ``kind`` of its own, so a signature over it can never be mistaken
for a checkpoint's or a retired-key attestation's, nor one of those for a manifest.

The manifest is written LAST, atomically, after every part file is complete: a job killed
half-way leaves a directory without a manifest, which :func:`verify_directory` refuses as
unsigned.

:func:`verify_directory` trusts nothing in the directory but what the signature covers:
the key comes from the verifier (:class:`~fivesafes.audit.trust.TrustedKeys`, the current
key and the retired keys attested up to it), never from the manifest file. Every refusal
is a :class:`HandoverRefusedError` (4xx) naming the file and what is wrong with it.

Layering: this module is below :mod:`fivesafes.deid` (the Spark job imports it), so it
takes the policy it checks against as a :class:`PolicyIdentity` protocol, which
:class:`fivesafes.deid.policy.Policy` satisfies, and reads software versions itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final, Protocol

import rfc8785

from fivesafes.audit.trust import TrustedKeys
from fivesafes.config import DEFAULT_SPACY_MODEL
from fivesafes.errors import InvalidInputError
from fivesafes.keys.private_files import fsync_folder
from fivesafes.keys.remap import current_generation
from fivesafes.keys.store import KeyStore, ed25519_verifies, public_key_fingerprint
from fivesafes.software_versions import software_versions

MANIFEST_NAME: Final = "_fivesafes_manifest.json"
#: The ``kind`` inside every signed manifest (domain separation of the signature).
MANIFEST_KIND: Final = "fivesafes-handover-manifest/v1"
ENGINES: Final = frozenset({"local", "spark"})
OUTPUT_FORMATS: Final = frozenset({"parquet", "csv", "jsonl"})
#: Files a job may leave that are not data and are not listed: Spark's empty success
#: marker and Hadoop's checksum side files. Anything else unlisted is refused.
_BOOKKEEPING: Final = re.compile(r"^(_SUCCESS|\..+\.crc)$")
#: A manifest is a few kilobytes per thousand part files; anything far larger is not one.
MAX_MANIFEST_BYTES: Final = 32 * 1024 * 1024
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
_SIGNATURE_BYTES: Final = 64
_ENVELOPE_FIELDS: Final = frozenset({"manifest", "signature", "public_key_fingerprint"})
_MANIFEST_FIELDS: Final = frozenset(
    {
        "kind",
        "policy",
        "rows",
        "files",
        "engine",
        "output_format",
        "report_counts",
        "versions",
        "created_at",
        "pseudonym_generation",
        "opt_out_list",
    }
)
_BLOCK: Final = 1 << 20


class HandoverRefusedError(InvalidInputError):
    """A hand-over directory that cannot be accepted; the message names the file and why."""

    code = "handover_refused"


class PolicyIdentity(Protocol):
    """What a manifest is checked against: a policy's dataset name, version and hash."""

    @property
    def dataset(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def content_hash(self) -> str: ...


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(  # noqa: PLR0913 - the agreed interface: one keyword per field
    *,
    policy_name: str,
    policy_version: int | str,
    policy_sha256: str,
    input_rows: int,
    output_rows: int,
    files: Mapping[str, str],
    engine: str,
    report_counts: Mapping[str, int],
    output_format: str,
    spacy_model: str | None = DEFAULT_SPACY_MODEL,
    pseudonym_generation: int | None = None,
    opt_out_list: int | None = None,
) -> dict[str, Any]:
    """The manifest of one finished job, checked for shape (the same checks as on reading).

    ``files`` maps each part file's path relative to the output directory (``/``
    separated) to its SHA-256 hex; ``report_counts`` the scrubber's labels to how many
    spans of each it replaced. Model and platform versions are added here.
    ``pseudonym_generation`` is the generation the job made its pseudonyms at (the
    plan's); None lets :func:`write_manifest` take the key store's current one, so the
    version records it and a later rotation re-maps it (:mod:`fivesafes.keys.remap`).
    ``opt_out_list`` is the id of the National Data Opt-out list the job applied (None:
    none); ingestion refuses output not made with the list in force.
    """
    manifest: dict[str, Any] = {
        "kind": MANIFEST_KIND,
        "policy": {
            "name": policy_name,
            "version": int(policy_version),
            "sha256": policy_sha256,
        },
        "rows": {"input": input_rows, "output": output_rows},
        "files": dict(sorted(files.items())),
        "engine": engine,
        "output_format": output_format,
        "report_counts": dict(sorted(report_counts.items())),
        "versions": software_versions(spacy_model),
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "pseudonym_generation": pseudonym_generation,
        "opt_out_list": opt_out_list,
    }
    problem = manifest_problem(manifest, unsigned=True)
    if problem is not None:
        raise ValueError(f"not a valid hand-over manifest: {problem}")
    return manifest


def signed_message(manifest: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the manifest's RFC 8785 canonical JSON."""
    return rfc8785.dumps(dict(manifest))


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical manifest: the hand-over's identity (duplicate detection)."""
    return hashlib.sha256(signed_message(manifest)).hexdigest()


def signed_manifest_bytes(manifest: dict[str, Any], keystore: KeyStore) -> bytes:
    """The manifest file's bytes: ``manifest`` (its pseudonym generation filled in from
    the key store if unset), checked, in an envelope with its signature."""
    if manifest.get("pseudonym_generation") is None:
        generation = current_generation(keystore.pseudonym_remap_keys())
        manifest = {**manifest, "pseudonym_generation": generation}
    problem = manifest_problem(manifest)
    if problem is not None:
        raise ValueError(f"not a valid hand-over manifest: {problem}")
    message = signed_message(manifest)
    envelope = {
        "manifest": manifest,
        "signature": base64.b64encode(keystore.sign(message)).decode("ascii"),
        "public_key_fingerprint": public_key_fingerprint(keystore.verification_key()),
    }
    return (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_manifest(out_dir: Path, manifest: dict[str, Any], keystore: KeyStore) -> Path:
    """Sign ``manifest`` and write it into ``out_dir`` atomically; the manifest's path.

    Call it LAST, once every part file is complete: the rename into place is what makes
    the directory a hand-over. Every listed file must exist already (a job that lists a
    file it did not write is a bug better found here than at ingestion).
    """
    for name in manifest["files"]:
        if not (out_dir / name).is_file():
            raise ValueError(f"{out_dir / name}: listed in the manifest but not written")
    data = signed_manifest_bytes(manifest, keystore)
    target = out_dir / MANIFEST_NAME
    fd, temporary = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    fsync_folder(out_dir)
    return target


# -- checking ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedHandover:
    """A directory whose manifest is signed by a trusted key and whose files match it.

    The files are checked once here; :meth:`read_part` checks each again as it is read
    for loading, so a file swapped between the check and the load is refused too.
    """

    directory: Path
    manifest: dict[str, Any]
    signer_fingerprint: str
    manifest_sha256: str
    signed_by_retired_key: bool

    @property
    def files(self) -> dict[str, str]:
        return dict(self.manifest["files"])

    @property
    def output_format(self) -> str:
        return str(self.manifest["output_format"])

    @property
    def output_rows(self) -> int:
        return int(self.manifest["rows"]["output"])

    @property
    def input_rows(self) -> int:
        return int(self.manifest["rows"]["input"])

    @property
    def pseudonym_generation(self) -> int:
        return int(self.manifest["pseudonym_generation"])

    @property
    def opt_out_list(self) -> int | None:
        """The National Data Opt-out list the job applied, or None."""
        listed = self.manifest["opt_out_list"]
        return None if listed is None else int(listed)

    @property
    def engine(self) -> str:
        return str(self.manifest["engine"])

    def read_part(self, name: str) -> bytes:
        """The bytes of part file ``name``, refused unless their SHA-256 is the manifest's."""
        expected = self.manifest["files"][name]
        path = self.directory / name
        try:
            data = _read_regular(path)
        except OSError as exc:
            raise HandoverRefusedError(f"{path}: cannot read ({exc.strerror})") from None
        if not hmac.compare_digest(hashlib.sha256(data).hexdigest(), expected):
            raise HandoverRefusedError(f"{path}: altered since it was verified (SHA-256 differs)")
        return data

    def provenance(self) -> dict[str, Any]:
        """What a dataset version records of its hand-over."""
        return {
            "manifest_sha256": self.manifest_sha256,
            "signature_fingerprint": self.signer_fingerprint,
            "signed_by_retired_key": self.signed_by_retired_key,
            "engine": self.engine,
            "output_format": self.output_format,
            "created_at": self.manifest["created_at"],
            "pseudonym_generation": self.pseudonym_generation,
            "opt_out_list": self.opt_out_list,
            "policy": dict(self.manifest["policy"]),
            "rows": dict(self.manifest["rows"]),
            "files": self.files,
            "report_counts": dict(self.manifest["report_counts"]),
            "versions": self.manifest["versions"],
        }


def verify_directory(
    out_dir: Path, trusted: TrustedKeys | str, *, policy: PolicyIdentity
) -> VerifiedHandover:
    """Check a hand-over directory against ``trusted`` keys and ``policy``; refuse otherwise.

    In order: the manifest exists (else: unsigned), is an envelope, its signature verifies
    with a trusted key, its fields are well formed, it was made under exactly ``policy``
    (dataset, version and content hash), the directory holds exactly the listed files
    (plus Spark's bookkeeping files) as regular files, and each file's SHA-256 matches.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise HandoverRefusedError(f"{out_dir}: not a directory")
    manifest_path = out_dir / MANIFEST_NAME
    envelope = _read_envelope(manifest_path)
    manifest = envelope["manifest"]
    try:
        message = signed_message(manifest)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        raise HandoverRefusedError(
            f"{manifest_path}: the manifest cannot be canonicalised"
        ) from None
    signer, retired = _signer(manifest_path, envelope, message, TrustedKeys.of(trusted))
    problem = manifest_problem(manifest)
    if problem is not None:
        raise HandoverRefusedError(f"{manifest_path}: {problem}")
    if retired is not None and _created_at(manifest) > retired:
        raise HandoverRefusedError(
            f"{manifest_path}: signed by retired key {signer} but dated after its retirement"
        )
    _check_policy(manifest_path, manifest["policy"], policy)
    _check_files(out_dir, manifest["files"])
    return VerifiedHandover(
        directory=out_dir,
        manifest=manifest,
        signer_fingerprint=signer,
        manifest_sha256=hashlib.sha256(message).hexdigest(),
        signed_by_retired_key=retired is not None,
    )


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes, never through a symbolic link (it could point anywhere)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError(0, "not a regular file")
        return handle.read()


def _read_envelope(path: Path) -> dict[str, Any]:
    if not path.exists() and not path.is_symlink():
        raise HandoverRefusedError(
            f"{path}: no manifest: the directory is unsigned (or its job did not finish)",
            code="handover_unsigned",
        )
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise HandoverRefusedError(
                f"{path}: larger than any manifest ({MAX_MANIFEST_BYTES} bytes)"
            )
        raw = _read_regular(path)
    except OSError:
        raise HandoverRefusedError(
            f"{path}: cannot read the manifest (not a regular file)"
        ) from None
    try:
        envelope = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HandoverRefusedError(f"{path}: not a manifest (not JSON)") from None
    if not isinstance(envelope, dict) or set(envelope) != _ENVELOPE_FIELDS:
        raise HandoverRefusedError(
            f"{path}: a manifest file holds exactly " + ", ".join(sorted(_ENVELOPE_FIELDS)),
            code="handover_unsigned",
        )
    if not isinstance(envelope["manifest"], dict):
        raise HandoverRefusedError(f"{path}: 'manifest' is not an object")
    return envelope


def _signer(
    path: Path, envelope: dict[str, Any], message: bytes, trusted: TrustedKeys
) -> tuple[str, datetime | None]:
    """The fingerprint of the trusted key that signed, and a retired key's end of validity.

    The fingerprint in the file is only a hint for people: the key is found among the
    trusted ones by the signature itself, then the hint must agree.
    """
    try:
        signature = base64.b64decode(str(envelope["signature"]), validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != _SIGNATURE_BYTES:
        raise HandoverRefusedError(f"{path}: the signature is not an Ed25519 signature")
    current = base64.b64decode(trusted.current)
    if ed25519_verifies(current, signature, message):
        fingerprint, until = public_key_fingerprint(current), None
    else:
        match = next((k for k in trusted.retired if k.signed(signature, message)), None)
        if match is None:
            raise HandoverRefusedError(
                f"{path}: the signature does not verify with the trusted signing key"
                + (" or any retired key" if trusted.retired else "")
                + " (altered, or signed by a key this platform does not trust)",
                code="handover_bad_signature",
            )
        fingerprint, until = match.fingerprint, match.valid_until
    if envelope["public_key_fingerprint"] != fingerprint:
        raise HandoverRefusedError(
            f"{path}: public_key_fingerprint does not name the key that signed ({fingerprint})"
        )
    return fingerprint, until


def _created_at(manifest: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(manifest["created_at"]))


def _check_policy(path: Path, stated: Mapping[str, Any], policy: PolicyIdentity) -> None:
    expected = {"name": policy.dataset, "version": policy.version, "sha256": policy.content_hash}
    for field in ("name", "version", "sha256"):
        if stated[field] != expected[field]:
            raise HandoverRefusedError(
                f"{path}: made under policy {stated['name']} v{stated['version']} "
                f"(sha256 {str(stated['sha256'])[:16]}…), not the dataset's current policy "
                f"{expected['name']} v{expected['version']} "
                f"(sha256 {str(expected['sha256'])[:16]}…)",
                code="handover_policy_mismatch",
            )


def _check_files(out_dir: Path, listed: Mapping[str, str]) -> None:
    present = _present_files(out_dir)
    missing = sorted(set(listed) - present)
    if missing:
        raise HandoverRefusedError(
            f"{out_dir / missing[0]}: listed in the manifest but missing"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            code="handover_missing_file",
        )
    extra = sorted(present - set(listed))
    if extra:
        raise HandoverRefusedError(
            f"{out_dir / extra[0]}: not listed in the manifest"
            + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""),
            code="handover_extra_file",
        )
    for name in sorted(listed):
        path = out_dir / name
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise HandoverRefusedError(f"{path}: cannot read ({exc.strerror})") from None
        if not hmac.compare_digest(actual, listed[name]):
            raise HandoverRefusedError(
                f"{path}: altered or truncated (its SHA-256 is not the manifest's)",
                code="handover_altered_file",
            )


def _present_files(out_dir: Path) -> set[str]:
    """Every file under ``out_dir`` but the manifest and bookkeeping, as relative paths.

    Symbolic links and anything not a regular file are refused: a link could make a
    verified name read other bytes than the ones the job wrote.
    """
    found: set[str] = set()
    for root, dirs, names in os.walk(out_dir, followlinks=False):
        base = Path(root)
        for name in [*dirs, *names]:
            path = base / name
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise HandoverRefusedError(f"{path}: a symbolic link; a hand-over holds only files")
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise HandoverRefusedError(f"{path}: not a regular file")
            relative = path.relative_to(out_dir).as_posix()
            if relative == MANIFEST_NAME or _BOOKKEEPING.match(name):
                continue
            found.add(relative)
    return found


# -- shape ---------------------------------------------------------------------------------


def manifest_problem(manifest: Any, *, unsigned: bool = False) -> str | None:
    """None if ``manifest`` is well formed; otherwise what is wrong (for the message).

    ``unsigned``: a manifest not yet written, whose pseudonym generation may still be
    None (:func:`write_manifest` fills it in).
    """
    if not isinstance(manifest, dict):
        return "the manifest is not an object"
    if set(manifest) != _MANIFEST_FIELDS:
        return "the manifest holds exactly " + ", ".join(sorted(_MANIFEST_FIELDS))
    if manifest["kind"] != MANIFEST_KIND:
        return f"kind is not {MANIFEST_KIND}"
    generation = manifest["pseudonym_generation"]
    if not (generation is None and unsigned) and not (_count(generation) and generation >= 1):
        return "pseudonym_generation is not a generation (1, 2, ...)"
    for check in (_policy_problem, _rows_problem, _files_problem, _other_problem):
        problem = check(manifest)
        if problem is not None:
            return problem
    return None


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _policy_problem(manifest: Mapping[str, Any]) -> str | None:
    policy = manifest["policy"]
    if not isinstance(policy, dict) or set(policy) != {"name", "version", "sha256"}:
        return "policy holds exactly name, version and sha256"
    if not isinstance(policy["name"], str) or not policy["name"]:
        return "policy.name is not a dataset name"
    if not _count(policy["version"]) or policy["version"] < 1:
        return "policy.version is not a version number"
    if not isinstance(policy["sha256"], str) or not _SHA256.match(policy["sha256"]):
        return "policy.sha256 is not a SHA-256 hex digest"
    return None


def _rows_problem(manifest: Mapping[str, Any]) -> str | None:
    rows = manifest["rows"]
    if not isinstance(rows, dict) or set(rows) != {"input", "output"}:
        return "rows holds exactly input and output"
    if not (_count(rows["input"]) and _count(rows["output"])):
        return "row counts are not counts"
    if rows["output"] > rows["input"]:
        return "more output rows than input rows"
    return None


def _files_problem(manifest: Mapping[str, Any]) -> str | None:
    files = manifest["files"]
    if not isinstance(files, dict):
        return "files is not an object"
    for name, digest in files.items():
        problem = _part_name_problem(name)
        if problem is not None:
            return f"files: {name!r}: {problem}"
        if not isinstance(digest, str) or not _SHA256.match(digest):
            return f"files: {name!r}: not a SHA-256 hex digest"
    return None


def _part_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a part file inside the directory, or None."""
    if not name or "\\" in name or "\x00" in name:
        return "not a relative path"
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in {"", ".", ".."} for part in name.split("/")):
        return "not a relative path inside the directory"
    if name == MANIFEST_NAME or _BOOKKEEPING.match(path.name):
        return "a reserved name"
    return None


def _other_problem(manifest: Mapping[str, Any]) -> str | None:
    if manifest["engine"] not in ENGINES:
        return "engine is not one of " + ", ".join(sorted(ENGINES))
    if manifest["output_format"] not in OUTPUT_FORMATS:
        return "output_format is not one of " + ", ".join(sorted(OUTPUT_FORMATS))
    counts = manifest["report_counts"]
    if not isinstance(counts, dict) or not all(_count(v) for v in counts.values()):
        return "report_counts is not an object of counts"
    if not isinstance(manifest["versions"], dict):
        return "versions is not an object"
    listed = manifest["opt_out_list"]
    if listed is not None and not (_count(listed) and listed >= 1):
        return "opt_out_list is not an opt-out list id (or null)"
    try:
        moment = _created_at(manifest)
    except (TypeError, ValueError):
        return "created_at is not a date-time"
    if moment.tzinfo is None:
        return "created_at has no time zone"
    return None
