"""Envelope encryption: each payload has its own AES-256-GCM data key, wrapped by the KEK.

Ingestion spools uploads to disk before parsing them; raw identifiers must never touch the
disk in clear, so the spool is written through :class:`EncryptedWriter` and read back
through :func:`open_encrypted`. Rotating the key-encryption key only rewraps the small
header (:func:`rewrap`); the bulk ciphertext is untouched.

Stream format (all integers big-endian)::

    magic "FSENV1\\n"  | wrap nonce (12) | wrapped data key (32 + 16 tag) | nonce prefix (7)
    then segments: length (4) | ciphertext + tag

Segment ``i`` is sealed with nonce ``prefix || i (4 bytes) || final flag (1 byte)`` and the
header as associated data (the STREAM construction), so reordering, truncation or
splicing segments from another file all fail authentication.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from typing_extensions import Buffer

from fivesafes.errors import ConfigurationError

MAGIC = b"FSENV1\n"
_WRAP_AAD = b"fivesafes/envelope/data-key/v1"
_NONCE_PREFIX = 7
_WRAPPED = 32 + 16
HEADER_BYTES = len(MAGIC) + 12 + _WRAPPED + _NONCE_PREFIX
SEGMENT_BYTES = 64 * 1024
_TAG = 16


class EnvelopeError(ConfigurationError):
    """Ciphertext that does not authenticate: wrong key, corruption or tampering."""

    code = "envelope_error"


def _check_kek(kek: bytes) -> AESGCM:
    if len(kek) != 32:
        raise ConfigurationError("the key-encryption key must be 32 bytes (AES-256)")
    return AESGCM(kek)


def _new_header(kek: bytes) -> tuple[bytes, bytes, bytes]:
    """A fresh data key, and the header that carries it wrapped under ``kek``."""
    data_key = AESGCM.generate_key(bit_length=256)
    wrap_nonce = secrets.token_bytes(12)
    wrapped = _check_kek(kek).encrypt(wrap_nonce, data_key, _WRAP_AAD)
    prefix = secrets.token_bytes(_NONCE_PREFIX)
    return MAGIC + wrap_nonce + wrapped + prefix, data_key, prefix


def _unwrap(kek: bytes, header: bytes) -> tuple[bytes, bytes]:
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise EnvelopeError("not a fivesafes envelope (bad header)")
    at = len(MAGIC)
    wrap_nonce, wrapped = header[at : at + 12], header[at + 12 : at + 12 + _WRAPPED]
    prefix = header[at + 12 + _WRAPPED :]
    try:
        data_key = _check_kek(kek).decrypt(wrap_nonce, wrapped, _WRAP_AAD)
    except InvalidTag:
        raise EnvelopeError("cannot unwrap the data key: wrong key-encryption key?") from None
    return data_key, prefix


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    if index >= 2**32:
        raise EnvelopeError("envelope too large (segment counter exhausted)")
    return prefix + struct.pack(">IB", index, 1 if final else 0)


def rewrap(header: bytes, old_kek: bytes, new_kek: bytes) -> bytes:
    """The same header with its data key wrapped under ``new_kek`` (KEK rotation).

    The data key and nonce prefix are kept, and segments authenticate against the magic
    and prefix only, so the payload stays valid and is not rewritten.
    """
    data_key, prefix = _unwrap(old_kek, header)
    wrap_nonce = secrets.token_bytes(12)
    wrapped = _check_kek(new_kek).encrypt(wrap_nonce, data_key, _WRAP_AAD)
    return MAGIC + wrap_nonce + wrapped + prefix


class EncryptedWriter(io.RawIOBase):
    """A write-only binary stream that encrypts everything written to ``sink``."""

    def __init__(self, sink: BinaryIO, kek: bytes, *, close_sink: bool = False) -> None:
        super().__init__()
        self._sink = sink
        self._close_sink = close_sink
        header, data_key, self._prefix = _new_header(kek)
        # Associated data is the header minus the wrapped key, so rewrapping keeps it valid.
        self._aad = MAGIC + self._prefix
        self._aead = AESGCM(data_key)
        self._buffer = bytearray()
        self._index = 0
        sink.write(header)

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer, /) -> int:
        if self.closed:
            raise ValueError("write to closed EncryptedWriter")
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) > SEGMENT_BYTES:
            self._seal(bytes(self._buffer[:SEGMENT_BYTES]), final=False)
            del self._buffer[:SEGMENT_BYTES]
        return len(view)

    def _seal(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, final), plain, self._aad)
        self._sink.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        """Seal the final segment (possibly empty): without it a reader reports truncation."""
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._sink.flush()
            if self._close_sink:
                self._sink.close()
        super().close()


class DecryptingReader(io.RawIOBase):
    """A read-only binary stream over an envelope; authentication failures raise."""

    def __init__(self, source: BinaryIO, kek: bytes, *, close_source: bool = False) -> None:
        super().__init__()
        self._source = source
        self._close_source = close_source
        header = source.read(HEADER_BYTES)
        data_key, self._prefix = _unwrap(kek, header)
        self._aad = MAGIC + self._prefix
        self._aead = AESGCM(data_key)
        self._plain = b""
        self._index = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_segment(self) -> None:
        length_bytes = self._source.read(4)
        if len(length_bytes) < 4:
            raise EnvelopeError("envelope truncated (final segment missing)")
        (length,) = struct.unpack(">I", length_bytes)
        if length < _TAG or length > SEGMENT_BYTES + _TAG:
            raise EnvelopeError("envelope corrupt (bad segment length)")
        sealed = self._source.read(length)
        if len(sealed) != length:
            raise EnvelopeError("envelope truncated mid-segment")
        for final in (False, True):
            try:
                self._plain = self._aead.decrypt(
                    _nonce(self._prefix, self._index, final), sealed, self._aad
                )
            except InvalidTag:
                continue
            self._index += 1
            if final:
                self._done = True
                if self._source.read(1):
                    raise EnvelopeError("envelope has data after its final segment")
            return
        raise EnvelopeError("envelope segment failed authentication (tampered or wrong key)")

    def close(self) -> None:
        if not self.closed and self._close_source:
            self._source.close()
        super().close()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._plain and not self._done:
            self._next_segment()
        n = min(len(buffer), len(self._plain))
        buffer[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n


def seal(kek: bytes, plaintext: bytes) -> bytes:
    """Encrypt a small payload in one call (same format as the stream)."""
    out = io.BytesIO()
    with EncryptedWriter(out, kek) as writer:
        writer.write(plaintext)
    return out.getvalue()


def unseal(kek: bytes, envelope: bytes) -> bytes:
    """Decrypt what :func:`seal` produced; :class:`EnvelopeError` if it does not verify."""
    with DecryptingReader(io.BytesIO(envelope), kek) as reader:
        return reader.read()


def open_encrypted(path: Path, kek: bytes) -> io.BufferedReader:
    """Open an encrypted spool file for buffered reading of its plaintext."""
    source = path.open("rb")
    try:
        raw = DecryptingReader(source, kek, close_source=True)
    except BaseException:
        source.close()
        raise
    return io.BufferedReader(raw, buffer_size=SEGMENT_BYTES)


def create_encrypted(path: Path, kek: bytes) -> io.BufferedWriter:
    """Create an encrypted spool file (mode 0600, must not exist) for buffered writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    sink = os.fdopen(fd, "wb")
    return io.BufferedWriter(EncryptedWriter(sink, kek, close_sink=True), buffer_size=SEGMENT_BYTES)


def rewrap_file(path: Path, old_kek: bytes, new_kek: bytes) -> None:
    """Rewrap a spool file's data key under a new KEK in place (header only)."""
    with path.open("r+b") as handle:
        header = handle.read(HEADER_BYTES)
        new_header = rewrap(header, old_kek, new_kek)
        handle.seek(0)
        handle.write(new_header)
