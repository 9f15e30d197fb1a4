"""KEK rotation: rewrap every wrapped key under a new KEK, then destroy the old one.

The same steps for every store that wraps (local files, PKCS#11 token); the store provides
the KEK-specific steps (:class:`KekRotatingStore`) and this module the order, which is
what makes a crash harmless:

1. ``begin``: make the *next* KEK (``fivesafes-kek-next`` in a token, ``kek.next.key`` in
   the local folder), unless an interrupted rotation already made it. From then on new
   wraps use it, and unwrap finds a blob's KEK by the id the blob names, among the
   current and the next KEK: so every file is readable whether it was rewrapped or not.
2. ``rewrap``: every ``*.wrapped`` file of the key folder (whatever its name: the AAD name
   is the file stem) not yet under the next KEK is unwrapped, wrapped under the next KEK
   and replaced atomically (temporary file 0600, fsync, rename, fsync of the folder). A
   file is therefore always either wholly old or wholly new.
3. ``finish``: only once every file names the next KEK is the old KEK destroyed and the
   next one promoted to current (relabelled, or renamed onto ``kek.key``).

Killed anywhere, the store still opens with the same keys; running the rotation again
finds the next KEK, skips the files already rewrapped, and finishes.

Keys wrapped under the KEK are kept outside the key folder too: the header of each
retained release copy holds its data key wrapped by the store. Such a set is passed in as
a :class:`WrappedElsewhere` (the CLI passes the copies folder): it is locked against new
wraps from the first pass until the old KEK is destroyed, and rewrapped in the same passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from fivesafes.errors import ConfigurationError
from fivesafes.keys.private_files import read_private, replace_private
from fivesafes.keys.wrapping import BLOB_BYTES, EnvelopeError, unpack_blob

WRAPPED_SUFFIX = ".wrapped"


@runtime_checkable
class KekRotatingStore(Protocol):
    """What a store offers for its KEK to be rotated (both built-in stores implement it)."""

    path: Path

    def describe(self) -> str: ...

    def wrap(self, name: str, data_key: bytes) -> bytes: ...

    def unwrap(self, name: str, blob: bytes) -> bytes: ...

    def kek_ids(self) -> tuple[bytes | None, bytes | None]:
        """``(current, next)`` KEK ids; ``next`` is None unless a rotation is pending."""
        ...

    def begin_kek_rotation(self) -> bytes:
        """Make the next KEK if there is none yet; its id."""
        ...

    def finish_kek_rotation(self) -> bool:
        """Destroy the old KEK and promote the next; False if it could not be relabelled."""
        ...


class WrappedElsewhere(Protocol):
    """Keys wrapped by the store but kept elsewhere (retained copies' headers)."""

    def describe(self) -> str: ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold off new wraps (made under the old KEK) until the rotation has finished."""
        ...

    def rewrap(self, store: KekRotatingStore, new_kek_id: bytes) -> tuple[int, int]:
        """Rewrap what is not under ``new_kek_id`` yet: ``(rewrapped, total)``."""
        ...


@dataclass(frozen=True, slots=True)
class KekRotation:
    """What a rotation did, in public terms (KEK ids are fingerprints, not key material)."""

    old_kek_id: bytes | None  # None: an interrupted run had already destroyed it
    new_kek_id: bytes
    rewrapped: int  # files rewrapped by this run
    total: int  # wrapped files in the folder
    resumed: bool  # the next KEK was made by an earlier, interrupted run
    promoted: bool  # False: the module would not relabel the next KEK (see docs/keys.md)


@dataclass(frozen=True, slots=True)
class RotationProgress:
    """How far a pending rotation has got, for ``keys status``."""

    next_kek_id: bytes
    rewrapped: int
    total: int

    def describe(self) -> str:
        return (
            f"rotation pending to KEK {self.next_kek_id.hex()}: {self.rewrapped} of "
            f"{self.total} rewrapped (run `fivesafes keys rotate kek` to finish)"
        )


def wrapped_files(folder: Path) -> list[Path]:
    """Every wrapped key of the folder, in name order (temporary files are not matched)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*{WRAPPED_SUFFIX}") if not p.name.startswith("."))


def blob_kek_id(path: Path) -> bytes:
    """The KEK id the blob in ``path`` names (the file's permissions checked first)."""
    kek_id, _, _ = unpack_blob(read_wrapped(path))
    return kek_id


def progress(folder: Path, next_kek_id: bytes) -> RotationProgress:
    """How many of the folder's wrapped files already name ``next_kek_id``."""
    files = wrapped_files(folder)
    done = 0
    for path in files:
        try:
            done += blob_kek_id(path) == next_kek_id
        except (ConfigurationError, EnvelopeError):  # status reports, it does not fail
            continue
    return RotationProgress(next_kek_id, done, len(files))


def require_all_rewrapped(folder: Path, next_kek_id: bytes) -> None:
    """Refuse to retire the old KEK while any wrapped file still needs it."""
    pending = progress(folder, next_kek_id)
    if pending.rewrapped != pending.total:
        raise EnvelopeError(
            f"{pending.total - pending.rewrapped} wrapped key(s) in {folder} are not under "
            f"KEK {next_kek_id.hex()} yet: refusing to destroy the old KEK "
            "(run `fivesafes keys rotate kek`)"
        )


def rotate_kek(store: KekRotatingStore, elsewhere: Sequence[WrappedElsewhere] = ()) -> KekRotation:
    """Rotate ``store``'s KEK, or finish a rotation an earlier run left pending; the keys
    ``elsewhere`` are rewrapped too (counted with the folder's files)."""
    with ExitStack() as held:
        for other in elsewhere:
            held.enter_context(other.locked())
        old_id, pending = store.kek_ids()
        new_id = store.begin_kek_rotation()
        total = 0
        rewrapped = 0
        # Repeat until a full pass finds nothing left: a wrap made by another process while
        # this one ran (a new remap key) used whichever KEK was current when it started.
        while True:
            files = wrapped_files(store.path)
            total = len(files)
            changed = sum(rewrap_file(store, path, new_id) for path in files)
            for other in elsewhere:
                done, found = other.rewrap(store, new_id)
                changed += done
                total += found
            rewrapped += changed
            if changed == 0:
                break
        promoted = store.finish_kek_rotation()
    if old_id == new_id:  # only the next KEK was left (killed between destroy and relabel)
        old_id = None
    return KekRotation(old_id, new_id, rewrapped, total, pending is not None, promoted)


def rewrap_file(store: KekRotatingStore, path: Path, new_kek_id: bytes) -> bool:
    """Rewrap one file under the next KEK unless it is already; whether it was rewritten."""
    blob = read_wrapped(path)
    kek_id, _, _ = unpack_blob(blob)
    if kek_id == new_kek_id:
        return False
    name = path.name.removesuffix(WRAPPED_SUFFIX)
    fresh = store.wrap(name, store.unwrap(name, blob))
    if unpack_blob(fresh)[0] != new_kek_id:
        raise EnvelopeError(
            f"{store.describe()} wrapped {name!r} under KEK {unpack_blob(fresh)[0].hex()}, "
            f"not the next KEK {new_kek_id.hex()}: another rotation is running?"
        )
    replace_private(path, fresh)
    return True


def read_wrapped(path: Path) -> bytes:
    """A wrapped blob, after checking that it is a regular file only its owner can use."""
    return read_private(path, what="wrapped key file", limit=BLOB_BYTES + 1)
