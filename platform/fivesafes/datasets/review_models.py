"""The governance review of a dataset version's scrubbed free text.

A review holds *where* the sampled cells are (row id and column of the version's own
table), never a copy of their text: the scrubbed text stays in the one governed table it
belongs to, and every reviewer, and the audit, sees the same cells. Each time an officer
is shown the sample a :class:`ReviewView` is written; its one-time secret (only a SHA-256
stored) must come back with an approval, which is how the server knows the officer was
shown the sample before approving it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.datasets.models import DatasetVersion
from fivesafes.db import Base, StrEnumText, UTCDateTime, utcnow


class ReviewDecision(StrEnum):
    """A version review's one decision (no decision yet: ``None``)."""

    APPROVED = "approved"
    REJECTED = "rejected"


class VersionReview(Base):
    """One version's review: the sample drawn once at ingestion, and the decision."""

    __tablename__ = "version_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), unique=True)
    sample_requested: Mapped[int] = mapped_column(Integer)  # the policy's review_sample
    cells_available: Mapped[int] = mapped_column(BigInteger)  # non-empty free-text cells
    sample_sha256: Mapped[str] = mapped_column(String(64))  # of the positions, for the audit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[ReviewDecision | None] = mapped_column(StrEnumText(ReviewDecision, 16))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)  # the officer's words (never audited)

    version: Mapped[DatasetVersion] = relationship()
    cells: Mapped[list[ReviewCell]] = relationship(order_by="ReviewCell.position")


class ReviewCell(Base):
    """One sampled cell: a position in the version's table, not its content."""

    __tablename__ = "version_review_cells"

    review_id: Mapped[int] = mapped_column(ForeignKey("version_reviews.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1.. in display order
    row_id: Mapped[int] = mapped_column(BigInteger)
    column_name: Mapped[str] = mapped_column(String(255))


class ReviewView(Base):
    """An officer was shown the sample; the secret proves it when they decide."""

    __tablename__ = "version_review_views"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    review_id: Mapped[int] = mapped_column(ForeignKey("version_reviews.id"), index=True)
    viewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
