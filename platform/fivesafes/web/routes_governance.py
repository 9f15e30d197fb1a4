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
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fivesafes.access import grants, service
from fivesafes.access.acting import Acting
from fivesafes.access.models import RequestState
from fivesafes.access.views import grant_out, request_out
from fivesafes.audit import integrity, queries
from fivesafes.audit import review as audit_review
from fivesafes.audit.checkpoints import latest_checkpoint
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.schemas import page_out
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.verification import VerifyScope
from fivesafes.closeout.status import overdue_projects
from fivesafes.datasets import review as version_review
from fivesafes.datasets.review_schemas import review_out
from fivesafes.db import utcnow
from fivesafes.errors import InvalidInputError
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.errors import audit_refusal
from fivesafes.httpkit.params import MAX_SEQ, PathId
from fivesafes.httpkit.previews import previewer
from fivesafes.identity.directory import usernames
from fivesafes.identity.models import Role, User
from fivesafes.identity.passwords import find_user
from fivesafes.release import preview, withdrawal
from fivesafes.release.preview import Previewer
from fivesafes.release.preview_views import PreviewOut, preview_out
from fivesafes.web import charts
from fivesafes.web.rendering import WebRoute, redirect, render
from fivesafes.web.withdraw_form import withdraw_from_form

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
def queue(request: Request, session: DbSession, trail: Trail, user: Officer) -> Response:
    """Versions and requests waiting for review; each request with its disclosure preview
    (computed now, audited as ``release.preview``) and, when its release would be refused,
    the override reason an approval needs."""
    policy = request.app.state.access_policy
    now = utcnow()
    pending = [
        request_out(policy, r)
        for r in service.list_requests(session, policy, user, now, state=RequestState.PENDING)
    ]
    previewing = previewer(request, Acting(session, trail, policy, user, now))
    previews = {r.id: _card_preview(previewing, r.id) for r in pending}
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
            "previews": previews,
            "versions": versions,
            "projects": projects,
            "names": names,
            "me": str(user.id),
            # Close-out: closing projects whose attestations are overdue (docs/closeout.md).
            "overdue": overdue_projects(
                session, now, request.app.state.settings.closeout_attestation_days
            ),
        },
    )


@dataclass(frozen=True, slots=True)
class CardPreview:
    """What a request's card shows of its disclosure preview."""

    preview: PreviewOut | None
    problem: str | None  # why there is no preview
    override_needed: bool


def _card_preview(previewing: Previewer, request_id: int) -> CardPreview:
    attempt = preview.attempt_preview(previewing, request_id=request_id)
    shown = preview_out(attempt.preview) if attempt.preview is not None else None
    return CardPreview(shown, attempt.problem, attempt.override_needed)


@router.get("/web/governance/versions/{name}/{number}/review", name="web.governance.version")
def version_sample(
    *, name: str, number: PathId, request: Request, session: DbSession, trail: Trail, user: Officer
) -> Response:
    """The sampled scrubbed cells, tags highlighted; viewing is recorded and audited."""
    return _version_page(request, session, trail, user, name, number)


def _version_page(
    request: Request,
    session: Session,
    trail: AuditTrail,
    user: User,
    name: str,
    number: int,
    *,
    withdraw_errors: list[str] | None = None,
    withdraw_reason: str = "",
    status: int = 200,
) -> Response:
    """The review page of a version, with its withdrawal (or the form to withdraw it)."""
    shown = version_review.show_sample(session, trail, user, dataset=name, number=number)
    summary = review_out(shown.review)
    version = shown.review.version
    names = usernames(session, (x for x in (summary.uploaded_by, summary.decided_by) if x))
    offered = withdrawal.may_withdraw(
        session, request.app.state.access_policy, user, name, number, utcnow()
    )
    return render(
        request,
        "governance/version_review.html",
        {
            "shown": shown,
            "review": summary,
            "names": names,
            "version_label": f"{name} version {number}",
            "withdrawal": version,
            "withdraw_action": (
                f"/web/governance/versions/{quote(name, safe='')}/{number}/withdraw"
                if offered
                else None
            ),
            "withdraw_errors": withdraw_errors or [],
            "withdraw_reason": withdraw_reason,
        },
        status,
    )


@router.post(
    "/web/governance/versions/{name}/{number}/withdraw", name="web.governance.version_withdraw"
)
def version_withdraw(
    *,
    name: str,
    number: PathId,
    request: Request,
    session: DbSession,
    trail: Trail,
    user: Officer,
    reason: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Withdraw the version with a reason; a missing reason or a version already
    withdrawn is shown on the review page, with what was typed."""

    def show_again(errors: list[str], typed: str, status: int) -> Response:
        return _version_page(
            request,
            session,
            trail,
            user,
            name,
            number,
            withdraw_errors=errors,
            withdraw_reason=typed,
            status=status,
        )

    done = f"/web/governance/versions/{quote(name, safe='')}/{number}/review"
    return withdraw_from_form(
        request, session, trail, user, (name, number), reason, done=done, show_again=show_again
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
    override_reason: Annotated[str | None, Form(max_length=5000)] = None,
) -> Response:
    """Approve or reject; an approval takes the disclosure preview again, and one whose
    release would be refused needs the override reason (a 422 page naming it, without)."""
    acting = Acting(session, trail, request.app.state.access_policy, user, utcnow())
    choice = service.ReviewChoice(form.approve, form.reason, override_reason)
    preview.review_with_preview(previewer(request, acting), request_id=request_id, choice=choice)
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


def _day(label: str, value: str | None, *, end: bool = False) -> datetime | None:
    """A date of the audit filter as the UTC instant it starts (``end``: the next day's
    start, so the day itself is included; none after the last representable day)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"{label}: {value} is not a date (day, month and year: YYYY-MM-DD)",
            code="invalid_filter",
        ) from None
    if end and day == date.max:
        return None
    return datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=UTC)


def _audit_filter(session: Session, filters: dict[str, str]) -> queries.EventFilter:
    """The page's filter form as the trail's filter: an actor given by username is looked
    up (an unknown one matches nothing); dates are whole UTC days, the "to" day included."""
    actor_id = filters["actor"] or None
    if actor_id and not _looks_like_id(actor_id):
        found = find_user(session, actor_id)
        actor_id = str(found.id) if found is not None else actor_id
    since = _day("From (date)", filters["since"])
    until = _day("To (date)", filters["until"], end=True)
    if since is not None and until is not None and until <= since:
        raise InvalidInputError(
            "To (date) is before From (date): no event could match", code="invalid_filter"
        )
    return queries.EventFilter(
        actor_id=actor_id,
        action=filters["action"] or None,
        target_type=filters["target_type"] or None,
        target_id=filters["target_id"] or None,
        outcome=filters["outcome"] or None,
        since=since,
        until=until,
    )


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
    before: Annotated[int | None, Query(ge=1, le=MAX_SEQ)] = None,
) -> Response:
    """The matching events newest first (older pages by the ``before`` cursor), the
    timeline of every matching event over the filter's window, and a link to the same
    events as CSV. Without dates the page shows the last seven days."""
    if since is None and until is None:
        since = (utcnow() - timedelta(days=7)).date().isoformat()
    filters = {
        "action": action or "",
        "outcome": outcome or "",
        "actor": actor or "",
        "target_type": target_type or "",
        "target_id": target_id or "",
        "since": since or "",
        "until": until or "",
    }
    context: dict[str, object] = {"filters": filters, "errors": []}
    try:
        flt = _audit_filter(session, filters)
    except InvalidInputError as exc:
        session.rollback()  # the refusal is recorded in a transaction of its own
        audit_refusal(request, 422, exc.code, {"fields": ["since", "until"]})
        context |= {"errors": [exc.message], "events": [], "chart": charts.timeline(None)}
        context["csv_url"] = None
        return render(request, "governance/audit.html", context, 422)
    shown = audit_review.view_page(
        session,
        trail,
        flt,
        usernames,
        audit_review.PageRequest(AUDIT_PAGE_SIZE, newest_first=True, before=before),
    )
    context |= {
        "events": page_out(shown).events,
        "names": shown.names,
        "next_cursor": shown.next_cursor,
        "page_size": AUDIT_PAGE_SIZE,
        "chart": charts.timeline(audit_review.timeline(session, flt)),
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "csv_url": f"/audit/events.csv?{urlencode(flt.as_query())}".rstrip("?"),
    }
    return render(request, "governance/audit.html", context)


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
