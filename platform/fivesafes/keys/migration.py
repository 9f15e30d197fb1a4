"""Move an embedded installation's keys from local files into a PKCS#11 token.

Every pseudonym must survive, so the pseudonym and date-shift keys (and any pseudonym
remap keys) are *imported*: the token store wraps the very same bytes under its KEK. The
KEK and the audit-signing key are not moved: the token makes its own, non-extractable, and
the local Ed25519 key is retired (an attested record beside the wrapped keys), so
checkpoints it signed before the migration still verify. Only when the token's keys have
been read back from their wrapped files and found equal to the local ones are the local
key files shredded.

The order makes a rerun safe wherever the first run stopped:

1. the token is empty: ``init(import_secrets=...)``; it already holds this installation's
   keys (same fingerprints): nothing to create; it holds *other* keys: refused;
2. remap keys the token lacks are added, in generation order;
3. the local audit-signing key is retired (a second call finds its record);
4. the token's wrapped files are unwrapped afresh and compared with the local keys;
5. the local key files are renamed to ``.<name>.shred`` (the mark that step 4 passed),
   then each is overwritten with random bytes, fsynced and unlinked. A rerun that finds a
   ``.shred`` file only finishes the shredding.

Keys the local KEK wrapped outside the key folder (the retained release copies' headers,
passed as ``elsewhere`` by the CLI) are rewrapped under the token's KEK with step 2's
files, their folder locked until the local KEK is shredded.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fivesafes.errors import ConfigurationError
from fivesafes.keys.kek_rotation import read_wrapped, wrapped_files
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.private_files import fsync_folder, replace_private, shred
from fivesafes.keys.retired import retire_signing_key
from fivesafes.keys.store import KEY_NAMES, MEMORY_KEY_NAMES, key_id, public_key_fingerprint
from fivesafes.keys.wrapping import unpack_blob

if TYPE_CHECKING:
    from fivesafes.keys.pkcs11_store import Pkcs11KeyStore

_REMAP_PREFIX = "pseudonym-remap-"
_SHRED_SUFFIX = ".shred"
_TOKEN_KEYS = frozenset({"kek", "audit_signing", *MEMORY_KEY_NAMES})


class MigratedElsewhere(Protocol):
    """Keys the local KEK wrapped outside the key folder (retained copies' headers)."""

    def locked(self) -> AbstractContextManager[None]: ...

    def rewrap_into(
        self, source: LocalFileKeyStore, target: Pkcs11KeyStore, source_kek_ids: set[bytes]
    ) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class Migration:
    """What a migration did, in public terms only (fingerprints, never key material)."""

    #: key_id of every imported key: pseudonym, date_shift, pseudonym-remap-<g>.
    fingerprints: dict[str, str]
    kek_id: str
    retired_signing_key: str | None  # None: retired by an earlier, interrupted run
    signing_key: str
    resumed: bool
    remap_keys_added: int
    rewrapped: int  # local-KEK wrapped files rewrapped under the token's KEK
    shredded: list[str] = field(default_factory=list)


def migrate_local_to_pkcs11(
    local: LocalFileKeyStore,
    token: Pkcs11KeyStore,
    *,
    last_seq: int | None,
    now: datetime | None = None,
    elsewhere: Sequence[MigratedElsewhere] = (),
) -> Migration:
    """Import ``local``'s keys into ``token`` and shred the local files (resumable).

    ``last_seq`` is the audit chain head (None when the database cannot tell): the
    retired local signing key is trusted for checkpoints up to it.
    """
    if local.path.resolve() != token.path.resolve():
        raise ConfigurationError(
            f"the token's wrapped keys ({token.path}) must go in the local store's folder "
            f"({local.path}): set one FIVESAFES_KEYSTORE_PATH for both"
        )
    _refuse_reidentification_key(local)
    if _shred_marks(local.path):
        return _finish_shredding(local, token)
    memory = _local_memory_keys(local)
    remap = tuple(getattr(local, "pseudonym_remap_keys", tuple)())
    old_public = local.verification_key()
    signing_file = local.key_path("audit_signing")
    valid_from = datetime.fromtimestamp(signing_file.stat().st_mtime, UTC)

    resumed = _create_or_match(token, memory)
    added = _add_remap_keys(token, remap)
    with ExitStack() as held:
        for other in elsewhere:
            held.enter_context(other.locked())
        rewrapped = _rewrap_local_blobs(local, token)
        local_ids = {kek_id for kek_id in local.kek_ids() if kek_id is not None}
        rewrapped += sum(o.rewrap_into(local, token, local_ids)[0] for o in elsewhere)
        retired = _retire(token, old_public, valid_from, now or datetime.now(UTC), last_seq)
        fingerprints = _verify(token, memory, remap)
        files = _local_key_files(local)
        for path in files:  # first mark every file: from here a rerun only shreds
            os.replace(path, _shred_path(path))
        fsync_folder(local.path)
        _shred_all(local.path)
    return _outcome(
        token,
        fingerprints,
        sorted(p.name for p in files),
        retired=retired,
        resumed=resumed,
        added=added,
        rewrapped=rewrapped,
    )


def _refuse_reidentification_key(local: LocalFileKeyStore) -> None:
    """Refuse a store holding the re-identification key: it is not migrated.

    Its NHS-number ciphertexts would have to be re-sealed under a new token key, and a
    token cannot import the local key without it having existed outside the HSM; moving
    it is out of scope (docs/reidentification.md), and shredding it would lose every record.
    """
    target = local.reidentification_key_path()
    if target.exists():
        raise ConfigurationError(
            f"{local.describe()} holds the re-identification key ({target.name}), which "
            "is not migrated to a token (out of scope): refusing to migrate "
            "(docs/reidentification.md)"
        )


def _local_memory_keys(local: LocalFileKeyStore) -> dict[str, bytes]:
    present = [n for n in KEY_NAMES if local.key_path(n).exists()]
    if not present:
        raise ConfigurationError(
            f"nothing to migrate: {local.describe()} holds no key files (already "
            "migrated? then set FIVESAFES_KEYSTORE=pkcs11 and run `fivesafes keys status`)"
        )
    missing = [n for n in KEY_NAMES if n not in present]
    if missing:
        raise ConfigurationError(
            f"{local.describe()} lacks {', '.join(missing)}: refusing to migrate an "
            "incomplete key store (restore the files from backup)"
        )
    return {name: local.secret(name) for name in MEMORY_KEY_NAMES}


def _create_or_match(token: Pkcs11KeyStore, memory: dict[str, bytes]) -> bool:
    """Create the token's keys, or check that those it holds are these; True if resumed."""
    held = {info.name for info in token.status()} & _TOKEN_KEYS
    if not held:
        token.init(import_secrets=memory)
        return False
    if held != _TOKEN_KEYS:
        raise ConfigurationError(
            f"{token.describe()} holds only {', '.join(sorted(held))} of "
            f"{', '.join(sorted(_TOKEN_KEYS))}: a key ceremony was interrupted or another "
            "installation uses it; refusing to migrate into it"
        )
    _require_equal(token, memory)
    return True


def _require_equal(token: Pkcs11KeyStore, memory: dict[str, bytes]) -> dict[str, str]:
    """The imported keys' fingerprints, after reading them back from the wrapped files."""
    fingerprints = {}
    for name, material in memory.items():
        held = token.unwrap_file(name)
        if not hmac.compare_digest(key_id(held), key_id(material)):
            raise ConfigurationError(
                f"{token.describe()} already holds a {name} key with fingerprint "
                f"{key_id(held)}, not this installation's {key_id(material)}: refusing to "
                "migrate (it would change every pseudonym)"
            )
        fingerprints[name] = key_id(material)
    return fingerprints


def _add_remap_keys(token: Pkcs11KeyStore, remap: tuple[bytes, ...]) -> int:
    """Add the remap keys the token lacks; refuse if those it holds differ."""
    if not remap:
        return 0
    held = tuple(token.pseudonym_remap_keys())
    if len(held) > len(remap) or any(
        not hmac.compare_digest(a, b) for a, b in zip(held, remap, strict=False)
    ):
        raise ConfigurationError(
            f"{token.describe()} holds pseudonym remap keys that are not this "
            "installation's: refusing to migrate"
        )
    for generation, material in enumerate(remap[len(held) :], start=2 + len(held)):
        made = token.add_pseudonym_remap_key(material)
        if made != generation:
            raise ConfigurationError(
                f"{token.describe()} stored remap key as generation {made}, expected {generation}"
            )
    return len(remap) - len(held)


def _rewrap_local_blobs(local: LocalFileKeyStore, token: Pkcs11KeyStore) -> int:
    """Rewrap under the token's KEK any wrapped file the local KEK sealed."""
    local_ids = {kek_id for kek_id in local.kek_ids() if kek_id is not None}
    done = 0
    for path in wrapped_files(local.path):
        blob = read_wrapped(path)
        if unpack_blob(blob)[0] in local_ids:
            name = path.name.removesuffix(".wrapped")
            replace_private(path, token.wrap(name, local.unwrap(name, blob)))
            done += 1
    return done


def _retire(
    token: Pkcs11KeyStore,
    old_public: bytes,
    valid_from: datetime,
    valid_until: datetime,
    last_seq: int | None,
) -> str:
    """Retire the local signing key, attested by the token's; the record's fingerprint."""
    record = retire_signing_key(
        token,
        old_public_key=old_public,
        valid_from=valid_from,
        valid_until=valid_until,
        last_seq=last_seq,
    )
    return record.fingerprint


def _verify(
    token: Pkcs11KeyStore, memory: dict[str, bytes], remap: tuple[bytes, ...]
) -> dict[str, str]:
    """Read every imported key back from its wrapped file and compare it with the local one."""
    fingerprints = _require_equal(token, memory)
    for generation, material in enumerate(remap, start=2):
        name = f"{_REMAP_PREFIX}{generation}"
        if not hmac.compare_digest(token.unwrap_file(name), material):
            raise ConfigurationError(f"{token.describe()}: {name} does not match the local key")
        fingerprints[name] = key_id(material)
    return fingerprints


def _outcome(
    token: Pkcs11KeyStore,
    fingerprints: dict[str, str],
    shredded: list[str],
    *,
    retired: str | None = None,
    resumed: bool = True,
    added: int = 0,
    rewrapped: int = 0,
) -> Migration:
    """The :class:`Migration` record, with the token's KEK id and signing fingerprint.

    The defaults are a run that only finished an interrupted one's shredding.
    """
    current, following = token.kek_ids()
    kek_id = following if following is not None else current
    return Migration(
        fingerprints=fingerprints,
        kek_id="" if kek_id is None else kek_id.hex(),
        retired_signing_key=retired,
        signing_key=public_key_fingerprint(token.verification_key()),
        resumed=resumed,
        remap_keys_added=added,
        rewrapped=rewrapped,
        shredded=shredded,
    )


# -- shredding ----------------------------------------------------------------------------


def _local_key_files(local: LocalFileKeyStore) -> list[Path]:
    """The local store's key files: the four keys, a pending next KEK, the remap keys."""
    names = [f"{name}.key" for name in KEY_NAMES] + ["kek.next.key"]
    files = [local.path / name for name in names]
    files += sorted(local.path.glob(f"{_REMAP_PREFIX}*.key"))
    return [p for p in files if p.exists()]


def _shred_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{_SHRED_SUFFIX}")


def _shred_marks(folder: Path) -> list[Path]:
    return sorted(folder.glob(f".*.key{_SHRED_SUFFIX}")) if folder.is_dir() else []


def _shred_all(folder: Path) -> None:
    """Overwrite every marked file with random bytes, fsync it, unlink it."""
    for path in _shred_marks(folder):
        shred(path)
    fsync_folder(folder)


def _finish_shredding(local: LocalFileKeyStore, token: Pkcs11KeyStore) -> Migration:
    """A run stopped while shredding: the keys were verified then, so finish the job."""
    held = {info.name for info in token.status()}
    if not held >= _TOKEN_KEYS:
        raise ConfigurationError(
            f"{local.path} holds key files marked for shredding, but {token.describe()} "
            f"lacks {', '.join(sorted(_TOKEN_KEYS - held))}: refusing to shred (restore "
            "the marked .shred files by renaming them back, then migrate again)"
        )
    for path in _local_key_files(local):
        os.replace(path, _shred_path(path))
    marks = _shred_marks(local.path)
    shredded = sorted(p.name.removeprefix(".").removesuffix(_SHRED_SUFFIX) for p in marks)
    _shred_all(local.path)
    fingerprints: dict[str, str] = {n: key_id(token.unwrap_file(n)) for n in MEMORY_KEY_NAMES}
    return _outcome(token, fingerprints, shredded)
