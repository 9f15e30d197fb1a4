"""The audit trail for governance officers: review, export, verify, checkpoint.

Thin routes over :mod:`fivesafes.audit.review` and :mod:`fivesafes.audit.integrity`,
which the web pages call too, so each reading or check is recorded the same way.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from fivesafes.audit import integrity, queries, review
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.schemas import AuditPage, CheckpointOut, VerifyOut, page_out
from fivesafes.audit.verification import VerifyScope
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.params import MAX_SEQ
from fivesafes.identity.directory import usernames
from fivesafes.identity.models import Role, User

router = APIRouter(prefix="/audit", tags=["audit"])
Governance = Annotated[User, Depends(require_role(Role.GOVERNANCE))]


def _filter(
    *,
    actor: Annotated[str | None, Query(description="Actor id (a user id)")] = None,
    action: Annotated[str | None, Query(description="Action, or a prefix ending in '.'")] = None,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: Annotated[Literal["success", "denied", "failed"] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time")] = None,
) -> queries.EventFilter:
    return queries.EventFilter(actor, action, target_type, target_id, outcome, since, until)


Filter = Annotated[queries.EventFilter, Depends(_filter)]


@router.get("/events", response_model=AuditPage, name="audit.view")
def list_events(
    session: DbSession,
    _: Governance,
    trail: Trail,
    flt: Filter,
    after: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Cursor: the last seq already seen")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Matching events in sequence order after the cursor; each actor's id and username."""
    page = review.view_page(session, trail, flt, usernames, review.PageRequest(limit, after))
    return page_out(page)


@router.get("/events.csv", name="audit.export", response_class=StreamingResponse)
def export_events(
    request: Request, session: DbSession, _: Governance, trail: Trail, flt: Filter
) -> StreamingResponse:
    """The filtered trail as CSV (with an ``actor_username`` column beside ``actor_id``),
    streamed after the export itself is on the trail."""
    return StreamingResponse(
        review.export_csv(session, trail, request.app.state.engine, flt, usernames),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit-events.csv"'},
    )


@router.get("/verify", response_model=VerifyOut, name="audit.verify")
def verify(
    request: Request,
    session: DbSession,
    _: Governance,
    trail: Trail,
    against: Annotated[
        Literal["published", "database"],
        Query(
            description="published: the chain and every checkpoint published outside the "
            "database and stored in it; database: the chain and the stored checkpoints only"
        ),
    ] = "published",
) -> VerifyOut:
    """Recompute the chain; checkpoints are checked with the configured public key only."""
    state = request.app.state
    scope = VerifyScope.configured(state.settings, state.keystore, against)
    result = integrity.verify(session, trail, scope)
    return VerifyOut.model_validate(result.as_dict())


@router.post("/checkpoints", response_model=CheckpointOut, status_code=201, name="audit.checkpoint")
def checkpoint(request: Request, session: DbSession, _: Governance, trail: Trail) -> CheckpointOut:
    """Verify since the last checkpoint, sign the head, publish it (409 if damaged)."""
    publisher = CheckpointPublisher.from_settings(request.app.state.settings)
    made = integrity.checkpoint(session, trail, request.app.state.keystore, publisher)
    return CheckpointOut(**asdict(made))
