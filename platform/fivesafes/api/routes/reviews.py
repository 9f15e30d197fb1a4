"""Governance review of dataset versions: the queue, the sample, the decision.

Thin routes over :mod:`fivesafes.datasets.review`, which holds every rule (role,
separation of duties, view before approval, one decision). The route names are the
audited actions of refusals (``dataset_version.review.decide`` denied ...).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from fivesafes.datasets import review
from fivesafes.datasets.review_schemas import (
    ReviewDecisionIn,
    ReviewOut,
    ReviewSampleOut,
    review_out,
    sample_out,
)
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.params import PathId
from fivesafes.identity.models import Role, User

router = APIRouter(tags=["reviews"])
Officer = Annotated[User, Depends(require_role(Role.GOVERNANCE))]
PATH = "/datasets/{name}/versions/{number}/review"


@router.get("/reviews", name="dataset_version.review.list", response_model=list[ReviewOut])
def list_pending(session: DbSession, user: Officer) -> list[ReviewOut]:
    """Dataset versions waiting for a governance review, oldest first."""
    return [review_out(r) for r in review.pending_reviews(session, user)]


@router.get(PATH, name="dataset_version.review.view", response_model=ReviewSampleOut)
def view_sample(
    name: str, number: PathId, session: DbSession, trail: Trail, user: Officer
) -> ReviewSampleOut:
    """The stored sample of scrubbed cells (recorded as viewed) and the token to decide."""
    return sample_out(review.show_sample(session, trail, user, dataset=name, number=number))


@router.post(PATH, name="dataset_version.review.decide", response_model=ReviewOut)
def decide(
    *,
    name: str,
    number: PathId,
    body: ReviewDecisionIn,
    session: DbSession,
    trail: Trail,
    user: Officer,
) -> ReviewOut:
    """Approve (needs ``view_token`` from a view of yours) or reject, with a reason."""
    chosen = review.VersionDecision(
        name, number, body.decision == "approve", body.reason, body.view_token
    )
    return review_out(review.decide(session, trail, user, chosen, now=utcnow()))
