"""Projects, their members, data access requests, reviews and grants.

A grant copies what was approved (dataset, version, columns, filter, granularity) so
that nothing edited later can widen it. Reviews are one row per officer per request
(unique), so "distinct approvers" is a count the database itself guarantees.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.datasets.models import Dataset
from fivesafes.db import Base, StrEnumText, UTCDateTime, utcnow
from fivesafes.identity.models import User


class ProjectState(StrEnum):
    """A project's life. CLOSING and CLOSED are final: a closing project never reopens.

    CLOSING begins at the end date (or earlier on request) and stops every grant; the
    project becomes CLOSED once each release that needs one has an accepted destruction
    attestation (docs/closeout.md).
    """

    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"
    CLOSING = "closing"
    CLOSED = "closed"


class LawfulBasis(StrEnum):
    """UK GDPR Article 6(1) conditions."""

    CONSENT = "6.1.a-consent"
    CONTRACT = "6.1.b-contract"
    LEGAL_OBLIGATION = "6.1.c-legal-obligation"
    VITAL_INTERESTS = "6.1.d-vital-interests"
    PUBLIC_TASK = "6.1.e-public-task"
    LEGITIMATE_INTERESTS = "6.1.f-legitimate-interests"


class SpecialCategoryCondition(StrEnum):
    """UK GDPR Article 9(2) conditions for health (special category) data."""

    EXPLICIT_CONSENT = "9.2.a-explicit-consent"
    EMPLOYMENT = "9.2.b-employment-social-security"
    VITAL_INTERESTS = "9.2.c-vital-interests"
    NOT_FOR_PROFIT = "9.2.d-not-for-profit-body"
    MADE_PUBLIC = "9.2.e-made-public"
    LEGAL_CLAIMS = "9.2.f-legal-claims"
    SUBSTANTIAL_PUBLIC_INTEREST = "9.2.g-substantial-public-interest"
    HEALTH_OR_SOCIAL_CARE = "9.2.h-health-social-care"
    PUBLIC_HEALTH = "9.2.i-public-health"
    RESEARCH = "9.2.j-archiving-research-statistics"


class RequestState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Granularity(StrEnum):
    """How finely dates are released."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    lay_summary: Mapped[str] = mapped_column(Text)
    ethics_ref: Mapped[str] = mapped_column(String(100))
    dsa_ref: Mapped[str] = mapped_column(String(100))
    lawful_basis: Mapped[str] = mapped_column(String(40))  # LawfulBasis
    special_category_condition: Mapped[str] = mapped_column(String(40))  # Art. 9
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    state: Mapped[ProjectState] = mapped_column(StrEnumText(ProjectState, 16))
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    #: The pseudonym generation the project's released pseudonyms and date offsets are
    #: made from: pinned across rotations (linkage across downloads) unless reissued.
    pseudonym_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Close-out (issue 20): when closing began, why ("end date reached" or the
    #: requester's reason), by whom (a user id as text, or "system"), and when it closed.
    closing_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closing_reason: Mapped[str | None] = mapped_column(Text, default=None)
    closing_requested_by: Mapped[str | None] = mapped_column(String(64), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    #: The UTC day the last ``project.attestation_overdue`` event was written: a
    #: conditional update of this column is what keeps it to one per day across servers.
    overdue_recorded_on: Mapped[date | None] = mapped_column(Date, default=None)

    lead: Mapped[User] = relationship(foreign_keys=[lead_id])
    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan"
    )


class ProjectMember(Base):
    """A researcher on a project (the lead is a member too)."""

    __tablename__ = "project_members"

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class AccessRequest(Base):
    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    dataset_version: Mapped[int | None] = mapped_column(Integer)  # None: the latest
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_policy_versions.id"))
    sensitivity: Mapped[str] = mapped_column(String(32))
    columns: Mapped[str] = mapped_column(Text)  # JSON list of output column names
    row_filter: Mapped[str | None] = mapped_column(Text)  # canonical text
    date_granularity: Mapped[str] = mapped_column(String(8))
    justification: Mapped[str] = mapped_column(Text)
    requested_end: Mapped[date | None] = mapped_column(Date)
    state: Mapped[RequestState] = mapped_column(
        StrEnumText(RequestState, 16), default=RequestState.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    project: Mapped[Project] = relationship()
    dataset: Mapped[Dataset] = relationship()
    reviews: Mapped[list[RequestReview]] = relationship(
        back_populates="request", order_by="RequestReview.id"
    )
    # The grant its approval issued, if any (at most one: grants.request_id is unique).
    grant: Mapped[Grant | None] = relationship(back_populates="request")


class RequestReview(Base):
    """One officer's approval or rejection of one request."""

    __tablename__ = "request_reviews"
    __table_args__ = (UniqueConstraint("request_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), index=True)
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[ReviewDecision] = mapped_column(StrEnumText(ReviewDecision, 8))
    reason: Mapped[str] = mapped_column(Text)
    # Why an approval went ahead although the disclosure preview refused the release.
    override_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="reviews")


class Grant(Base):
    """Time-limited permission to receive what one approved request asked for."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    dataset_version: Mapped[int | None] = mapped_column(Integer)  # None: the latest
    columns: Mapped[str] = mapped_column(Text)  # JSON list, as approved
    row_filter: Mapped[str | None] = mapped_column(Text)
    date_granularity: Mapped[str] = mapped_column(String(8))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    # When a use after expiry was first seen (grant.expired is audited once).
    expiry_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    request: Mapped[AccessRequest] = relationship(back_populates="grant")
    project: Mapped[Project] = relationship()
    dataset: Mapped[Dataset] = relationship()
