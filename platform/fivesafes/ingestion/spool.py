"""Encrypted spool files for uploads waiting for (or under) de-identification.

The raw extract must never rest on disk in clear. It is written through AES-GCM envelope
encryption under a random key made for this one upload and held only in memory; when the
job ends (or the process dies) the key is gone, so the file is unreadable whatever
happens to it, and it is deleted in every outcome.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from fivesafes.keys.envelope import create_encrypted, open_encrypted

SPOOL_SUFFIX = ".spool"


@dataclass(slots=True)
class SpoolFile:
    """One upload's encrypted spool, its in-memory key, and what was learned while writing."""

    path: Path
    key: bytes = field(repr=False)
    size: int = 0
    sha256: str | None = None

    def open(self) -> io.BufferedReader:
        return open_encrypted(self.path, self.key)

    def read_all(self) -> bytes:
        """The whole plaintext (for formats that need random access: XLSX, Parquet)."""
        with self.open() as reader:
            return reader.read()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.key = b""


class SpoolWriter:
    """Write plaintext in, get an encrypted file out; counts bytes and hashes as it goes."""

    def __init__(self, folder: Path, upload_id: uuid.UUID) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
        self.spool = SpoolFile(folder / f"{upload_id}{SPOOL_SUFFIX}", secrets.token_bytes(32))
        self._hash = hashlib.sha256()
        self._out = create_encrypted(self.spool.path, self.spool.key)

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.spool.size += len(data)
        self._out.write(data)

    def finish(self) -> SpoolFile:
        self._out.close()
        self.spool.sha256 = self._hash.hexdigest()
        return self.spool

    def abort(self) -> None:
        try:
            self._out.close()
        finally:
            self.spool.discard()


def remove_orphans(folder: Path) -> int:
    """Delete spool files left by a process that died (their keys died with it)."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob(f"*{SPOOL_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed
