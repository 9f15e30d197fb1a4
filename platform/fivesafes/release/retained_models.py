"""The record of each release's retained encrypted copy (the file: :mod:`.retained`).

A release is shuffled at random and cannot be made again, so the bytes that were sent are
kept, encrypted, until the project closes: the copy is what a release package (crate)
carries, and the record of exactly what left. The row is written in the same short
transaction that records the release's hash, so a completed release and its copy appear
together; when the project closes the file is deleted and the row says who, when and why.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fivesafes.db import Base, UTCDateTime


class ReleaseCopy(Base):
    __tablename__ = "release_copies"

    release_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("releases.id"), primary_key=True)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    byte_count: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))  # equals releases.content_sha256
    file_name: Mapped[str] = mapped_column(String(255))  # the name it was served under
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    destroyed_by: Mapped[str | None] = mapped_column(String(64))  # user id, or "system"
    destruction_reason: Mapped[str | None] = mapped_column(Text)
