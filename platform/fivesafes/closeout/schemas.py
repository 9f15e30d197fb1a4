"""API bodies and views of close-out: closing early, attestations, their review.

Every field is bounded and named in a 422 when wrong (pydantic's errors name the field);
what pydantic cannot know (a date against its release, a release of another project) the
service refuses naming the field too.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fivesafes.closeout.models import AttestationState, DestructionAttestation
from fivesafes.closeout.rules import DECLARATION, AttestationContent
from fivesafes.closeout.status import CloseoutStatus, ReleaseCloseout


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CloseIn(_In):
    reason: str = Field(min_length=3, max_length=5_000, description="Why it closes early")


class AttestationIn(_In):
    """The lead's signed attestation, the same for every release named."""

    release_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=500, description="The releases whose copies were destroyed"
    )
    destroyed_by: str = Field(
        min_length=2, max_length=200, description="Who destroyed the copies (name and role)"
    )
    destroyed_on: date = Field(description="When (not in the future, not before the release)")
    method: str = Field(min_length=3, max_length=5_000, description="How they were destroyed")
    copies: list[str] = Field(
        min_length=1,
        max_length=200,
        description="Which copies: each location or device that held the data",
    )
    accept_declaration: Literal[True] = Field(
        description="Must be true: the lead accepts the declaration "
        "(GET /projects/{id}/closeout shows its text)"
    )
    signed_name: str = Field(
        min_length=2, max_length=200, description="The lead's full name, typed as signature"
    )

    @field_validator("destroyed_by", "method", "signed_name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("copies")
    @classmethod
    def _copies(cls, value: list[str]) -> list[str]:
        cleaned = [c.strip() for c in value]
        for position, copy in enumerate(cleaned):
            if not copy or len(copy) > 500:
                raise ValueError(f"copy {position} must be 1 to 500 characters")
        return cleaned

    def to_content(self) -> AttestationContent:
        return AttestationContent(
            destroyed_by=self.destroyed_by,
            destroyed_on=self.destroyed_on,
            method=self.method,
            copies=tuple(self.copies),
            signed_name=self.signed_name,
            declaration=DECLARATION,
        )


class RejectIn(_In):
    reason: str = Field(min_length=3, max_length=5_000, description="What must be corrected")


class AttestationOut(BaseModel):
    id: int
    project_id: int
    release_id: uuid.UUID
    destroyed_by: str
    destroyed_on: date
    method: str
    copies: list[str]
    declaration: str
    signed_name: str
    content_sha256: str
    submitted_by: str = Field(description="Username of the lead who submitted it")
    submitted_at: datetime
    state: AttestationState
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_reason: str | None

    @classmethod
    def of(cls, a: DestructionAttestation) -> AttestationOut:
        return cls(
            id=a.id,
            project_id=a.project_id,
            release_id=a.release_id,
            destroyed_by=a.destroyed_by,
            destroyed_on=a.destroyed_on,
            method=a.method,
            copies=json.loads(a.copies),
            declaration=a.declaration,
            signed_name=a.signed_name,
            content_sha256=a.content_sha256,
            submitted_by=a.submitter.username,
            submitted_at=a.submitted_at,
            state=a.state,
            reviewed_by=a.reviewer.username if a.reviewer is not None else None,
            reviewed_at=a.reviewed_at,
            review_reason=a.review_reason,
        )


class ReleaseCloseoutOut(BaseModel):
    release_id: uuid.UUID
    release_state: str
    created_at: datetime
    needs_attestation: bool
    status: str = Field(description="missing, submitted, accepted or rejected")
    attestation: AttestationOut | None

    @classmethod
    def of(cls, r: ReleaseCloseout) -> ReleaseCloseoutOut:
        return cls(
            release_id=r.release.id,
            release_state=r.release.state.value,
            created_at=r.release.created_at,
            needs_attestation=r.needs_attestation,
            status=r.status,
            attestation=AttestationOut.of(r.latest) if r.latest is not None else None,
        )


class CloseoutOut(BaseModel):
    project_id: int
    state: str
    end_date: date
    closing_at: datetime | None
    closing_reason: str | None
    closed_at: datetime | None
    deadline: datetime | None = Field(description="When every attestation should be accepted")
    overdue: bool
    days_overdue: int
    declaration: str = Field(description="The declaration an attestation accepts")
    releases: list[ReleaseCloseoutOut]

    @classmethod
    def of(cls, s: CloseoutStatus) -> CloseoutOut:
        p = s.project
        return cls(
            project_id=p.id,
            state=p.state.value,
            end_date=p.end_date,
            closing_at=p.closing_at,
            closing_reason=p.closing_reason,
            closed_at=p.closed_at,
            deadline=s.overdue.deadline if s.overdue is not None else None,
            overdue=s.is_overdue,
            days_overdue=s.overdue.days_overdue if s.overdue is not None else 0,
            declaration=DECLARATION,
            releases=[ReleaseCloseoutOut.of(r) for r in s.releases],
        )
