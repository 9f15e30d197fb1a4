"""Request and response bodies of dataset version reviews, and their builders (shared by
the API and the web pages)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from fivesafes.datasets.review import REASON_MAX, REASON_MIN, ShownSample
from fivesafes.datasets.review_models import VersionReview


class SegmentOut(BaseModel):
    text: str
    tag: bool  # a replacement tag such as [PERSON]: what the page highlights


class SampleCellOut(BaseModel):
    position: int
    row_id: int
    column: str
    text: str | None
    tags: int
    segments: list[SegmentOut]


class ReviewOut(BaseModel):
    dataset: str
    version: int
    state: str
    uploaded_by: str | None
    ingested_at: datetime
    row_count: int
    sample_requested: int
    sample_size: int
    cells_available: int
    sample_sha256: str
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class ReviewSampleOut(BaseModel):
    review: ReviewOut
    cells: list[SampleCellOut]
    view_id: str
    view_token: str  # send back with an approval: proof this sample was shown to you


class ReviewDecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=REASON_MIN, max_length=REASON_MAX)
    view_token: str | None = Field(default=None, max_length=100)


def review_out(review: VersionReview) -> ReviewOut:
    version = review.version
    return ReviewOut(
        dataset=version.dataset.name,
        version=version.number,
        state=version.state,
        uploaded_by=version.uploaded_by,
        ingested_at=version.created_at,
        row_count=version.row_count,
        sample_requested=review.sample_requested,
        sample_size=len(review.cells),
        cells_available=review.cells_available,
        sample_sha256=review.sample_sha256,
        decision=review.decision,
        decided_by=str(review.decided_by) if review.decided_by else None,
        decided_at=review.decided_at,
        reason=review.reason,
    )


def sample_out(shown: ShownSample) -> ReviewSampleOut:
    return ReviewSampleOut(
        review=review_out(shown.review),
        cells=[
            SampleCellOut(
                position=c.position,
                row_id=c.row_id,
                column=c.column,
                text=c.text,
                tags=c.tags,
                segments=[SegmentOut(text=s.text, tag=s.tag) for s in c.segments],
            )
            for c in shown.cells
        ],
        view_id=shown.view_id,
        view_token=shown.view_secret,
    )
