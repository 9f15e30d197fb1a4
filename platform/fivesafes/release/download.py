"""What one download asks for, and the limits a release is prepared within.

Parameter objects for :func:`fivesafes.release.service.prepare_release` and the manifest
it writes: the request's facts travel together instead of as a dozen keywords.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fivesafes.access.models import Grant
from fivesafes.identity.models import User
from fivesafes.release.models import ReleaseFormat
from fivesafes.release.shuffle import MEMORY_BYTES

#: Most rows in one release by default (``FIVESAFES_RELEASE_MAX_ROWS``): the gate's counts
#: take 12 bytes a row in memory.
MAX_ROWS = 40_000_000


@dataclass(frozen=True, slots=True)
class Download:
    """Who downloads, under which grant (already checked usable), in which format, when."""

    user: User
    grant: Grant
    fmt: ReleaseFormat
    now: datetime


@dataclass(frozen=True, slots=True)
class ReleaseLimits:
    """Where a release spools and is kept, and how large it may be (from the settings)."""

    spool_folder: Path
    copies_folder: Path  # the encrypted retained copies (release_copies_path)
    spool_memory_bytes: int = MEMORY_BYTES
    max_rows: int = MAX_ROWS
