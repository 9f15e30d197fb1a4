"""Grants in use: listing, revoking, the per-call check release relies on, explanations.

:func:`active_grant_for` is what every data call (issue 7's downloads) asks first. It
reads the grant, its project and the membership afresh on each call (nothing cached), so
an expiry, a revocation, an ended project or a removed member takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from fivesafes.access.decide import GRANT_EXPIRED, Decision, decide, grant_refusal
from fivesafes.access.facts import (
    Target,
    authorize,
    authorized_target,
    grant_facts,
    load_target,
    project_facts,
    subject_of,
)
from fivesafes.access.models import AccessRequest, Grant, Project
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from fivesafes.identity.models import User

# What deciding on and showing a listed grant reads, loaded with the list.
_GRANT_SHOWN = (
    joinedload(Grant.dataset),
    joinedload(Grant.project).selectinload(Project.members),
    joinedload(Grant.request).selectinload(AccessRequest.reviews),
)


class GrantUnavailableError(PermissionDeniedError):
    """A grant that may not be used now (expired, revoked, project ended, not a member).

    ``keeps_audit`` is true when this call wrote the one-off ``grant.expired`` event
    into the session (and nothing else): the transaction's owner commits instead of
    rolling back (:func:`fivesafes.db.keeps_audit`), so the event survives the refusal.
    """

    def __init__(self, decision: Decision, *, keeps_audit: bool = False) -> None:
        super().__init__(
            f"{decision.reason} (rule: {decision.rule})", code=f"denied_{decision.rule}"
        )
        self.decision = decision
        self.keeps_audit = keeps_audit


def active_grant_for(
    session: Session,
    grant_id: int,
    user: User,
    now: datetime,
    *,
    policy: AccessPolicy,
    trail: AuditTrail | None = None,
) -> Grant:
    """The grant, if ``user`` may use it at ``now``; else :class:`GrantUnavailableError`.

    Checked through ``decide(grant.use)``: the user is active, holds ``grant.use``, is a
    member of the grant's project; the project is active and within its dates; the grant
    is neither revoked nor expired. The first use after expiry records ``grant.expired``.
    """
    target = load_target(session, grant_id=grant_id)
    grant = target.loaded_grant
    decision = decide(subject_of(user), Action.GRANT_USE, target.resource, policy, now)
    if decision.allowed:
        return grant
    if decision.rule == GRANT_EXPIRED and trail is not None and grant.expiry_recorded_at is None:
        grant.expiry_recorded_at = now
        session.flush()
        trail.record(
            session,
            "grant.expired",
            target_type="grant",
            target_id=str(grant.id),
            details={
                "project_id": grant.project_id,
                "expires_at": grant.expires_at.isoformat(),
                "user_id": str(user.id),
            },
        )
        raise GrantUnavailableError(decision, keeps_audit=True)
    raise GrantUnavailableError(decision)


def grant_is_live(grant: Grant, now: datetime) -> bool:
    """Whether the grant itself could be used now, whoever asks: ``decide``'s own rule."""
    return grant_refusal(grant_facts(grant), project_facts(grant.project), now) is None


def list_grants(
    session: Session,
    policy: AccessPolicy,
    actor: User,
    now: datetime,
    *,
    project_id: int | None = None,
) -> list[Grant]:
    """The grants ``actor`` may view (each one passed ``decide(grant.view)``)."""
    authorize(policy, actor, Action.GRANT_LIST, Target(), now)
    query = select(Grant).order_by(Grant.id).options(*_GRANT_SHOWN)
    if project_id is not None:
        query = query.where(Grant.project_id == project_id)
    subject = subject_of(actor)
    return [
        g
        for g in session.scalars(query)
        if decide(
            subject, Action.GRANT_VIEW, Target(g.project, g.request, g).resource, policy, now
        ).allowed
    ]


def revoke_grant(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    *,
    grant_id: int,
    reason: str,
    now: datetime,
) -> Grant:
    """Revoke with immediate effect (the next data call is refused). Idempotent."""
    target = authorized_target(session, policy, actor, Action.GRANT_REVOKE, now, grant_id=grant_id)
    grant = target.loaded_grant
    if grant.revoked_at is None:
        grant.revoked_at, grant.revoked_by, grant.revoke_reason = now, actor.id, reason
        session.flush()
        trail.record(
            session,
            "grant.revoke",
            target_type="grant",
            target_id=str(grant.id),
            details={"project_id": grant.project_id, "request_id": grant.request_id},
        )
    return grant


@dataclass(frozen=True, slots=True)
class ExplainQuery:
    """Whose permission to do what is asked about, and on which project, request or grant
    (at most one: a grant implies its request and project)."""

    username: str
    action: Action
    project_id: int | None = None
    request_id: int | None = None
    grant_id: int | None = None


def explain(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    actor: User,
    query: ExplainQuery,
    *,
    now: datetime,
) -> Decision:
    """Why ``query.username`` may or may not do ``query.action`` (to the target named)."""
    authorize(policy, actor, Action.ACCESS_EXPLAIN, Target(), now)
    ids = {
        "project_id": query.project_id,
        "request_id": query.request_id,
        "grant_id": query.grant_id,
    }
    if sum(x is not None for x in ids.values()) > 1:
        raise InvalidInputError(
            "name at most one of project, request and grant (a grant implies its project)",
            code="ambiguous_target",
        )
    subject = session.scalar(select(User).where(User.username == query.username))
    if subject is None:
        raise NotFoundError(f"no user {query.username!r}", code="user_not_found")
    target = load_target(
        session, project_id=query.project_id, request_id=query.request_id, grant_id=query.grant_id
    )
    decision = decide(subject_of(subject), query.action, target.resource, policy, now)
    trail.record(
        session,
        "access.explain",
        target_type="user",
        target_id=str(subject.id),
        details={
            "action": query.action.value,
            **ids,
            "allowed": decision.allowed,
            "rule": decision.rule,
        },
    )
    return decision
