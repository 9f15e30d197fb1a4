"""Projects and grants as governance sets them up: created, requested, approved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.access import service as access
from fivesafes.access.models import Grant
from fivesafes.access.policy import AccessPolicy
from fivesafes.access.schemas import RequestIn
from fivesafes.identity.models import User
from tests.integration.access.helpers import TRAIL

APPROVAL_REASON = "Matches the protocol."


def approve(
    session: Session, policy: AccessPolicy, officer: User, request_id: int, now: datetime
) -> int:
    """``officer`` approves request ``request_id``; the id of the grant that makes."""
    access.review_request(
        session,
        TRAIL,
        policy,
        session.merge(officer),
        request_id=request_id,
        approve=True,
        reason=APPROVAL_REASON,
        now=now,
    )
    session.flush()
    grant = session.scalar(select(Grant).where(Grant.request_id == request_id))
    assert grant is not None
    return grant.id


def approved_grant(
    session: Session,
    policy: AccessPolicy,
    requester: User,
    officer: User,
    project_id: int,
    body: RequestIn,
    now: datetime,
) -> int:
    """``requester`` asks for ``body`` on ``project_id`` and ``officer`` approves it."""
    request = access.create_request(
        session,
        TRAIL,
        policy,
        session.merge(requester),
        project_id=project_id,
        body=body,
        now=now,
    )
    return approve(session, policy, officer, request.id, now)
