"""The audit trail for governance officers: review, export, verify, checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from fivesafes.audit import queries
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.schemas import AuditEventOut, AuditPage, CheckpointOut, VerifyOut
from fivesafes.audit.signing import make_checkpoint
from fivesafes.audit.trust import trusted_public_key
from fivesafes.audit.verification import verify_against
from fivesafes.config import Settings
from fivesafes.db import READ_ONLY
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.params import MAX_SEQ
from fivesafes.identity.models import Role, User
from fivesafes.keys.store import KeyStore

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
    events, cursor = queries.page(session, flt, after=after, limit=limit)
    trail.record(session, "audit.view", details={"filter": _describe(flt), "count": len(events)})
    return AuditPage(events=[AuditEventOut.model_validate(e) for e in events], next_cursor=cursor)


@router.get("/events.csv", name="audit.export", response_class=StreamingResponse)
def export_events(
    request: Request, session: DbSession, _: Governance, trail: Trail, flt: Filter
) -> StreamingResponse:
    """The filtered trail as CSV, streamed after the export itself is on the trail."""
    trail.record(session, "audit.export", details={"filter": _describe(flt)})
    engine: Engine = request.app.state.engine
    reader_engine = engine.execution_options(**{READ_ONLY: True})

    def lines() -> Iterator[str]:
        with Session(reader_engine) as reader:
            yield from queries.csv_lines(queries.iter_events(reader, flt))

    return StreamingResponse(
        lines(),
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
    settings: Settings = request.app.state.settings
    key = trusted_public_key(settings, request.app.state.keystore)
    result = verify_against(session, key, settings.audit_checkpoint_dir, against=against)
    trail.record(
        session,
        "audit.verify",
        outcome="success",
        details={
            "ok": result.ok,
            "events": result.events_verified,
            "damage": result.damage,
            "against": against,
        },
    )
    return VerifyOut.model_validate(result.as_dict())


@router.post("/checkpoints", response_model=CheckpointOut, status_code=201, name="audit.checkpoint")
def checkpoint(request: Request, session: DbSession, _: Governance, trail: Trail) -> CheckpointOut:
    """Verify since the last checkpoint, sign the head, publish it (409 if damaged)."""
    keystore: KeyStore = request.app.state.keystore
    publisher = CheckpointPublisher.from_settings(request.app.state.settings)
    # Signed before this request appends its own event: the head signed is committed.
    made = make_checkpoint(session, keystore, publisher)
    trail.record(session, "audit.checkpoint", details={"seq": made.seq})
    return CheckpointOut(**asdict(made))


def _describe(flt: queries.EventFilter) -> dict[str, str]:
    return {k: str(v) for k, v in asdict(flt).items() if v is not None}
