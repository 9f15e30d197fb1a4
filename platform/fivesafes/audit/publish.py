"""Publishing signed checkpoints outside the database, and reading them back.

A checkpoint kept only in the database proves nothing to someone who can write to the
database: they can delete it along with the events it covers. So every checkpoint is
also written, as it is signed, to an append-only folder (``FIVESAFES_AUDIT_CHECKPOINT_DIR``:
one file per checkpoint, created exclusively and read-only, never rewritten) and, when
``FIVESAFES_AUDIT_CHECKPOINT_SYSLOG`` is set, sent to syslog so a copy lives on another
machine. Verification then checks the chain against every published file.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import rfc8785

from fivesafes.audit.checkpoints import Checkpoint, load_checkpoint
from fivesafes.config import Settings
from fivesafes.errors import ConfigurationError, InvalidInputError
from fivesafes.keys.private_files import fsync_folder

log = logging.getLogger("fivesafes.audit")

SYSLOG_TAG = "fivesafes-audit-checkpoint"
_SUFFIX = ".json"


@dataclass(frozen=True, slots=True)
class CheckpointPublisher:
    """Where checkpoints go besides the database: a folder, and optionally syslog."""

    directory: Path
    syslog: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckpointPublisher:
        return cls(settings.audit_checkpoint_dir, settings.audit_checkpoint_syslog)

    def publish(self, checkpoint: Checkpoint) -> Path:
        """Write the checkpoint's file (fsynced) and send the syslog copy; return the file.

        The file must be written or the checkpoint is not made (the caller rolls back). A
        syslog failure is logged, not raised: the file copy already exists, and a syslog
        outage must not stop checkpoints altogether.
        """
        path = self._write(checkpoint)
        if self.syslog:
            self._send_syslog(checkpoint)
        return path

    def _write(self, checkpoint: Checkpoint) -> Path:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the audit checkpoint folder {self.directory}: {exc.strerror} "
                "(FIVESAFES_AUDIT_CHECKPOINT_DIR)"
            ) from None
        name = f"checkpoint-{checkpoint.seq:012d}-{secrets.token_hex(4)}{_SUFFIX}"
        target = self.directory / name
        try:
            # O_EXCL: never replace a published checkpoint; 0444: nobody rewrites it.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                os.write(fd, checkpoint.to_json().encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_folder(self.directory)  # the new file's name durable, not only its bytes
        except OSError as exc:
            raise ConfigurationError(
                f"cannot publish the audit checkpoint to {target}: {exc.strerror}"
            ) from None
        return target

    def _send_syslog(self, checkpoint: Checkpoint) -> None:
        try:
            handler = logging.handlers.SysLogHandler(address=_syslog_address(self.syslog or ""))
        except (OSError, ValueError) as exc:
            log.error("audit checkpoint %d not sent to syslog: %s", checkpoint.seq, exc)
            return
        try:
            line = rfc8785.dumps(asdict(checkpoint)).decode("utf-8")
            record = logging.LogRecord(
                SYSLOG_TAG, logging.INFO, __file__, 0, f"{SYSLOG_TAG}: {line}", None, None
            )
            handler.emit(record)
        finally:
            handler.close()


def _syslog_address(value: str) -> str | tuple[str, int]:
    """``/dev/log`` (a socket path) or ``host:port`` (UDP)."""
    if value.startswith("/"):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"syslog address {value!r} is neither a socket path nor host:port")
    return host, int(port)


@dataclass(frozen=True, slots=True)
class Published:
    """A checkpoint read back from the folder, with the file it came from."""

    path: Path
    checkpoint: Checkpoint


def published_checkpoints(directory: Path) -> list[Published]:
    """Every checkpoint file in the folder, oldest sequence first.

    A file that is not a checkpoint raises :class:`InvalidInputError` naming it: something
    wrote into the append-only folder, which the verifier reports as damage.
    """
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        found.append(Published(path, load_checkpoint(path)))
    found.sort(key=lambda p: p.checkpoint.seq)
    return found


__all__ = [
    "SYSLOG_TAG",
    "CheckpointPublisher",
    "InvalidInputError",
    "Published",
    "published_checkpoints",
]
