"""Request and response bodies for projects, requests, reviews, grants and explanations."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fivesafes.access.models import (
    Granularity,
    LawfulBasis,
    ProjectState,
    RequestState,
    ReviewDecision,
    SpecialCategoryCondition,
)
from fivesafes.access.policy import Action

_USERNAME = r"^[a-z][a-z0-9._-]+$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectIn(_In):
    """A project, as created by governance or proposed by a researcher."""

    title: str = Field(min_length=3, max_length=200)
    purpose: str = Field(min_length=10, max_length=10_000)
    lay_summary: str = Field(min_length=10, max_length=10_000)
    ethics_ref: str = Field(min_length=1, max_length=100)
    dsa_ref: str = Field(min_length=1, max_length=100, description="Data sharing agreement")
    lawful_basis: LawfulBasis
    special_category_condition: SpecialCategoryCondition
    start_date: date
    end_date: date
    lead: str | None = Field(
        default=None, pattern=_USERNAME, description="Lead researcher (proposals: the proposer)"
    )
    members: list[str] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _dates_in_order(self) -> ProjectIn:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class ProjectDecisionIn(_In):
    reason: str = Field(min_length=3, max_length=5_000)


class MemberIn(_In):
    username: str = Field(pattern=_USERNAME, max_length=64)


class MemberOut(BaseModel):
    user_id: uuid.UUID
    username: str
    is_lead: bool


class ProjectOut(BaseModel):
    id: int
    title: str
    purpose: str
    lay_summary: str
    ethics_ref: str
    dsa_ref: str
    lawful_basis: LawfulBasis
    special_category_condition: SpecialCategoryCondition
    start_date: date
    end_date: date
    state: ProjectState
    lead_id: uuid.UUID
    members: list[MemberOut]
    created_at: datetime
    decided_at: datetime | None
    decision_reason: str | None


class RequestIn(_In):
    """A data access request by a project member."""

    dataset: str = Field(min_length=1, max_length=63)
    version: int | Literal["latest"] = Field(default="latest", description="A number or latest")
    columns: list[str] = Field(min_length=1, max_length=500)
    row_filter: str | None = Field(default=None, max_length=2000)
    date_granularity: Granularity = Granularity.DAY
    justification: str = Field(min_length=10, max_length=10_000)
    requested_end: date | None = Field(default=None, description="Grant to end no later than")

    @field_validator("version")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("version numbers start at 1")
        return value


class ReviewIn(_In):
    reason: str = Field(min_length=3, max_length=5_000)
    override_reason: str | None = Field(
        default=None,
        max_length=5_000,
        description="Required to approve a request whose disclosure preview says its "
        "release would be refused (GET /requests/{id}/preview): why approve it anyway",
    )


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reviewer_id: uuid.UUID
    decision: ReviewDecision
    reason: str
    override_reason: str | None = Field(
        default=None, description="Why it was approved although its release would be refused"
    )
    created_at: datetime


class RequestOut(BaseModel):
    id: int
    project_id: int
    requester_id: uuid.UUID
    dataset: str
    version: int | Literal["latest"]
    sensitivity: str
    columns: list[str]
    row_filter: str | None
    date_granularity: Granularity
    justification: str
    requested_end: date | None
    state: RequestState
    approvals: int
    approvals_required: int
    reviews: list[ReviewOut]
    grant_id: int | None
    created_at: datetime
    decided_at: datetime | None


class GrantOut(BaseModel):
    id: int
    request_id: int
    project_id: int
    dataset: str
    version: int | Literal["latest"]
    columns: list[str]
    row_filter: str | None
    date_granularity: Granularity
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None = Field(
        default=None, description="Why governance revoked it (shown to the project's members)"
    )
    active: bool


class RevokeIn(_In):
    reason: str = Field(min_length=3, max_length=5_000)


class ExplainOut(BaseModel):
    user: str
    action: Action
    project: int | None
    request: int | None
    grant: int | None
    allowed: bool
    rule: str
    reason: str
    at: datetime


def json_list(text: str) -> list[str]:
    value: Any = json.loads(text)
    return [str(v) for v in value]
