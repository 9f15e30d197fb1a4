"""A shuffling spool: a release's rows wait here while the disclosure gate decides.

The disclosure gate needs every row counted before the first byte leaves, and the rows must
leave in a random order; reading the data twice (or having the database sort it on a random
key) would cost more than the database's own COPY. So the one read of the rows puts them
here, and :meth:`ShuffleSpool.batches` gives them back shuffled:

- on the way in, each row goes to one of ``buckets`` buckets at random (a random
  permutation of a batch's rows is cut into one slice per bucket, of multinomial sizes);
- on the way out, each bucket in turn is permuted again.

Together that is a uniformly random order whatever order the rows were read in. Each
permutation works within a batch or a bucket of about :data:`BUCKET_ROWS` rows, a few
megabytes that stay in the processor's caches (one permutation of a whole large release
would be several times slower: a cache miss per value).

Slices are held in memory up to ``memory_bytes`` (Arrow bytes); past that, all of them
go to an anonymous temporary file (``O_TMPFILE`` where the platform has it: no name, gone
with the process) as AES-256-GCM sealed Arrow IPC messages under a key that exists only in
this object's memory, so released rows never rest on disk in clear. Memory is therefore
bounded whatever the size of the release (up to :data:`MAX_BUCKETS` buckets; beyond, the
buckets grow).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeAlias

import numpy as np
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: Rows per bucket (a bucket is permuted in memory as a whole).
BUCKET_ROWS = 100_000
MAX_BUCKETS = 256
#: Arrow bytes of rows held in memory at most, by default (``FIVESAFES_RELEASE_MEMORY_MB``);
#: a larger release goes to the file.
MEMORY_BYTES = 128 << 20
_NONCE_BYTES = 12

#: Which rows of a table to keep (a boolean per row).
RowFilter = Callable[[pa.Table], np.ndarray]


@dataclass(frozen=True, slots=True)
class _Held:
    """A slice held in memory."""

    batch: pa.RecordBatch


@dataclass(frozen=True, slots=True)
class _Sealed:
    """A slice sealed in the file: where, how long, and the counter its nonce is made of."""

    position: int
    length: int
    counter: int


_Piece: TypeAlias = "_Held | _Sealed"


class ShuffleSpool:
    """Rows in, via :meth:`add`; all of them out, shuffled, via :meth:`batches`; then close."""

    def __init__(
        self,
        folder: Path,
        expected_rows: int,
        rng: np.random.Generator,
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self.folder = folder
        self.rng = rng
        self.memory_bytes = memory_bytes
        self.buckets = int(min(MAX_BUCKETS, max(1, -(-expected_rows // BUCKET_ROWS))))
        self.rows = 0
        self.schema: pa.Schema | None = None
        self._pieces: list[list[_Piece]] = [[] for _ in range(self.buckets)]
        self._held_bytes = 0
        self._file: BinaryIO | None = None
        self._end = 0
        self._sealer = AESGCM(AESGCM.generate_key(bit_length=256))
        self._sealed = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Scatter the rows of ``batch`` over the buckets at random."""
        n = batch.num_rows
        if n == 0:
            return
        if self.schema is None:
            self.schema = batch.schema
        self.rows += n
        if self.buckets == 1:
            self._put(0, batch)
            return
        # Each row to a bucket uniformly at random: a random permutation cut into slices
        # of multinomial sizes (cheaper than sorting rows by a random bucket number). The
        # batch is still in the processor's caches, which makes this gather cheap.
        sizes = self.rng.multinomial(n, [1 / self.buckets] * self.buckets)
        scattered = batch.take(pa.array(self.rng.permutation(n)))
        start = 0
        for bucket, size in enumerate(sizes.tolist()):
            if size:
                self._put(bucket, scattered.slice(start, size))
                start += size

    def _put(self, bucket: int, piece: pa.RecordBatch) -> None:
        if self._file is not None:
            self._pieces[bucket].append(self._write(piece))
            return
        self._pieces[bucket].append(_Held(piece))
        self._held_bytes += piece.nbytes
        if self._held_bytes > self.memory_bytes:
            self._spill()

    def _spill(self) -> None:
        """Too much to hold: move every held slice to the file; later ones go there too."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=self.folder)  # noqa: SIM115 - see close()
        for pieces in self._pieces:
            pieces[:] = [self._write(p.batch) if isinstance(p, _Held) else p for p in pieces]
        self._held_bytes = 0

    def _write(self, piece: pa.RecordBatch) -> _Sealed:
        assert self._file is not None
        self._sealed += 1
        message = memoryview(piece.serialize()).cast("B")
        sealed = self._sealer.encrypt(self._nonce(self._sealed), message, None)
        os.pwrite(self._file.fileno(), sealed, self._end)
        where = _Sealed(self._end, len(sealed), self._sealed)
        self._end += len(sealed)
        return where

    @staticmethod
    def _nonce(counter: int) -> bytes:
        return counter.to_bytes(_NONCE_BYTES, "big")

    def _read(self, piece: _Piece) -> pa.RecordBatch:
        if isinstance(piece, _Held):
            return piece.batch
        assert self._file is not None
        assert self.schema is not None
        sealed = os.pread(self._file.fileno(), piece.length, piece.position)
        if len(sealed) != piece.length:
            raise OSError("release spool truncated")
        message = self._sealer.decrypt(self._nonce(piece.counter), sealed, None)
        return pa.ipc.read_record_batch(pa.py_buffer(message), self.schema)

    def batches(self, size: int, keep: RowFilter | None = None) -> Iterator[pa.RecordBatch]:
        """All rows in random order, in batches of up to ``size`` rows, without the rows
        ``keep`` says False to (one ``take`` per bucket does both)."""
        for bucket, pieces in enumerate(self._pieces):
            if not pieces:
                continue
            table = pa.Table.from_batches([self._read(p) for p in pieces])
            self._pieces[bucket] = []  # a bucket sent is a bucket freed
            order = self.rng.permutation(table.num_rows)
            if keep is not None:
                order = order[keep(table)[order]]
            yield from table.take(pa.array(order)).combine_chunks().to_batches(size)

    def close(self) -> None:
        self._pieces = [[] for _ in range(self.buckets)]
        if self._file is not None:
            self._file.close()
