"""Authorisation for the routes: one dependency, :func:`permit`, for every access action.

It loads the target named by the path, asks ``decide`` and refuses with 403 naming the
rule; the route name is the action, so a refusal is audited under it. The API and the
web pages both declare their permits through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from fivesafes.access import grants
from fivesafes.access.acting import Acting
from fivesafes.access.decide import Decision
from fivesafes.access.facts import Target, authorize, load_target
from fivesafes.access.models import Grant
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import CurrentUser, DbSession, Trail
from fivesafes.httpkit.params import PathId
from fivesafes.identity.models import User
from fivesafes.release import withdrawal


@dataclass(frozen=True, slots=True)
class Permit(Acting):
    """What an allowed request carries into its route: who acts, in which transaction,
    under which policy and when (:class:`Acting`), and the target and decision allowed."""

    target: Target
    decision: Decision


def access_policy(request: Request) -> AccessPolicy:
    policy: AccessPolicy = request.app.state.access_policy
    return policy


Policy = Annotated[AccessPolicy, Depends(access_policy)]


@dataclass(frozen=True, slots=True)
class _Context:
    """What every permit is decided from: one dependency, so the four shapes of
    :func:`permit` below differ only in the id they read from the path."""

    session: Session
    user: User
    policy: AccessPolicy
    trail: AuditTrail


def _context(session: DbSession, user: CurrentUser, policy: Policy, trail: Trail) -> _Context:
    return _Context(session, user, policy, trail)


Context = Annotated[_Context, Depends(_context)]


def permit(action: Action, on: str | None = None) -> Any:
    """The dependency deciding ``action`` on the project, request or grant in the path."""

    def _decide(context: _Context, **ids: int) -> Permit:
        now = utcnow()
        target = load_target(context.session, lock=False, **ids)
        decision = authorize(context.policy, context.user, action, target, now)
        return Permit(
            context.session, context.trail, context.policy, context.user, now, target, decision
        )

    dependency: Callable[..., Permit]
    if on == "project":

        def dependency(project_id: PathId, context: Context) -> Permit:
            return _decide(context, project_id=project_id)

    elif on == "request":

        def dependency(request_id: PathId, context: Context) -> Permit:
            return _decide(context, request_id=request_id)

    elif on == "grant":

        def dependency(grant_id: PathId, context: Context) -> Permit:
            return _decide(context, grant_id=grant_id)

    else:

        def dependency(context: Context) -> Permit:
            return _decide(context)

    return Depends(dependency)


def version_permit(action: Action) -> Any:
    """The dependency deciding ``action`` on the dataset version in the path
    (``/datasets/{name}/versions/{number}/...``): who uploaded it, whether data left it."""

    def dependency(name: str, number: PathId, context: Context) -> Permit:
        now = utcnow()
        target = withdrawal.version_target(context.session, name, number)
        decision = authorize(context.policy, context.user, action, target, now)
        return Permit(
            context.session, context.trail, context.policy, context.user, now, target, decision
        )

    return Depends(dependency)


def active_grant(
    grant_id: PathId, session: DbSession, user: CurrentUser, trail: Trail, policy: Policy
) -> Grant:
    """For data routes (release): the grant if the caller may use it now, else 403.

    The first use after expiry writes ``grant.expired``; the refusal says it keeps that
    audit (``keeps_audit``), so the request's transaction (``DbSession``) commits it.
    """
    return grants.active_grant_for(session, grant_id, user, utcnow(), policy=policy, trail=trail)


ActiveGrant = Annotated[Grant, Depends(active_grant)]
