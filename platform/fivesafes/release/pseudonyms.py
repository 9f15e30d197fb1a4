"""Project-specific pseudonyms and date offsets, computed at release time.

Each project gets its own keys, derived with HKDF from the platform keys:
``derive_key(pseudonym key, "project", "<project id>")`` for pseudonyms and
``derive_key(date-shift key, "project", "<project id>")`` for date offsets. A stored
pseudonym is 128 bits (32 hex characters: a keyed HMAC-SHA256 made at ingestion); its
released value is that block encrypted with AES-256 under the project key, a keyed
pseudorandom permutation:

- two projects' values never coincide (independent keys) and cannot be joined without
  the platform key; distinct patients never collide within a project (a permutation);
- the stored value is stable across dataset versions, so each project's values are stable
  across downloads and versions;
- one AES call covers a whole batch (C speed), where an HMAC per row in Python would cost
  more than PostgreSQL's own COPY of the same rows.

The date offset of a patient is the first 64 bits of the stored pseudonym encrypted under
the project's date key, mapped to [-max_days, -1] U [1, max_days]: never zero, the same for
every date of the patient, unrelated to the released pseudonym. Nothing here is stored.

Pseudonym generations (:mod:`fivesafes.keys.remap`): a version's stored blocks are at the
version's generation ``g``; a project is pinned at generation ``h`` (1 unless the
governance officer reissued its pseudonyms at a rotation). Each batch's blocks are first
moved from ``g`` to ``h`` along the remap chain (one ECB call per remap key in between),
and only then keyed for the project, so a pinned project's pseudonyms and date offsets
are the same before and after a rotation. The project key at ``h == 1`` is exactly
``derive_key(pseudonym key, "project", id)``; at ``h > 1`` it is derived from remap key
``h`` instead, so a reissued project no longer depends on an older key.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from fivesafes.errors import ConfigurationError
from fivesafes.keys.derivation import derive_key
from fivesafes.keys.pseudonym import PSEUDONYM_HEX_CHARS
from fivesafes.keys.remap import PseudonymChain

_BLOCK = PSEUDONYM_HEX_CHARS // 2  # 16 bytes: one AES block
_ZERO_HEX = "0" * PSEUDONYM_HEX_CHARS


class Blocks:
    """Stored pseudonyms of a batch as packed 16-byte blocks, and which rows had none."""

    __slots__ = ("data", "missing")

    def __init__(self, data: bytes, missing: np.ndarray | None) -> None:
        self.data = data
        self.missing = missing

    def __len__(self) -> int:
        return len(self.data) // _BLOCK

    def patient_keys(self) -> np.ndarray:
        """The first 64 bits of each stored pseudonym: who the row is about, for counting
        distinct patients (a keyed HMAC, so uniformly spread; a row without one gets 0)."""
        return np.frombuffer(self.data, dtype=np.uint64)[::2].copy()


def project_keys(
    pseudonym_master: bytes, date_master: bytes, project_id: int
) -> tuple[bytes, bytes]:
    """The project's pseudonym key and date-offset key (HKDF sub-keys; never stored)."""
    context = str(project_id)
    return derive_key(pseudonym_master, "project", context), derive_key(
        date_master, "project", context
    )


def _hex_string_array(data: bytes, missing: np.ndarray | None) -> pa.Array:
    n = len(data) // _BLOCK
    text = binascii.hexlify(data)
    offsets = np.arange(n + 1, dtype=np.int32) * PSEUDONYM_HEX_CHARS
    array = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))
    if missing is not None:
        array = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), array)
    return array


def _value_offsets(array: pa.Array) -> np.ndarray:
    """Where each value of a string or binary array starts (and the last ends), in its data
    buffer, for the array's own slice."""
    offsets: np.ndarray = np.frombuffer(array.buffers()[1], dtype=np.int32)
    return offsets[array.offset : array.offset + len(array) + 1]


def _binary_blocks(stored: pa.Array) -> Blocks:
    """Blocks from 16-byte binary values: their bytes as they lie (no copy but one)."""
    n = len(stored)
    missing = stored.is_null().to_numpy(zero_copy_only=False) if stored.null_count else None
    offsets = _value_offsets(stored)
    lengths = np.diff(offsets)
    present = lengths if missing is None else lengths[~missing]
    if len(present) and not np.all(present == _BLOCK):
        raise ValueError("a stored pseudonym is not 16 bytes")
    raw = stored.buffers()[2]
    data = b"" if raw is None else raw.to_pybytes()[int(offsets[0]) : int(offsets[-1])]
    if missing is None:
        return Blocks(data, None)
    # Each present value from where its offset says (a NULL slot may hold bytes or not),
    # zeros for the rest.
    starts = offsets[:-1][~missing] - offsets[0]
    values = np.frombuffer(data, dtype=np.uint8)
    out = np.zeros((n, _BLOCK), dtype=np.uint8)
    out[~missing] = values[starts[:, None] + np.arange(_BLOCK)]
    return Blocks(out.tobytes(), missing)


@dataclass(frozen=True, slots=True)
class Generations:
    """Where a release's stored blocks are and where its project is pinned, with the
    remap keys to move between them (generations 2..n; empty before any rotation)."""

    stored: int = 1
    project: int = 1
    remap_keys: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        known = 1 + len(self.remap_keys)
        for what, generation in (("dataset version", self.stored), ("project", self.project)):
            if not 1 <= generation <= known:
                raise ConfigurationError(
                    f"the {what} is at pseudonym generation {generation}, but the key "
                    f"store holds keys up to generation {known}: restore its remap keys"
                )


class ProjectPseudonyms:
    """Re-keys stored pseudonyms for one project, with each patient's date offset."""

    __slots__ = (
        "_chain",
        "_date_key",
        "_key",
        "_last",
        "generations",
        "max_days",
        "project_id",
    )

    def __init__(
        self,
        pseudonym_master: bytes,
        date_master: bytes,
        project_id: int,
        max_days: int = 180,
        generations: Generations | None = None,
    ) -> None:
        if max_days < 1:
            raise ValueError("max_days must be at least 1")
        self.project_id = project_id
        self.max_days = max_days
        self.generations = generations or Generations()
        pinned = self.generations.project
        # The project's pseudonym key comes from the key of its pinned generation.
        master = pseudonym_master if pinned == 1 else self.generations.remap_keys[pinned - 2]
        self._key, self._date_key = project_keys(master, date_master, project_id)
        self._chain = (
            PseudonymChain(self.generations.remap_keys)
            if self.generations.stored != pinned
            else None
        )
        self._last: tuple[Blocks, bytes] | None = None

    @property
    def key(self) -> bytes:
        return self._key

    def _pinned(self, blocks: Blocks) -> bytes:
        """The blocks at the project's generation (as stored when the two are the same).

        The last batch's result is kept: its pseudonyms and its offsets both need it.
        """
        if self._chain is None:
            return blocks.data
        last = self._last
        if last is not None and last[0] is blocks:
            return last[1]
        moved = self._chain.move(blocks.data, self.generations.stored, self.generations.project)
        self._last = (blocks, moved)
        return moved

    @staticmethod
    def blocks(stored: pa.Array) -> Blocks:
        """Decode a column of stored pseudonyms (32 hex characters each, or their 16 bytes
        already decoded by the database; NULL allowed), as stored: at the version's
        generation (the 64-bit patient keys counted by the gate do not depend on it)."""
        if isinstance(stored, pa.ChunkedArray):
            stored = stored.combine_chunks()
        if pa.types.is_binary(stored.type):
            return _binary_blocks(stored)
        missing = None
        if stored.null_count:
            missing = stored.is_null().to_numpy(zero_copy_only=False)
            stored = pc.fill_null(stored, _ZERO_HEX)
        stored = stored.cast(pa.string())
        n = len(stored)
        offsets = _value_offsets(stored)
        if n and not np.all(np.diff(offsets) == PSEUDONYM_HEX_CHARS):
            raise ValueError("a stored pseudonym is not 32 hex characters")
        raw = stored.buffers()[2]
        text = b"" if raw is None else raw.to_pybytes()[int(offsets[0]) : int(offsets[-1])]
        try:
            data = binascii.unhexlify(text)
        except binascii.Error:
            raise ValueError("a stored pseudonym is not hexadecimal") from None
        return Blocks(data, missing)

    def _encrypt(self, key: bytes, data: bytes) -> bytes:
        # One block per value: AES as a keyed permutation of 128-bit values.
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305
        return encryptor.update(data) + encryptor.finalize()

    def pseudonyms(self, blocks: Blocks) -> pa.Array:
        """The released pseudonyms: 32 lower-case hex characters, like stored ones."""
        return _hex_string_array(self._encrypt(self._key, self._pinned(blocks)), blocks.missing)

    def offsets(self, blocks: Blocks) -> pa.Array:
        """Each patient's project date offset in days: in [-max, -1] or [1, max], never 0."""
        out = np.frombuffer(self._encrypt(self._date_key, self._pinned(blocks)), dtype=np.uint8)
        raw = np.ascontiguousarray(out.reshape(-1, _BLOCK)[:, :8]).view(">u8").reshape(-1)
        value = (raw % np.uint64(2 * self.max_days)).astype(np.int64)
        days = np.where(value < self.max_days, value - self.max_days, value - self.max_days + 1)
        return pa.array(days, pa.int64(), mask=blocks.missing)

    def rekey(self, stored: pa.Array) -> pa.Array:
        """Released pseudonyms for a column of stored pseudonyms."""
        return self.pseudonyms(self.blocks(stored))
