"""HMAC-SHA256 of a whole column at once: the structured engine's pseudonyms and date offsets.

Per value, Python's HMAC costs about 1.5 µs however it is written (six C calls and their
objects), and the engine needs two per row: the pseudonym and the date-shift offset. That
alone was most of the engine's time. Here RFC 2104 is composed from two SHA-256 calls over
the column in Apache DataFusion (Rust, vectorised)::

    HMAC(K, m) = SHA256((K' xor opad) || SHA256((K' xor ipad) || m))

with ``K'`` the key zero-padded to the 64-byte block. The output is byte-for-byte that of
:class:`~fivesafes.keys.pseudonym.HmacSha256` (property-tested); only the speed differs.

The padded keys reach DataFusion as query parameters, never as text, and any DataFusion
error is replaced by one that says nothing of the query: its plan holds the keys. One
single-partition session per process, built lazily: workers are separate processes, and a
plan this simple runs on the calling thread, so a forked worker needs no runtime threads
from its parent (tested).
"""

from __future__ import annotations

import binascii
import os
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    from datafusion import SessionContext

_BLOCK = 64  # SHA-256 block size
DIGEST_BYTES = 32
_TABLE = "fivesafes_hmac_input"
_QUERY = "SELECT sha256($outer || sha256($inner || m)) AS h FROM fivesafes_hmac_input"

_SESSION: tuple[int, SessionContext] | None = None


def _session() -> SessionContext:
    """This process's DataFusion session (a forked child builds its own)."""
    global _SESSION  # noqa: PLW0603 - one session per process is the point
    if _SESSION is None or _SESSION[0] != os.getpid():
        from datafusion import SessionConfig, SessionContext  # noqa: PLC0415 - heavy import

        config = SessionConfig().with_target_partitions(1).with_information_schema(False)
        _SESSION = (os.getpid(), SessionContext(config))
    return _SESSION[1]


class BatchHmacError(RuntimeError):
    """The vectorised HMAC failed; the message never repeats the query (it holds keys)."""


class BatchHmacSha256:
    """HMAC-SHA256 under one key, of every value of an Arrow string or binary array.

    Pickles as its key, like :class:`~fivesafes.keys.pseudonym.HmacSha256`: workers
    receive the derived sub-key the plan gave them, never a master key.
    """

    __slots__ = ("_inner", "_key", "_outer")

    def __init__(self, key: bytes) -> None:
        import hashlib  # noqa: PLC0415 - only for an over-long key

        self._key = key
        padded = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = pa.scalar(bytes(b ^ 0x36 for b in padded), pa.binary())
        self._outer = pa.scalar(bytes(b ^ 0x5C for b in padded), pa.binary())

    def digests(self, messages: pa.Array) -> pa.BinaryArray:
        """The 32-byte HMAC of each message, null where the message is null."""
        session = _session()
        if messages.offset:  # a slice: DataFusion is given the values it starts at
            messages = pa.concat_arrays([messages])
        if pa.types.is_string(messages.type):  # the same buffers; casting in SQL costs more
            messages = messages.cast(pa.binary())
        try:
            session.register_record_batches(_TABLE, [[pa.record_batch({"m": messages})]])
            try:
                table = session.sql(
                    _QUERY, param_values={"inner": self._inner, "outer": self._outer}
                ).to_arrow_table()
            finally:
                session.deregister_table(_TABLE)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            # any DataFusion error's, may hold the plan, and the plan holds the keys
            raise BatchHmacError("the vectorised HMAC failed (DataFusion)") from None
        column = table.column("h")
        combined = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if len(combined) != len(messages):
            raise BatchHmacError("the vectorised HMAC returned a different number of rows")
        return combined

    def __reduce__(self) -> tuple[object, ...]:
        return (BatchHmacSha256, (self._key,))


def digest_matrix(digests: pa.BinaryArray) -> np.ndarray[tuple[int, int], np.dtype[np.uint8]]:
    """The digests as an ``(n, 32)`` byte matrix, zeros in the rows of null digests."""
    if digests.null_count:
        digests = digests.fill_null(pa.scalar(bytes(DIGEST_BYTES), pa.binary()))
    offsets = np.frombuffer(digests.buffers()[1], dtype=np.int32)
    first, last = offsets[digests.offset], offsets[digests.offset + len(digests)]
    data = np.frombuffer(digests.buffers()[2], dtype=np.uint8)[first:last]
    if data.size != len(digests) * DIGEST_BYTES:
        raise BatchHmacError("the vectorised HMAC returned a digest of the wrong length")
    return data.reshape(len(digests), DIGEST_BYTES)


def hex_prefixes(digests: pa.BinaryArray, nbytes: int) -> pa.StringArray:
    """Lower-case hex of each digest's first ``nbytes`` bytes; null where the digest is."""
    text = binascii.hexlify(np.ascontiguousarray(digest_matrix(digests)[:, :nbytes]).tobytes())
    width = 2 * nbytes
    offsets = np.arange(0, width * len(digests) + 1, width, dtype=np.int32)
    validity = digests.buffers()[0] if digests.null_count else None
    if validity is not None and digests.offset:
        validity = digests.is_valid().buffers()[1]
    return pa.StringArray.from_buffers(
        len(digests),
        pa.py_buffer(offsets.tobytes()),
        pa.py_buffer(text),
        validity,
        digests.null_count,
    )


def leading_uint64(digests: pa.BinaryArray) -> np.ndarray[tuple[int], np.dtype[np.uint64]]:
    """Each digest's first 8 bytes as a big-endian unsigned integer (0 for a null)."""
    matrix = digest_matrix(digests)
    return np.ascontiguousarray(matrix[:, :8]).view(">u8").ravel().astype(np.uint64)
