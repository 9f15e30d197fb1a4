"""Re-identification records and requests.

``reidentification_records`` is the one table that holds an NHS number, and only as an
AES-256-GCM ciphertext under the dedicated re-identification key (``keys/reid_blob.py``),
bound by its associated data to the row's dataset, generation and pseudonym so a
ciphertext copied to another row does not open. Requests keep what was asked, who
decided and who executed: never the number itself, which is decrypted at execution and
handed out once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.access.models import ReviewDecision
from fivesafes.db import Base, StrEnumText, UTCDateTime, utcnow


class ReidentificationRecord(Base):
    """One patient of one dataset: the stored pseudonym and the sealed NHS number."""

    __tablename__ = "reidentification_records"
    __table_args__ = (UniqueConstraint("dataset_id", "pseudonym_generation", "pseudonym"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    # The stored pseudonym (32 hex), at the generation the record was ingested at.
    pseudonym: Mapped[str] = mapped_column(String(32))
    pseudonym_generation: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)  # FSR1 blob
    # No foreign key: purging or withdrawing a version must not be blocked by its records.
    first_version_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReidState(StrEnum):
    """Stored states; "expired" is computed from ``expires_at`` and never stored."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXECUTED = "executed"
    ACTIONED = "actioned"


class ReidentificationRequest(Base):
    __tablename__ = "reidentification_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    release_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("releases.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    purpose: Mapped[str] = mapped_column(String(40))
    justification: Mapped[str] = mapped_column(Text)
    state: Mapped[ReidState] = mapped_column(StrEnumText(ReidState, 16), default=ReidState.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    executed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    action_taken: Mapped[str | None] = mapped_column(Text, default=None)
    action_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    subjects: Mapped[list[ReidentificationSubject]] = relationship(
        back_populates="request",
        order_by="ReidentificationSubject.position",
        cascade="all, delete-orphan",
    )
    approvals: Mapped[list[ReidentificationApproval]] = relationship(
        back_populates="request", order_by="ReidentificationApproval.id"
    )


class ReidentificationSubject(Base):
    """One project pseudonym named in a request, and the record it was resolved to."""

    __tablename__ = "reidentification_subjects"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("reidentification_requests.id"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_pseudonym: Mapped[str] = mapped_column(String(32))
    # What the audit trail names the subject by (service.pseudonym_hash).
    pseudonym_hash: Mapped[str] = mapped_column(String(64))
    # Resolved, and checked to be in the release, when the request is created.
    record_id: Mapped[int] = mapped_column(ForeignKey("reidentification_records.id"))

    request: Mapped[ReidentificationRequest] = relationship(back_populates="subjects")
    record: Mapped[ReidentificationRecord] = relationship()


class ReidentificationApproval(Base):
    """One governance officer's decision on one request (unique: one each)."""

    __tablename__ = "reidentification_approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("reidentification_requests.id"))
    approver_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(StrEnumText(ReviewDecision, 8))
    # The officer's Caldicott Guardian flag when they decided (a later change does not
    # rewrite who approved what).
    caldicott_guardian: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ReidentificationRequest] = relationship(back_populates="approvals")
