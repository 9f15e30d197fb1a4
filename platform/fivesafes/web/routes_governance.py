"""Governance pages: the request queue (approve, reject), dataset versions waiting for a
review of their scrubbed free text (read the sample, approve, reject), who has access to
what, grants expiring soon, the audit trail (filters, timeline) and the chain's integrity.

The version review pages call :mod:`fivesafes.datasets.review` like the API does: showing
the page records the view, and the form posts back that view's secret, without which the
service refuses an approval.

The audit pages call :mod:`fivesafes.audit.review` and :mod:`fivesafes.audit.integrity`
like the API does, so viewing, verifying and checkpointing are recorded exactly as there.
No page queries the database itself: names come from :mod:`fivesafes.identity.directory`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from fivesafes.access import grants, service
from fivesafes.access.models import RequestState
from fivesafes.access.views import grant_out, request_out
from fivesafes.audit import integrity, queries
from fivesafes.audit import review as audit_review
from fivesafes.audit.checkpoints import latest_checkpoint
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.schemas import page_out
from fivesafes.audit.verification import VerifyScope
from fivesafes.datasets import review as version_review
from fivesafes.datasets.review_schemas import review_out
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.params import MAX_SEQ, PathId
from fivesafes.identity.directory import usernames
from fivesafes.identity.models import Role, User
from fivesafes.identity.passwords import find_user
from fivesafes.web import charts
from fivesafes.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Officer = Annotated[User, Depends(require_role(Role.GOVERNANCE))]
EXPIRING_WITHIN = timedelta(days=30)
AUDIT_PAGE_SIZE = 200
PAST = {"approve": "approved", "reject": "rejected"}  # the notice shown after a decision


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision form both reviews post: a request's and a dataset version's."""

    approve: bool
    reason: str
    past: str  # the notice shown after it: "approved" or "rejected"


def _decision(
    decision: Annotated[Literal["approve", "reject"], Form()],
    reason: Annotated[str, Form(min_length=3, max_length=5000)],
) -> Decision:
    return Decision(decision == "approve", reason, PAST[decision])


DecisionForm = Annotated[Decision, Depends(_decision)]


@router.get("/web/governance/queue", name="web.governance.queue")
def queue(request: Request, session: DbSession, user: Officer) -> Response:
    policy = request.app.state.access_policy
    now = utcnow()
    pending = [
        request_out(policy, r)
        for r in service.list_requests(session, policy, user, now, state=RequestState.PENDING)
    ]
    projects = {p.id: p.title for p in service.list_projects(session, policy, user, now)}
    versions = [review_out(r) for r in version_review.pending_reviews(session, user)]
    names = usernames(
        session,
        {str(r.requester_id) for r in pending} | {v.uploaded_by for v in versions if v.uploaded_by},
    )
    return render(
        request,
        "governance/queue.html",
        {
            "pending": pending,
            "versions": versions,
            "projects": projects,
            "names": names,
            "me": str(user.id),
        },
    )


@router.get("/web/governance/versions/{name}/{number}/review", name="web.governance.version")
def version_sample(
    *, name: str, number: PathId, request: Request, session: DbSession, trail: Trail, user: Officer
) -> Response:
    """The sampled scrubbed cells, tags highlighted; viewing is recorded and audited."""
    shown = version_review.show_sample(session, trail, user, dataset=name, number=number)
    summary = review_out(shown.review)
    names = usernames(session, (x for x in (summary.uploaded_by, summary.decided_by) if x))
    return render(
        request,
        "governance/version_review.html",
        {"shown": shown, "review": summary, "names": names},
    )


@router.post(
    "/web/governance/versions/{name}/{number}/decision", name="web.governance.version_decision"
)
def version_decision(
    *,
    name: str,
    number: PathId,
    session: DbSession,
    trail: Trail,
    user: Officer,
    form: DecisionForm,
    sample_view: Annotated[str | None, Form(max_length=100)] = None,
) -> Response:
    chosen = version_review.VersionDecision(name, number, form.approve, form.reason, sample_view)
    version_review.decide(session, trail, user, chosen, now=utcnow())
    return redirect(f"/web/governance/queue?notice=version_{form.past}")


@router.post("/web/governance/requests/{request_id}/review", name="web.governance.review")
def review(
    *,
    request_id: PathId,
    request: Request,
    session: DbSession,
    trail: Trail,
    user: Officer,
    form: DecisionForm,
) -> Response:
    service.review_request(
        session,
        trail,
        request.app.state.access_policy,
        user,
        request_id=request_id,
        approve=form.approve,
        reason=form.reason,
        now=utcnow(),
    )
    return redirect(f"/web/governance/queue?notice={form.past}")


@router.get("/web/governance/access", name="web.governance.access")
def access(request: Request, session: DbSession, user: Officer) -> Response:
    policy = request.app.state.access_policy
    now = utcnow()
    projects = {p.id: p.title for p in service.list_projects(session, policy, user, now)}
    every = (grant_out(g, now) for g in grants.list_grants(session, policy, user, now))
    live = sorted((g for g in every if g.active), key=lambda g: g.expires_at)
    expiring = [g for g in live if g.expires_at - now <= EXPIRING_WITHIN]
    return render(
        request,
        "governance/access.html",
        {
            "live": live,
            "expiring": expiring,
            "projects": projects,
            "now": now,
            "days": EXPIRING_WITHIN.days,
        },
    )


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    day = datetime.fromisoformat(value).date()
    moment = datetime.combine(day, time(0)).replace(tzinfo=utcnow().tzinfo)
    return moment + timedelta(days=1) if end else moment


@router.get("/web/governance/audit", name="web.governance.audit")
def audit_trail(
    *,
    request: Request,
    session: DbSession,
    trail: Trail,
    user: Officer,
    action: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[Literal["success", "denied", "failed", ""] | None, Query()] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
    until: Annotated[str | None, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = None,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ)] = 0,
) -> Response:
    if since is None and until is None:
        since = (utcnow() - timedelta(days=7)).date().isoformat()
    actor_id = actor or None
    if actor_id and not _looks_like_id(actor_id):
        found = find_user(session, actor_id)
        actor_id = str(found.id) if found is not None else actor_id
    flt = queries.EventFilter(
        actor_id=actor_id,
        action=action or None,
        target_type=target_type or None,
        target_id=target_id or None,
        outcome=outcome or None,
        since=_day(since),
        until=_day(until, end=True),
    )
    page = page_out(
        *audit_review.view_page(session, trail, flt, after=after, limit=AUDIT_PAGE_SIZE)
    )
    names = usernames(session, (e.actor_id for e in page.events if e.actor_id))
    chart = charts.timeline((e.occurred_at, e.outcome) for e in page.events)
    filters = {
        "action": action or "",
        "outcome": outcome or "",
        "actor": actor or "",
        "target_type": target_type or "",
        "target_id": target_id or "",
        "since": since or "",
        "until": until or "",
    }
    return render(
        request,
        "governance/audit.html",
        {
            "events": list(reversed(page.events)),
            "next_cursor": page.next_cursor,
            "names": names,
            "chart": chart,
            "filters": filters,
            "query": urlencode({k: v for k, v in filters.items() if v}),
        },
    )


def _looks_like_id(value: str) -> bool:
    if value.startswith("os:"):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@router.get("/web/governance/integrity", name="web.governance.integrity")
def integrity_page(request: Request, session: DbSession, trail: Trail, _: Officer) -> Response:
    state = request.app.state
    scope = VerifyScope.configured(state.settings, state.keystore)
    result = integrity.verify(session, trail, scope)
    return render(
        request,
        "governance/integrity.html",
        {"result": result, "checkpoint": latest_checkpoint(session)},
    )


@router.post("/web/governance/checkpoints", name="web.governance.checkpoint")
def checkpoint(request: Request, session: DbSession, trail: Trail, _: Officer) -> Response:
    publisher = CheckpointPublisher.from_settings(request.app.state.settings)
    integrity.checkpoint(session, trail, request.app.state.keystore, publisher)
    return redirect("/web/governance/integrity?notice=checkpoint")
