"""API views of re-identification requests.

Only :class:`ReidExecutionOut` carries NHS numbers: the one response of an execution.
Project pseudonyms are not checked for shape here: a malformed one is refused by the
service exactly like one that is not in the release (404), so the shape of the refusal
tells a caller nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fivesafes.access.models import ReviewDecision
from fivesafes.reidentification.models import ReidentificationRequest
from fivesafes.reidentification.service import (
    MAX_SUBJECTS,
    MIN_JUSTIFICATION,
    NewRequest,
    RevealedSubject,
    effective_state,
)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReidRequestIn(_In):
    """A researcher's request to reverse project pseudonyms of one of their releases."""

    grant_id: int = Field(
        ge=1, le=2**31 - 1, description="The grant the release was made under"
    )  # the id range of the database's integer keys
    release_id: uuid.UUID = Field(description="The release the pseudonyms came from")
    project_pseudonyms: list[str] = Field(
        min_length=1,
        max_length=MAX_SUBJECTS,
        description=f"The project pseudonyms (1 to {MAX_SUBJECTS}, distinct) as released",
    )
    purpose: str = Field(
        min_length=1,
        max_length=40,
        description="safety_critical_finding or consent_to_contact, as the dataset's policy allows",
    )
    justification: str = Field(min_length=MIN_JUSTIFICATION, max_length=10_000)

    def to_new(self) -> NewRequest:
        return NewRequest(
            grant_id=self.grant_id,
            release_id=self.release_id,
            project_pseudonyms=tuple(self.project_pseudonyms),
            purpose=self.purpose,
            justification=self.justification,
        )


class ReidDecisionIn(_In):
    reason: str = Field(min_length=3, max_length=5_000)


class ReidActionIn(_In):
    action_taken: str = Field(
        min_length=3, max_length=10_000, description="What was done with the identity"
    )


class ReidSubjectOut(BaseModel):
    position: int
    project_pseudonym: str


class ReidApprovalOut(BaseModel):
    approver_id: uuid.UUID
    decision: ReviewDecision
    caldicott_guardian: bool = Field(description="The officer's flag when they decided")
    reason: str
    created_at: datetime


class ReidRequestOut(BaseModel):
    """A request as its readers see it (never an NHS number)."""

    id: int
    project_id: int
    grant_id: int
    release_id: uuid.UUID
    dataset_id: int
    requester_id: uuid.UUID
    purpose: str
    justification: str
    state: str = Field(
        description="pending, approved, rejected, executed, actioned, or expired (pending "
        "or approved past expires_at)"
    )
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    executed_by: uuid.UUID | None
    executed_at: datetime | None
    action_taken: str | None
    action_recorded_at: datetime | None
    subjects: list[ReidSubjectOut]
    approvals: list[ReidApprovalOut]

    @classmethod
    def of(
        cls, request: ReidentificationRequest, now: datetime, *, trust_side: bool = True
    ) -> ReidRequestOut:
        """The request as ``trust_side`` staff see it; a researcher (``trust_side=False``)
        sees that an action was recorded, not its free text, which is written by the
        trust about an identified patient."""
        return cls(
            id=request.id,
            project_id=request.project_id,
            grant_id=request.grant_id,
            release_id=request.release_id,
            dataset_id=request.dataset_id,
            requester_id=request.requester_id,
            purpose=request.purpose,
            justification=request.justification,
            state=effective_state(request, now),
            created_at=request.created_at,
            expires_at=request.expires_at,
            decided_at=request.decided_at,
            executed_by=request.executed_by,
            executed_at=request.executed_at,
            action_taken=request.action_taken if trust_side else None,
            action_recorded_at=request.action_recorded_at,
            subjects=[
                ReidSubjectOut(position=s.position, project_pseudonym=s.project_pseudonym)
                for s in request.subjects
            ],
            approvals=[
                ReidApprovalOut(
                    approver_id=a.approver_id,
                    decision=a.decision,
                    caldicott_guardian=a.caldicott_guardian,
                    reason=a.reason,
                    created_at=a.created_at,
                )
                for a in request.approvals
            ],
        )


class RevealedSubjectOut(BaseModel):
    project_pseudonym: str
    nhs_number: str


class ReidExecutionOut(BaseModel):
    """The one response that carries NHS numbers: shown once, stored nowhere."""

    request_id: int
    subjects: list[RevealedSubjectOut]

    @classmethod
    def of(cls, request_id: int, revealed: list[RevealedSubject]) -> ReidExecutionOut:
        return cls(
            request_id=request_id,
            subjects=[
                RevealedSubjectOut(project_pseudonym=s.project_pseudonym, nhs_number=s.nhs_number)
                for s in revealed
            ],
        )
