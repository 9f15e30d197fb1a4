"""The record of each release: what was delivered under which grant, and its manifest.

A release row is written, with its manifest, in the request's transaction before the
first byte leaves; the SHA-256 and byte count of the content delivered are added when the
stream completes, in a short transaction of their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fivesafes.db import Base, StrEnumText, UTCDateTime, utcnow


class ReleaseFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class ReleaseState(StrEnum):
    STREAMING = "streaming"  # gate passed, record written, bytes leaving
    COMPLETED = "completed"  # every byte sent; content_sha256 is what was delivered
    INTERRUPTED = "interrupted"  # the stream stopped early (client went away, error)


class Release(Base):
    __tablename__ = "releases"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    file_format: Mapped[ReleaseFormat] = mapped_column(StrEnumText(ReleaseFormat))
    state: Mapped[ReleaseState] = mapped_column(
        StrEnumText(ReleaseState), default=ReleaseState.STREAMING
    )
    row_count: Mapped[int] = mapped_column(Integer)  # rows released (after suppression)
    rows_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    content_sha256: Mapped[str | None] = mapped_column(String(64))  # set on completion
    byte_count: Mapped[int | None] = mapped_column(BigInteger)
    manifest: Mapped[str] = mapped_column(Text)  # JSON, as written before the first byte
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
