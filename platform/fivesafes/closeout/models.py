"""Destruction attestations: the lead's signed statement that a release's copies are gone.

One row per submission. A rejected attestation stays (the review trail) and the lead
submits a new row for the same release; at most one row per release is ``submitted`` or
``accepted`` at a time, which the service checks under the project's row lock. The
attested content is kept as given, with the SHA-256 of its RFC 8785 canonical JSON, so
the record (and the project's RO-Crate) can show exactly what was signed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.db import Base, StrEnumText, UTCDateTime, utcnow
from fivesafes.identity.models import User


class AttestationState(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class DestructionAttestation(Base):
    __tablename__ = "destruction_attestations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    release_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("releases.id"), index=True)
    destroyed_by: Mapped[str] = mapped_column(String(200))  # who (name/role, free text)
    destroyed_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(Text)
    copies: Mapped[str] = mapped_column(Text)  # JSON list of strings
    declaration: Mapped[str] = mapped_column(Text)
    signed_name: Mapped[str] = mapped_column(String(200))
    content_sha256: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[AttestationState] = mapped_column(
        StrEnumText(AttestationState, 16), default=AttestationState.SUBMITTED
    )
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    review_reason: Mapped[str | None] = mapped_column(Text, default=None)

    submitter: Mapped[User] = relationship(foreign_keys=[submitted_by])
    reviewer: Mapped[User | None] = relationship(foreign_keys=[reviewed_by])
