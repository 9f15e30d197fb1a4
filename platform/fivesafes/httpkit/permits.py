"""Authorisation for the routes: one dependency, :func:`permit`, for every access action.

It loads the target named by the path, asks ``decide`` and refuses with 403 naming the
rule; the route name is the action, so a refusal is audited under it. The API and the
web pages both declare their permits through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from fivesafes.access import grants
from fivesafes.access.decide import Decision
from fivesafes.access.facts import Target, authorize, load_target
from fivesafes.access.models import Grant
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import CurrentUser, DbSession, Trail
from fivesafes.httpkit.params import PathId
from fivesafes.identity.models import User


@dataclass(frozen=True, slots=True)
class Permit:
    """What an allowed request carries into its route."""

    user: User
    policy: AccessPolicy
    target: Target
    decision: Decision
    now: datetime


def access_policy(request: Request) -> AccessPolicy:
    policy: AccessPolicy = request.app.state.access_policy
    return policy


Policy = Annotated[AccessPolicy, Depends(access_policy)]


def permit(action: Action, on: str | None = None) -> Any:
    """The dependency deciding ``action`` on the project, request or grant in the path."""

    def _decide(
        session: Session,
        user: User,
        policy: AccessPolicy,
        *,
        project_id: int | None = None,
        request_id: int | None = None,
        grant_id: int | None = None,
    ) -> Permit:
        now = utcnow()
        target = load_target(
            session, project_id=project_id, request_id=request_id, grant_id=grant_id
        )
        decision = authorize(policy, user, action, target, now)
        return Permit(user, policy, target, decision, now)

    dependency: Callable[..., Permit]
    if on == "project":

        def dependency(
            project_id: PathId, session: DbSession, user: CurrentUser, policy: Policy
        ) -> Permit:
            return _decide(session, user, policy, project_id=project_id)

    elif on == "request":

        def dependency(
            request_id: PathId, session: DbSession, user: CurrentUser, policy: Policy
        ) -> Permit:
            return _decide(session, user, policy, request_id=request_id)

    elif on == "grant":

        def dependency(
            grant_id: PathId, session: DbSession, user: CurrentUser, policy: Policy
        ) -> Permit:
            return _decide(session, user, policy, grant_id=grant_id)

    else:

        def dependency(session: DbSession, user: CurrentUser, policy: Policy) -> Permit:
            return _decide(session, user, policy)

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
